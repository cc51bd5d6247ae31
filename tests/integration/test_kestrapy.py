"""Kestra's own Python client, kestrapy, drives a live Trellis server (issue 23).

Everything goes through ``KestraClient`` as a user's script would, with Kestra 1.x's
tenant-scoped paths (``/api/v1/main/...``): kestrapy parses each answer into its pydantic
models, so a route, a verb or a shape Trellis gets wrong fails here.
"""

from __future__ import annotations

import time

import pytest

kestrapy = pytest.importorskip("kestrapy", reason="kestrapy is a dev extra (pip install -e .[dev])")

from kestrapy import KestraClient  # noqa: E402
from kestrapy.exceptions import NotFoundException  # noqa: E402
from kestrapy.models import QueryFilter  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from orchestrator.api.tokens import token_create  # noqa: E402
from tests.db.api_support import writer  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TENANT = "main"
NS = "it.kestrapy"

FLOW = """
id: hello
namespace: it.kestrapy
inputs:
  - id: name
    type: STRING
  - id: doc
    type: FILE
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.name }}"
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.doc) }}"
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "written for {{ inputs.name }}"
    extension: .txt
"""

SLOW = """
id: slow
namespace: it.kestrapy
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT30S
"""

SCHEDULED = """
id: scheduled
namespace: it.kestrapy
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: tick
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
"""

TERMINAL = {"SUCCESS", "FAILED", "KILLED", "WARNING", "CANCELLED"}


def state_of(execution) -> str:  # noqa: ANN001
    current = execution.state.current
    return getattr(current, "value", current)


def wait_until_terminal(client: KestraClient, execution_id: str, timeout: float = 60.0):  # noqa: ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = client.executions.execution(execution_id, TENANT)
        if state_of(execution) in TERMINAL:
            return execution
        time.sleep(0.2)
    pytest.fail(f"execution {execution_id} did not end within {timeout}s")


@pytest.fixture(autouse=True)
def strict_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a response kestrapy's models refuse fail the test.

    kestrapy parses each answer with its pydantic model and, when the model refuses it,
    quietly builds the object field by field instead; that fallback would hide a shape
    Trellis gets wrong, so here it fails the test. One refusal is let through: the models
    require ``state.getEndDate`` even while a run has not ended, when Kestra itself
    answers null (and its clients fall back the same way).
    """
    lenient = kestrapy.base_api.BaseApi._construct_model

    def strict(data, model_type):  # noqa: ANN001, ANN202
        try:
            model_type.model_validate(data)
        except ValidationError as exc:
            refused = [
                e for e in exc.errors()
                if not (e["loc"] and e["loc"][-1] == "getEndDate" and e["input"] is None)
            ]  # fmt: skip
            if refused:
                pytest.fail(f"kestrapy's {model_type.__name__} refuses the response: {refused}")
        return lenient(data, model_type)

    monkeypatch.setattr(kestrapy.base_api.BaseApi, "_construct_model", staticmethod(strict))


@pytest.fixture
def client(live_server, django_user_model) -> KestraClient:
    user = writer(django_user_model, "kestrapy-user")
    return KestraClient(host=live_server.url, token=token_create(user=user).key, timeout=30)


def test_flows_create_get_update_search_delete(client: KestraClient) -> None:
    created = client.flows.create_flow(TENANT, FLOW)
    assert (created.namespace, created.id, created.revision) == (NS, "hello", 1)

    fetched = client.flows.flow(NS, "hello", TENANT, source=True)
    assert fetched.revision == 1
    assert "hello {{ inputs.name }}" in fetched.source

    updated = client.flows.update_flow(NS, "hello", TENANT, FLOW.replace("hello {{", "hi {{"))
    assert updated.revision == 2

    found = client.flows.search_flows(TENANT)
    assert [(f.namespace, f.id) for f in found.results] == [(NS, "hello")]
    assert found.total == 1
    by_namespace = client.flows.search_flows(
        TENANT, filters=[QueryFilter(field="namespace", operation="EQUALS", value=NS)]
    )
    assert [f.revision for f in by_namespace.results] == [2]
    elsewhere = client.flows.search_flows(
        TENANT, filters=[QueryFilter(field="namespace", operation="EQUALS", value="it.other")]
    )
    assert elsewhere.total == 0

    client.flows.delete_flow(NS, "hello", TENANT)
    with pytest.raises(NotFoundException):
        client.flows.flow(NS, "hello", TENANT)


def test_validate_a_flow_with_an_error(client: KestraClient) -> None:
    broken = FLOW.replace("type: io.kestra.plugin.core.log.Log", "type: no.such.Task")
    [violation] = client.flows.validate_flows(TENANT, broken)
    assert violation.index == 0
    assert "no.such.Task" in (violation.constraints or "")


def test_run_with_inputs_and_a_file_read_outputs_logs_and_files(workers, client) -> None:  # noqa: ANN001
    client.flows.create_flow(TENANT, FLOW)
    created = client.executions.create_execution(
        TENANT, NS, "hello", inputs={"name": "Ada", "doc": ("doc.txt", b"from a file")}
    )
    assert (created.namespace, created.flow_id) == (NS, "hello")

    followed_states = [state_of(e) for e in client.executions.follow_execution(created.id, TENANT)]
    assert followed_states[-1] == "SUCCESS"
    done = wait_until_terminal(client, created.id)
    assert state_of(done) == "SUCCESS"
    found = client.executions.search_executions(
        TENANT, filters=[QueryFilter(field="flowId", operation="EQUALS", value="hello")]
    )
    assert [e["id"] for e in found["results"]] == [done.id]
    runs = {run.task_id: run for run in done.task_run_list}
    assert set(runs) == {"greet", "read", "write"}
    assert all(getattr(run.state.current, "value", run.state.current) == "SUCCESS"
               for run in runs.values())  # fmt: skip
    with_outputs = client.outputs.task_outputs_information(done.id, TENANT)
    assert {info.task_id for info in with_outputs} == {"read", "write"}
    read = client.outputs.task_run_outputs(done.id, runs["read"].id, TENANT)
    assert read == {"value": "from a file"}
    uri = client.outputs.task_run_outputs(done.id, runs["write"].id, TENANT)["uri"]
    assert client.executions.download_file_from_execution(done.id, uri, TENANT) == (
        b"written for Ada"
    )
    assert client.executions.download_file_from_execution(done.id, done.inputs["doc"], TENANT) == (
        b"from a file"
    )

    followed = [entry.message for entry in client.logs.follow_logs_from_execution(done.id, TENANT)]
    assert "hello Ada" in followed
    listed = client.logs.list_logs_from_execution(done.id, TENANT)
    assert any(entry.message == "hello Ada" and entry.task_id == "greet" for entry in listed)


def test_kill_restart_and_replay(workers, client) -> None:  # noqa: ANN001
    client.flows.create_flow(TENANT, SLOW)
    started = client.executions.create_execution(TENANT, NS, "slow")
    deadline = time.monotonic() + 30
    while state_of(client.executions.execution(started.id, TENANT)) != "RUNNING":
        assert time.monotonic() < deadline, "the execution never started running"
        time.sleep(0.2)

    killed = client.executions.kill_execution(started.id, TENANT)
    assert killed.id == started.id
    assert state_of(wait_until_terminal(client, started.id)) == "KILLED"

    restarted = client.executions.restart_execution(started.id, TENANT)
    assert restarted.id == started.id
    assert state_of(restarted) not in TERMINAL
    client.executions.kill_execution(started.id, TENANT)
    wait_until_terminal(client, started.id)

    replayed = client.executions.replay_execution(started.id, TENANT)
    assert replayed.id != started.id
    assert replayed.original_id == started.id
    client.executions.kill_execution(replayed.id, TENANT)
    assert state_of(wait_until_terminal(client, replayed.id)) == "KILLED"


def test_kv_set_get_delete(client: KestraClient) -> None:
    client.kv.set_key_value(NS, "greeting", TENANT, '"hello"')
    client.kv.set_key_value(NS, "answer", TENANT, "42")
    detail = client.kv.key_value(NS, "greeting", TENANT)
    assert detail.value == "hello"
    assert getattr(detail.type, "value", detail.type) == "STRING"
    assert client.kv.key_value(NS, "answer", TENANT).value == 42

    assert client.kv.delete_key_value(NS, "greeting", TENANT) is True
    with pytest.raises(NotFoundException):
        client.kv.key_value(NS, "greeting", TENANT)


def test_namespace_file_upload_and_read(client: KestraClient) -> None:
    client.files.create_namespace_file(NS, "/scripts/hello.py", TENANT, b"print('hi')\n")
    assert client.files.file_content(NS, "/scripts/hello.py", TENANT) == b"print('hi')\n"
    listed = client.files.list_namespace_directory_files(NS, TENANT, path="/scripts")
    assert [f.file_name for f in listed] == ["hello.py"]


def test_triggers_list_disable_enable(client: KestraClient) -> None:
    client.flows.create_flow(TENANT, SCHEDULED)
    searched = client.triggers.search_triggers(
        TENANT, filters=[QueryFilter(field="namespace", operation="EQUALS", value=NS)]
    )
    assert [r["triggerContext"]["flowId"] for r in searched["results"]] == ["scheduled"]
    page = client.triggers.search_triggers_for_flow(TENANT, NS, "scheduled")
    [row] = page["results"]
    assert row["triggerContext"]["triggerId"] == "nightly"
    assert row["triggerContext"]["disabled"] is False

    target = {"namespace": NS, "flowId": "scheduled", "triggerId": "nightly"}
    client.triggers.disabled_triggers_by_ids(TENANT, {"triggers": [target], "disabled": True})
    [row] = client.triggers.search_triggers_for_flow(TENANT, NS, "scheduled")["results"]
    assert row["triggerContext"]["disabled"] is True

    client.triggers.disabled_triggers_by_ids(TENANT, {"triggers": [target], "disabled": False})
    [row] = client.triggers.search_triggers_for_flow(TENANT, NS, "scheduled")["results"]
    assert row["triggerContext"]["disabled"] is False


def test_basic_auth_and_an_unknown_tenant(live_server, django_user_model) -> None:
    writer(django_user_model, "basic-user", password="s3cret-pass")
    client = KestraClient(host=live_server.url, username="basic-user", password="s3cret-pass")
    assert client.flows.create_flow(TENANT, SCHEDULED).id == "scheduled"
    with pytest.raises(NotFoundException) as refused:
        client.flows.flow(NS, "scheduled", "acme")
    assert "tenant 'acme' does not exist" in refused.value.body
    wrong = KestraClient(host=live_server.url, username="basic-user", password="nope")
    with pytest.raises(kestrapy.exceptions.UnauthorizedException):
        wrong.flows.flow(NS, "scheduled", TENANT)
