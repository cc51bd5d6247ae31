"""The run context's ``execution_summary`` (issue 17): what a notification task may read of an
execution, as plain data, within the flow's namespace boundary."""

from __future__ import annotations

import threading

import pytest

from executions.models import TaskRun
from executions.services import execution_create
from executions.worker.run_context import WorkerContext
from flows.services import flow_deploy
from kernel.plugin import TaskFailed
from kernel.secrets import Masker
from kernel.states import State
from namespaces.allowed import allowed_namespace_add
from namespaces.boundaries import BoundaryRefused

pytestmark = pytest.mark.django_db

FLOW = "id: {id}\nnamespace: {ns}\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def _deploy(flow_id: str, namespace: str):  # noqa: ANN202
    return flow_deploy(source=FLOW.format(id=flow_id, ns=namespace)).flow


def _context(execution) -> WorkerContext:  # noqa: ANN001
    return WorkerContext(
        execution_id=execution.id, task_run_id="run-1", task_id="a", attempt=1,
        namespace=execution.namespace, flow_id=execution.flow_id, variables=dict,
        logger=None, masker=Masker(), stop=threading.Event(),
    )  # fmt: skip


def test_the_own_execution_with_its_task_runs_and_no_link_by_default(settings) -> None:
    settings.TRELLIS_URL = ""
    execution = execution_create(flow=_deploy("sum", "team.a"), inputs={})
    TaskRun.objects.create(execution=execution, task_id="a", state=State.FAILED, seq=1,
                           outputs={"secret": "never shown"})  # fmt: skip

    summary = _context(execution).execution_summary()

    assert summary["id"] == execution.id
    assert summary["namespace"] == "team.a"
    assert summary["flowId"] == "sum"
    assert summary["state"]["current"] == str(execution.state)
    assert summary["state"]["startDate"].endswith("Z")
    assert [(r["taskId"], r["state"]["current"]) for r in summary["taskRunList"]] == [
        ("a", "FAILED")
    ]
    assert "outputs" not in summary["taskRunList"][0]
    assert "inputs" not in summary
    assert summary["link"] is None


def test_the_link_uses_trellis_url(settings) -> None:
    settings.TRELLIS_URL = "https://trellis.example.com/"
    execution = execution_create(flow=_deploy("sum", "team.a"), inputs={})

    link = _context(execution).execution_summary(execution.id)["link"]

    assert link == f"https://trellis.example.com/admin/executions/execution/{execution.id}/change/"


def test_another_namespace_only_where_it_allows_the_flow() -> None:
    mine = execution_create(flow=_deploy("watcher", "team.a"), inputs={})
    theirs = execution_create(flow=_deploy("secret", "team.b"), inputs={})
    below = execution_create(flow=_deploy("child", "team.a.sub"), inputs={})

    assert _context(mine).execution_summary(below.id)["flowId"] == "child"
    with pytest.raises(BoundaryRefused, match="'team.b' does not allow"):
        _context(mine).execution_summary(theirs.id)
    allowed_namespace_add(namespace="team.b", allowed="team.a")
    assert _context(mine).execution_summary(theirs.id)["flowId"] == "secret"


def test_an_unknown_execution_fails_the_task() -> None:
    mine = execution_create(flow=_deploy("watcher", "team.a"), inputs={})

    with pytest.raises(TaskFailed, match="execution 'nope' not found"):
        _context(mine).execution_summary("nope")
