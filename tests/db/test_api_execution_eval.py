"""``POST /api/v1/executions/{id}/eval/{taskRunId}``: an expression rendered in a task run's
context, as Kestra's debug-expression endpoint (its ExecutionControllerTest#eval cases)."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.db.api_support import grant, problem, writer

pytestmark = pytest.mark.django_db

FLOW = """
id: looped
namespace: t.eval
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [s1]
    tasks:
      - id: ret
        type: io.kestra.plugin.core.debug.Return
        format: "ret > {{ taskrun.value }}"
"""


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "u"))
    return client


@pytest.fixture
def ran():
    execution = execution_create(flow=flow_deploy(source=FLOW).flow)
    Execution.objects.filter(pk=execution.pk).update(state=State.SUCCESS)
    each = TaskRun.objects.create(execution=execution, task_id="each", state=State.SUCCESS, seq=1)
    ret = TaskRun.objects.create(
        execution=execution, task_id="ret", parent_id=each.id, value="s1", iteration=0,
        state=State.SUCCESS,
        seq=2, outputs={"value": "ret > s1"},
    )  # fmt: skip
    return execution, each, ret


def evaluate(api, execution, run, text: str):
    return api.post(
        f"/api/v1/executions/{execution.id}/eval/{run.id}", text, content_type="text/plain"
    )


def test_plain_text_and_the_task_runs_context(api, ran) -> None:
    execution, each, ret = ran

    assert evaluate(api, execution, each, "my simple string").json() == {
        "result": "my simple string", "error": None, "stackTrace": None,
    }  # fmt: skip
    assert evaluate(api, execution, each, "{{ taskrun.id }}").json()["result"] == each.id
    inside = evaluate(api, execution, ret, "{{ outputs['ret'][taskrun.value].value }}")
    assert inside.json()["result"] == "ret > s1", inside.json()


def test_a_rendering_error_is_the_results_error(api, ran) -> None:
    execution, _, ret = ran

    answer = evaluate(api, execution, ret, "{{ missing }}")

    assert answer.status_code == 200
    body = answer.json()
    assert body["result"] is None
    assert (
        "Unable to find `missing` used in the expression `{{ missing }}` at line 1" in body["error"]
    )


def test_secret_is_refused_and_a_secret_in_outputs_comes_back_masked(api, ran, monkeypatch):
    execution, each, ret = ran
    monkeypatch.setenv("SECRET_EVAL_PW", base64.b64encode(b"s3cr3t-value").decode())
    TaskRun.objects.filter(pk=ret.pk).update(outputs={"value": "pw is s3cr3t-value"})

    refused = evaluate(api, execution, each, "pw={{ secret('eval_pw') }}").json()
    spelled = evaluate(api, execution, ret, "{{ outputs.ret[taskrun.value].value | join(' ') }}")

    assert refused["result"] is None
    assert "secret() is not available when evaluating an expression" in refused["error"]
    assert "s 3 c r 3 t" not in spelled.json()["result"]
    assert spelled.json()["result"].startswith("p w   i s   * * * * * * * *")


def test_unknown_task_run_is_404_and_a_reader_is_403(api, ran, django_user_model) -> None:
    execution, each, _ = ran
    problem(api.post(f"/api/v1/executions/{execution.id}/eval/nope", "x",
                     content_type="text/plain"), 404)  # fmt: skip
    reader = django_user_model.objects.create_user(username="reader")
    grant(reader, "t", "read")
    other = APIClient()
    other.force_authenticate(reader)

    problem(evaluate(other, execution, each, "{{ secret('eval_pw') }}"), 403)
