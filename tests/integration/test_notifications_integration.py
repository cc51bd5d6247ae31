"""The notifications family end to end (issue 17): a flow written with Kestra's type names
whose ``errors`` branch sends a SlackExecution summary, run by real Celery workers, posting
to an HTTP server of the test's own on 127.0.0.1.

The notification runs on a worker of its own (worker group ``notify``) whose environment
opens loopback to the HTTP guard (``TRELLIS_HTTP_ALLOW``): the session's shared fleet keeps
the default policy, under which the same request would be refused."""

from __future__ import annotations

import pytest

from executions.models import TaskRun
from kernel.states import State
from tests.integration.harness import loopback_worker
from tests.integration.runs import log_messages, run_source
from tests.unit.plugins_notifications.helpers import recording_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FLOW = """
id: nightly-load
namespace: it.notify
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the load broke
errors:
  - id: alert
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{url}/services/T000/B000/webhooksecret"
    channel: "#ops"
    customMessage: "Nightly load of {{{{ flow.id }}}} failed"
    customFields:
      Env: test
    workerGroup:
      key: notify
"""


def test_an_errors_branch_posts_the_failed_execution_to_slack(workers, tmp_path) -> None:
    with (
        loopback_worker(tmp_path, "notify", TRELLIS_URL="https://trellis.example.test"),
        recording_server() as server,
    ):
        done = run_source(FLOW.format(url=server.url), timeout=60, inputs={})
        requests = list(server.requests)

    assert done.state == State.FAILED
    runs = {r.task_id: r.state for r in TaskRun.objects.filter(execution=done)}
    assert runs == {"boom": State.FAILED, "alert": State.SUCCESS}
    (sent,) = requests
    assert sent.path == "/services/T000/B000/webhooksecret"
    body = sent.json()
    link = f"https://trellis.example.test/admin/executions/execution/{done.id}/change/"
    # In the errors branch the execution is still running; the failed task is named.
    assert body["text"].startswith(f"*<{link}|[it.notify] nightly-load ➛ RUNNING>*\n")
    assert "> Failed on task `boom` after " in body["text"]
    assert body["channel"] == "#ops"
    assert body["blocks"][0]["text"]["text"] == "Nightly load of nightly-load failed"
    assert body["blocks"][1]["accessory"]["url"] == link
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields == {"Namespace": "it.notify", "Job": "nightly-load", "Execution": done.id,
                      "Status": "RUNNING", "Env": "test"}  # fmt: skip
    logs = log_messages(done)
    assert any("Sent a Slack message to http://127.0.0.1:" in m for m in logs)
    assert not any("webhooksecret" in m for m in logs)
