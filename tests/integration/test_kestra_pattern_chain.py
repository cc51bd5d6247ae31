"""Kestra's most common pattern, unchanged, on real workers (issue 17): a PostgreSQL query
stores its rows (fetchType STORE), IonToCsv turns them into a CSV file, S3 Upload puts it in
a bucket, and the flow's ``errors`` branch posts a SlackExecution summary when any of it
fails. The flow holds Kestra's type names and properties only.

One flow, two executions: the bucket is an input, so the first run (an existing bucket)
succeeds and Slack hears nothing, the second (a bucket that does not exist) fails in the
upload and Slack receives the summary naming that execution. The S3 server (moto) and the
Slack webhook are servers of the test on 127.0.0.1, reached by a worker of its own
(worker group ``chain``) whose HTTP guard allows loopback."""

from __future__ import annotations

import uuid

import pytest

from executions.models import TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from tests.file_servers import s3_server
from tests.integration.harness import loopback_worker
from tests.integration.runs import log_messages
from tests.unit.plugins_notifications.helpers import recording_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Written as in Kestra's documentation; ``{schema}``, ``{endpoint}`` and ``{slack}`` are
#: filled by the test (doubled braces are the flow's own expressions).
FLOW = """
id: orders-export
namespace: it.chain
inputs:
  - id: bucket
    type: STRING
tasks:
  - id: query
    type: io.kestra.plugin.jdbc.postgresql.Query
    url: jdbc:postgresql://127.0.0.1:5432/postgres?currentSchema={schema}
    username: postgres
    sql: SELECT id, total FROM orders ORDER BY id
    fetchType: STORE
  - id: to_csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{{{ outputs.query.uri }}}}"
  - id: upload
    type: io.kestra.plugin.aws.s3.Upload
    accessKeyId: chain-key
    secretKeyId: chain-secret
    region: us-east-1
    endpointOverride: {endpoint}
    bucket: "{{{{ inputs.bucket }}}}"
    from: "{{{{ outputs.to_csv.uri }}}}"
    key: "exports/{{{{ execution.id }}}}/orders.csv"
    workerGroup:
      key: chain
errors:
  - id: slack
    type: io.kestra.plugin.notifications.slack.SlackExecution
    url: "{slack}/services/T000/B000/chainhook"
    channel: "#data"
    customMessage: "Export of {{{{ flow.id }}}} failed"
    workerGroup:
      key: chain
"""


def test_query_store_to_csv_to_s3_with_slack_on_failure(workers, pg_schema, tmp_path) -> None:
    pytest.importorskip("amazon.ion")
    with (
        s3_server() as endpoint,
        recording_server() as slack,
        loopback_worker(tmp_path, "chain"),
    ):
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")  # fmt: skip
        bucket = f"chain-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        source = FLOW.format(schema=pg_schema, endpoint=endpoint, slack=slack.url)
        flow = flow_deploy(source=source).flow

        good = execution_wait(execution_create(flow=flow, inputs={"bucket": bucket}).id, timeout=90)
        after_good = list(slack.requests)
        stored = s3.get_object(Bucket=bucket, Key=f"exports/{good.id}/orders.csv")
        csv_text = stored["Body"].read().decode()

        missing = f"chain-missing-{uuid.uuid4().hex[:10]}"
        bad = execution_wait(execution_create(flow=flow, inputs={"bucket": missing}).id, timeout=90)
        after_bad = list(slack.requests)

    # The run that succeeds: the query's rows, header first, in the bucket; Slack is quiet.
    assert good.state == State.SUCCESS, good.state
    runs = {r.task_id: r.state for r in TaskRun.objects.filter(execution=good)}
    assert runs == {"query": State.SUCCESS, "to_csv": State.SUCCESS, "upload": State.SUCCESS}
    assert csv_text == "id,total\n1,9.99\n2,20.00\n3,0.50\n"
    assert after_good == []

    # The run that fails in the upload: the errors branch tells Slack which execution.
    assert bad.state == State.FAILED, bad.state
    runs = {r.task_id: r.state for r in TaskRun.objects.filter(execution=bad)}
    assert runs == {
        "query": State.SUCCESS,
        "to_csv": State.SUCCESS,
        "upload": State.FAILED,
        "slack": State.SUCCESS,
    }
    (sent,) = after_bad
    assert sent.path == "/services/T000/B000/chainhook"
    body = sent.json()
    assert body["channel"] == "#data"
    assert body["text"].startswith("*[it.chain] orders-export ➛ RUNNING*\n")  # errors branch
    assert "> Failed on task `upload` after " in body["text"]
    assert body["blocks"][0]["text"]["text"] == "Export of orders-export failed"
    fields = {f["title"]: f["value"] for f in body["attachments"][0]["fields"]}
    assert fields == {"Namespace": "it.chain", "Job": "orders-export", "Execution": bad.id,
                      "Status": "RUNNING"}  # fmt: skip

    logs = " ".join(log_messages(bad))
    assert missing in logs  # the upload says which bucket it could not write
    assert "chain-secret" not in logs
    assert "chainhook" not in logs
