"""Flow logic that needs the runtime: pause/resume, subflows, templates, labels, exit,
restart — run on real workers."""

from __future__ import annotations

import pytest

from executions.models import Execution, TaskRun
from executions.services import (
    InputsError,
    execution_create,
    execution_restart,
    execution_resume,
    execution_wait,
)
from flows.services import flow_deploy
from kernel.states import State
from templates.services import template_deploy
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def deploy(source: str):  # noqa: ANN201
    return flow_deploy(source=source).flow


def runs(execution: Execution) -> dict[str, str]:
    return dict(TaskRun.objects.filter(execution=execution).values_list("task_id", "state"))


def test_pause_waits_for_resume_with_on_resume_inputs(workers) -> None:
    flow = deploy(
        """
id: approval
namespace: it.logic
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.wait.onResume.approved }}"
"""
    )
    execution = execution_create(flow=flow)
    paused = wait_for(lambda: Execution.objects.filter(pk=execution.pk, state="PAUSED").first())
    with pytest.raises(InputsError):
        execution_resume(paused, {"approved": "maybe"})
    assert Execution.objects.get(pk=execution.pk).state == State.PAUSED
    execution_resume(paused, {"approved": "true"})
    done = execution_wait(execution.id, timeout=30)
    assert done.state == State.SUCCESS
    assert TaskRun.objects.get(execution=done, task_id="after").outputs == {"value": "true"}


def test_pause_with_a_delay_resumes_by_itself(workers) -> None:
    flow = deploy(
        """
id: delayed
namespace: it.logic
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    delay: PT1S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=30)
    assert done.state == State.SUCCESS
    assert runs(done) == {"wait": "SUCCESS", "after": "SUCCESS"}


def test_subflow_runs_a_child_and_returns_its_outputs(workers) -> None:
    deploy(
        """
id: child
namespace: it.logic
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
    parent = deploy(
        """
id: parent
namespace: it.logic
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: it.logic
    flowId: child
    inputs:
      n: 21
    outputs:
      again: "{{ outputs.double.value }}!"
  - id: show
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.call.outputs.doubled }}"
"""
    )
    done = execution_wait(execution_create(flow=parent).id, timeout=60)
    assert done.state == State.SUCCESS
    child = Execution.objects.get(parent_execution=done)
    assert child.state == State.SUCCESS
    assert child.trigger["variables"]["executionId"] == done.id
    assert TaskRun.objects.get(execution=done, task_id="show").outputs == {"value": "42"}
    call = TaskRun.objects.get(execution=done, task_id="call")
    assert call.outputs["outputs"] == {"doubled": "42", "again": "42!"}
    assert list(call.attempt_rows.values_list("state", flat=True)) == ["SUCCESS"]


def test_a_failed_subflow_fails_its_parent(workers) -> None:
    deploy(
        "id: broken\nnamespace: it.logic\ntasks:\n  - id: boom\n"
        "    type: io.kestra.plugin.core.execution.Fail\n"
    )
    parent = deploy(
        "id: caller\nnamespace: it.logic\ntasks:\n  - id: call\n"
        "    type: io.kestra.plugin.core.flow.Subflow\n    namespace: it.logic\n"
        "    flowId: broken\n"
    )
    done = execution_wait(execution_create(flow=parent).id, timeout=60)
    assert done.state == State.FAILED
    assert runs(done) == {"call": "FAILED"}


def test_a_failed_subflow_is_retried_with_a_new_child_each_attempt(workers) -> None:
    from executions.models import TaskRunAttempt

    deploy(
        "id: flaky-child\nnamespace: it.logic\ntasks:\n  - id: boom\n"
        "    type: io.kestra.plugin.core.execution.Fail\n"
    )
    retry = "retry:\n  type: constant\n  interval: PT0.5S\n  maxAttempt: 3\n"
    call = "    type: io.kestra.plugin.core.flow.Subflow\n    namespace: it.logic\n"
    parent = deploy(f"id: retrying\nnamespace: it.logic\n{retry}tasks:\n  - id: call\n{call}"
                    "    flowId: flaky-child\n")  # fmt: skip
    missing = deploy(f"id: retrying-missing\nnamespace: it.logic\n{retry}tasks:\n"
                     f"  - id: call\n{call}    flowId: no-such-flow\n")  # fmt: skip

    done = execution_wait(execution_create(flow=parent).id, timeout=60)
    gone = execution_wait(execution_create(flow=missing).id, timeout=60)

    assert done.state == State.FAILED
    run = TaskRun.objects.get(execution=done, task_id="call")
    attempts = list(TaskRunAttempt.objects.filter(task_run=run).order_by("number"))
    assert [a.state for a in attempts] == [State.FAILED] * 3
    children = Execution.objects.filter(parent_execution=done)
    assert children.count() == 3
    assert {a.owner for a in attempts} == {f"execution:{c.id}" for c in children}
    assert gone.state == State.FAILED
    assert TaskRunAttempt.objects.filter(task_run__execution=gone).count() == 3


def test_template_tasks_are_included(workers) -> None:
    template_deploy(
        source="id: greet\nnamespace: it.logic\ntasks:\n  - id: hello\n"
        "    type: io.kestra.plugin.core.debug.Return\n    format: from template\n"
    )
    flow = deploy(
        "id: uses-template\nnamespace: it.logic\ntasks:\n  - id: tpl\n"
        "    type: io.kestra.plugin.core.flow.Template\n    namespace: it.logic\n"
        "    templateId: greet\n"
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.SUCCESS
    assert runs(done) == {"tpl": "SUCCESS", "hello": "SUCCESS"}


def test_labels_task_and_exit(workers) -> None:
    flow = deploy(
        """
id: labelled
namespace: it.logic
labels:
  team: data
tasks:
  - id: tag
    type: io.kestra.plugin.core.execution.Labels
    labels:
      stage: "{{ 'two' }}"
  - id: stop
    type: io.kestra.plugin.core.execution.Exit
    state: WARNING
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: unreachable
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.WARNING
    assert done.labels == {"team": "data", "stage": "two", "system.correlationId": done.id}
    assert set(runs(done)) == {"tag", "stop"}


def test_restart_runs_the_failed_task_again(workers, script_folder) -> None:
    marker = script_folder / "second-time"
    flow = deploy(
        f"""
id: flaky-once
namespace: it.logic
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: ok
  - id: check
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test -f {marker}
errors:
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: failed once
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.FAILED
    marker.write_text("now it works")
    execution_restart(done)
    again = execution_wait(done.id, timeout=60)
    assert again.state == State.SUCCESS
    assert runs(again) == {"first": "SUCCESS", "check": "SUCCESS"}
    assert TaskRun.objects.get(execution=again, task_id="check").attempts == 2


CONCURRENT = """
id: one-at-a-time
namespace: it.logic
concurrency:
  limit: 1
  behavior: {behavior}
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
"""


def test_concurrency_queue_runs_executions_one_after_the_other(workers) -> None:
    flow = deploy(CONCURRENT.format(behavior="QUEUE"))
    first = execution_create(flow=flow)
    wait_for(lambda: Execution.objects.get(pk=first.pk).state == "RUNNING")
    second = execution_create(flow=flow)
    wait_for(lambda: Execution.objects.get(pk=second.pk).state == "QUEUED")
    assert execution_wait(first.id, timeout=30).state == State.SUCCESS
    done = execution_wait(second.id, timeout=30)
    assert done.state == State.SUCCESS
    assert [h["state"] for h in done.state_history][:3] == ["CREATED", "QUEUED", "RUNNING"]


def test_concurrency_cancel_cancels_the_second(workers) -> None:
    flow = deploy(CONCURRENT.format(behavior="CANCEL").replace("one-at-a-time", "cancel-2nd"))
    first = execution_create(flow=flow)
    wait_for(lambda: Execution.objects.get(pk=first.pk).state == "RUNNING")
    second = execution_wait(execution_create(flow=flow).id, timeout=30)
    assert second.state == State.CANCELLED
    assert execution_wait(first.id, timeout=30).state == State.SUCCESS


def test_replay_from_a_task_run_keeps_what_ran_before(workers) -> None:
    from executions.services import execution_replay

    flow = deploy(
        """
id: replayable
namespace: it.logic
tasks:
  - id: one
    type: io.kestra.plugin.core.debug.Return
    format: "{{ execution.id }}"
  - id: two
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.one.value }}"
"""
    )
    first = execution_wait(execution_create(flow=flow).id, timeout=30)
    two = TaskRun.objects.get(execution=first, task_id="two")
    replay = execution_replay(first, two.id)
    done = execution_wait(replay.id, timeout=30)
    assert done.state == State.SUCCESS
    assert done.original_id == first.id
    copied = TaskRun.objects.get(execution=done, task_id="one")
    assert copied.outputs == {"value": first.id}  # kept, not run again
    assert TaskRun.objects.get(execution=done, task_id="two").outputs == {"value": first.id}
    from_scratch = execution_wait(execution_replay(first).id, timeout=30)
    assert TaskRun.objects.get(execution=from_scratch, task_id="one").outputs == {
        "value": from_scratch.id
    }


def test_resume_task_resumes_another_execution(workers) -> None:
    paused_flow = deploy(
        "id: waits\nnamespace: it.logic\ntasks:\n  - id: hold\n"
        "    type: io.kestra.plugin.core.flow.Pause\n"
    )
    resumer = deploy(
        "id: resumer\nnamespace: it.logic\ninputs:\n  - id: target\n    type: STRING\n"
        "tasks:\n  - id: go\n    type: io.kestra.plugin.core.execution.Resume\n"
        '    executionId: "{{ inputs.target }}"\n'
    )
    waiting = execution_create(flow=paused_flow)
    wait_for(lambda: Execution.objects.get(pk=waiting.pk).state == "PAUSED")
    done = execution_wait(execution_create(flow=resumer, inputs={"target": waiting.id}).id, 30)
    assert done.state == State.SUCCESS
    assert execution_wait(waiting.id, timeout=30).state == State.SUCCESS
    failed = execution_wait(execution_create(flow=resumer, inputs={"target": "nope"}).id, 30)
    assert failed.state == State.FAILED


def test_retry_as_new_executions_until_the_policy_is_spent(workers) -> None:
    flow = deploy(
        """
id: retry-new
namespace: it.logic
tasks:
  - id: fail
    type: io.kestra.plugin.core.execution.Fail
    retry:
      behavior: CREATE_NEW_EXECUTION
      type: constant
      maxAttempt: 3
      interval: PT1S
"""
    )
    first = execution_create(flow=flow)

    def chain() -> list[str]:
        rows = Execution.objects.filter(flow_id="retry-new").order_by("created_at")
        return list(rows.values_list("state", flat=True))

    wait_for(lambda: chain() == ["RETRIED", "RETRIED", "FAILED"], timeout=60)
    assert Execution.objects.filter(original_id=first.id).count() == 2
