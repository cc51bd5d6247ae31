"""Failures users see read as Kestra's (issue 22): a missing template, a missing subflow.

The executor is called as a function; its follow-up messages go nowhere.
"""

from __future__ import annotations

import pytest

from executions.models import Execution, LogEntry, TaskRun
from executions.runtime import dispatch
from executions.runtime.advance import advance_execution
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_messages(monkeypatch):
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)


def errors_of(execution_id: str) -> list[str]:
    return list(
        LogEntry.objects.filter(execution_id=execution_id, level="ERROR").values_list(
            "message", flat=True
        )
    )


def test_a_template_that_does_not_exist_fails_with_kestras_message() -> None:
    flow = flow_deploy(
        source="id: with-failed-template\nnamespace: io.kestra.tests\ntasks:\n"
        "  - id: 1-return\n    type: io.kestra.plugin.core.flow.Template\n"
        "    namespace: io.kestra.tests\n    templateId: invalid\n"
    ).flow
    execution = execution_create(flow=flow)

    assert advance_execution(execution.id) == State.FAILED

    assert TaskRun.objects.get(execution=execution).state == State.FAILED
    assert any(
        m.endswith("Can't find flow template 'io.kestra.tests.invalid'")
        for m in errors_of(execution.id)
    )


def test_a_subflow_that_does_not_exist_fails_with_kestras_message() -> None:
    flow = flow_deploy(
        source="id: calls-nothing\nnamespace: io.kestra.tests\ntasks:\n"
        "  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n"
        "    namespace: io.kestra.tests\n    flowId: nope\n"
    ).flow
    execution = execution_create(flow=flow)

    advance_execution(execution.id)

    run = TaskRun.objects.get(execution=execution)
    assert run.state == State.FAILED
    assert "Unable to find flow 'io.kestra.tests'.'nope' with revision '0'" in errors_of(
        execution.id
    )


@pytest.mark.parametrize(
    ("behavior", "state", "line"),
    [
        (
            "QUEUE",
            State.QUEUED,
            ("INFO", "Flow is queued due to concurrency limit exceeded, 1 running(s)"),
        ),
        ("FAIL", State.FAILED, ("ERROR", "Flow is FAILED due to concurrency limit exceeded")),
    ],
)
def test_an_execution_held_back_by_the_concurrency_limit_logs_kestras_line(
    behavior: str, state: State, line: tuple[str, str]
) -> None:
    flow = flow_deploy(
        source=f"id: limited\nnamespace: io.kestra.tests\nconcurrency:\n  limit: 1\n"
        f"  behavior: {behavior}\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    ).flow
    first, second = execution_create(flow=flow), execution_create(flow=flow)
    advance_execution(first.id)

    advance_execution(second.id)
    advance_execution(second.id)  # a second wake-up logs nothing more

    assert Execution.objects.get(pk=second.pk).state == state
    assert list(
        LogEntry.objects.filter(execution_id=second.id).values_list("level", "message")
    ) == [line]
