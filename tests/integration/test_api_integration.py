"""The execution API against real workers: run and wait, FILE inputs, kill, follow."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from executions.models import Execution, TaskRun
from flows.services import flow_deploy
from kernel.states import State
from tests.db.api_support import writer
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "it-api"))
    return client


def sse_events(chunks) -> list[tuple[str, dict]]:
    events = []
    for frame in b"".join(chunks).decode().split("\n\n"):
        lines = [ln for ln in frame.splitlines() if ln and not ln.startswith(":")]
        if lines:
            name = next(ln[7:] for ln in lines if ln.startswith("event: "))
            data = "\n".join(ln[6:] for ln in lines if ln.startswith("data: "))
            events.append((name, json.loads(data)))
    return events


def test_run_and_wait_answers_success_with_outputs(workers, api) -> None:
    flow_deploy(
        source="""
id: api-wait
namespace: it.api
inputs:
  - id: n
    type: INT
tasks:
  - id: double
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n * 2 }}"
outputs:
  - id: doubled
    type: STRING
    value: "{{ outputs.double.value }}"
"""
    )

    response = api.post(
        "/api/v1/executions/it.api/api-wait?wait=true&labels=via:api",
        {"n": "21"},
        format="multipart",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"]["current"] == "SUCCESS"
    assert body["outputs"] == {"doubled": "42"}
    assert {"key": "via", "value": "api"} in body["labels"]
    [task_run] = body["taskRunList"]
    assert task_run["outputs"] == {"value": "42"}
    assert task_run["attempts"][0]["state"]["current"] == "SUCCESS"


def test_file_input_is_uploaded_read_by_a_task_and_downloadable(workers, api) -> None:
    flow_deploy(
        source="""
id: api-file
namespace: it.api
inputs:
  - id: doc
    type: FILE
tasks:
  - id: read
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.doc) }}"
"""
    )
    upload = SimpleUploadedFile("hello.txt", b"hello from a file", content_type="text/plain")

    response = api.post(
        "/api/v1/executions/it.api/api-file?wait=true", {"doc": upload}, format="multipart"
    )

    body = response.json()
    assert body["state"]["current"] == "SUCCESS", body
    assert body["taskRunList"][0]["outputs"] == {"value": "hello from a file"}
    download = api.get(f"/api/v1/executions/{body['id']}/file", {"path": body["inputs"]["doc"]})
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello from a file"
    assert download["Content-Disposition"] == 'attachment; filename="hello.txt"'


def test_kill_through_the_api_ends_a_sleep_killed(workers, api) -> None:
    flow_deploy(
        source="""
id: api-kill
namespace: it.api
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
"""
    )
    execution_id = api.post("/api/v1/executions/it.api/api-kill", format="json").json()["id"]
    wait_for(lambda: TaskRun.objects.filter(execution_id=execution_id, state="RUNNING").exists())

    response = api.delete(f"/api/v1/executions/{execution_id}/kill")

    assert response.status_code == 202
    assert response.json()["state"]["current"] in ("KILLING", "KILLED")
    wait_for(lambda: Execution.objects.get(pk=execution_id).state == State.KILLED)
    assert api.get(f"/api/v1/executions/{execution_id}").json()["state"]["current"] == "KILLED"


def test_follow_streams_until_a_terminal_event(workers, api) -> None:
    flow_deploy(
        source="""
id: api-follow
namespace: it.api
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: one
  - id: second
    type: io.kestra.plugin.core.log.Log
    message: two
"""
    )
    execution_id = api.post("/api/v1/executions/it.api/api-follow", format="json").json()["id"]

    events = sse_events(api.get(f"/api/v1/executions/{execution_id}/follow").streaming_content)
    logs = sse_events(api.get(f"/api/v1/logs/{execution_id}/follow").streaming_content)

    names = [name for name, _ in events]
    assert names[-1] == "end"
    assert set(names[:-1]) == {"execution"}
    assert events[-2][1]["state"]["current"] == "SUCCESS"
    assert {"one", "two"} <= {data.get("message") for name, data in logs if name == "log"}
    assert logs[-1] == ("end", {"reason": "done"})
