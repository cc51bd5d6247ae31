"""Flows run for real: executor and task workers are separate Celery processes."""

from __future__ import annotations

import os

import pytest

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.services import execution_create, execution_kill, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def deploy(source: str):  # noqa: ANN201
    return flow_deploy(source=source).flow


def test_hello_world_runs_on_real_workers(workers) -> None:
    flow = deploy(
        """
id: hello
namespace: it.basic
inputs:
  - id: who
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{ inputs.who }}"
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ 6 * 7 }}"
outputs:
  - id: answer
    type: STRING
    value: "{{ outputs.answer.value }}"
"""
    )
    execution = execution_create(flow=flow, inputs={"who": "Trellis"})
    done = execution_wait(execution.id, timeout=60)
    assert done.state == State.SUCCESS
    assert done.outputs == {"answer": "42"}
    runs = {r.task_id: r for r in TaskRun.objects.filter(execution=done)}
    assert runs["greet"].state == State.SUCCESS
    assert runs["answer"].outputs == {"value": "42"}
    messages = list(LogEntry.objects.filter(execution=done).values_list("message", flat=True))
    assert "Hello Trellis" in messages
    # The worker an attempt names is the pool child that ran it, in the "tasks" worker's group.
    owner = TaskRunAttempt.objects.get(task_run=runs["greet"]).owner
    pid = int(owner.rsplit(":", 1)[1])
    assert pid != workers.procs["tasks"].pid
    assert os.getpgid(pid) == workers.procs["tasks"].pid


def test_failure_runs_errors_then_finally(workers) -> None:
    flow = deploy(
        """
id: failing
namespace: it.basic
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: it broke
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: unreachable
errors:
  - id: handle
    type: io.kestra.plugin.core.log.Log
    message: "handling"
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: "cleanup"
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.FAILED
    states = dict(TaskRun.objects.filter(execution=done).values_list("task_id", "state"))
    assert states == {"boom": "FAILED", "handle": "SUCCESS", "cleanup": "SUCCESS"}
    assert LogEntry.objects.filter(execution=done, message="it broke", level="ERROR").exists()


def test_retry_makes_new_attempts_until_the_policy_is_spent(workers) -> None:
    flow = deploy(
        """
id: retrying
namespace: it.basic
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    retry:
      type: constant
      interval: PT0.5S
      maxAttempt: 3
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.FAILED
    run = TaskRun.objects.get(execution=done, task_id="flaky")
    assert run.attempts == 3
    assert [a.number for a in run.attempt_rows.all()] == [1, 2, 3]


def test_kill_stops_a_sleeping_task(workers) -> None:
    flow = deploy(
        """
id: sleepy
namespace: it.basic
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: never
"""
    )
    execution = execution_create(flow=flow)
    wait_for(lambda: TaskRun.objects.filter(execution=execution, state="RUNNING").exists())
    execution_kill(execution)
    done = execution_wait(execution.id, timeout=30)
    assert done.state == State.KILLED
    states = dict(TaskRun.objects.filter(execution=done).values_list("task_id", "state"))
    assert states == {"nap": "KILLED"}


def test_a_task_past_its_timeout_is_stopped_and_fails(workers) -> None:
    """The worker's heartbeat stops a task at its ``timeout``: the run FAILS within seconds,
    its log says why, and the Shell script's lines written before the deadline are kept."""
    flow = deploy(
        """
id: slow
namespace: it.basic
tasks:
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    timeout: PT2S
    commands:
      - echo started
      - sleep 60
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: never
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=30)
    assert done.state == State.FAILED
    run = TaskRun.objects.get(execution=done, task_id="slow")
    assert run.state == State.FAILED
    assert (run.ended_at - run.started_at).total_seconds() < 15
    lines = list(LogEntry.objects.filter(task_run_id=run.id).values_list("message", flat=True))
    assert "started" in lines
    assert any("Timeout after PT2S" in line for line in lines)
    assert not TaskRun.objects.filter(execution=done, task_id="after").exists()


def test_parallel_branches_all_run(workers) -> None:
    flow = deploy(
        """
id: fan
namespace: it.basic
tasks:
  - id: par
    type: io.kestra.plugin.core.flow.Parallel
    concurrent: 2
    tasks:
      - id: a
        type: io.kestra.plugin.core.debug.Return
        format: a
      - id: b
        type: io.kestra.plugin.core.debug.Return
        format: b
      - id: c
        type: io.kestra.plugin.core.debug.Return
        format: c
  - id: join
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.a.value }}{{ outputs.b.value }}{{ outputs.c.value }}"
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.SUCCESS
    assert TaskRun.objects.get(execution=done, task_id="join").outputs == {"value": "abc"}
    assert Execution.objects.count() == 1


def test_file_input_reaches_a_shell_task_and_read(workers) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    flow = deploy(
        """
id: files
namespace: it.basic
inputs:
  - id: data
    type: FILE
tasks:
  - id: count
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      data.csv: "{{ inputs.data }}"
    commands:
      - wc -l < data.csv
      - echo "head $(head -n 1 data.csv)"
  - id: text
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.data) | trim }}"
"""
    )
    upload = SimpleUploadedFile("data.csv", b"a,b\n1,2\n3,4\n")
    execution = execution_create(flow=flow, files={"data": upload})
    assert execution.inputs["data"].startswith("kestra:///it/basic/files/executions/")
    done = execution_wait(execution.id, timeout=60)
    assert done.state == State.SUCCESS
    messages = list(LogEntry.objects.filter(execution=done).values_list("message", flat=True))
    assert "3" in messages
    assert "head a,b" in messages
    assert TaskRun.objects.get(execution=done, task_id="text").outputs["value"] == "a,b\n1,2\n3,4"


def test_logs_arrive_in_order_and_outputs_chain(workers) -> None:
    lines = "\n".join(f"      - echo line-{i}" for i in range(50))
    flow = deploy(
        f"""
id: chatty
namespace: it.basic
tasks:
  - id: talk
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
{lines}
      - 'echo ''::{{"outputs":{{"count":50}}}}::'''
  - id: next
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.talk.vars.count + 1 }}}}"
"""
    )
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.SUCCESS
    talk = TaskRun.objects.get(execution=done, task_id="talk")
    messages = list(
        LogEntry.objects.filter(task_run_id=talk.id).order_by("timestamp", "id")
        .values_list("message", flat=True)
    )  # fmt: skip
    assert messages == [f"line-{i}" for i in range(50)]
    assert TaskRun.objects.get(execution=done, task_id="next").outputs == {"value": "51"}
