"""Nothing lost, nothing doubled: workers die or stall, messages arrive twice."""

from __future__ import annotations

import os
import signal
import time

import pytest

from executions.models import TaskRun, TaskRunAttempt
from executions.services import execution_create, execution_wait
from executions.tasks import advance, run_attempt
from flows.services import flow_deploy
from kernel.states import State
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sleepy_flow(flow_id: str, seconds: int, group: str):  # noqa: ANN201
    return flow_deploy(
        source=f"""
id: {flow_id}
namespace: it.crash
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT{seconds}S
    workerGroup:
      key: {group}
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: done
"""
    ).flow


def running_attempt(execution) -> TaskRunAttempt:  # noqa: ANN001
    return wait_for(
        lambda: TaskRunAttempt.objects.filter(
            task_run__execution=execution, task_run__task_id="nap", state="RUNNING"
        ).first()
    )


def test_a_worker_killed_mid_task_loses_nothing(workers) -> None:
    workers.start_worker("crash-a", "wg.crash-a", concurrency=1)
    execution = execution_create(flow=sleepy_flow("killed-worker", 3, "crash-a"))
    running_attempt(execution)
    workers.kill("crash-a", signal.SIGKILL)
    workers.start_worker("crash-a2", "wg.crash-a", concurrency=1)
    try:
        done = execution_wait(execution.id, timeout=60)
    finally:
        workers.kill("crash-a2", signal.SIGTERM)
    assert done.state == State.SUCCESS
    nap = TaskRun.objects.get(execution=done, task_id="nap")
    attempts = list(nap.attempt_rows.order_by("number").values_list("state", flat=True))
    assert attempts == ["FAILED", "SUCCESS"]
    assert "lease expired" in nap.attempt_rows.get(number=1).note


def test_a_stalled_worker_coming_back_is_ignored(workers) -> None:
    workers.start_worker("stall-a", "wg.stall", concurrency=1)
    execution = execution_create(flow=sleepy_flow("stalled-worker", 8, "stall"))
    first = running_attempt(execution)
    stalled = workers.procs["stall-a"]
    os.killpg(stalled.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: TaskRunAttempt.objects.get(pk=first.pk).state == "FAILED", timeout=30)
        workers.start_worker("stall-b", "wg.stall", concurrency=1)
        wait_for(
            lambda: TaskRunAttempt.objects.filter(
                task_run_id=first.task_run_id, number=2, state="RUNNING"
            ).exists(),
            timeout=30,
        )
    finally:
        os.killpg(stalled.pid, signal.SIGCONT)
    try:
        done = execution_wait(execution.id, timeout=60)
    finally:
        workers.kill("stall-a", signal.SIGTERM)
        workers.kill("stall-b", signal.SIGTERM)
    assert done.state == State.SUCCESS
    nap = TaskRun.objects.get(execution=done, task_id="nap")
    assert nap.attempts == 2
    assert TaskRunAttempt.objects.get(pk=first.pk).state == "FAILED"  # its late result ignored


def test_duplicated_messages_run_nothing_twice(workers, script_folder) -> None:
    effects = script_folder / "effects.txt"
    flow = flow_deploy(
        source=f"""
id: side-effect
namespace: it.crash
tasks:
  - id: append
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo once >> {effects}
"""
    ).flow
    execution = execution_create(flow=flow)
    for _ in range(3):
        advance.apply_async((execution.id,), queue="executor")
    attempt = wait_for(lambda: TaskRunAttempt.objects.filter(task_run__execution=execution).first())
    for _ in range(3):
        run_attempt.apply_async((attempt.pk,), queue="default")
    done = execution_wait(execution.id, timeout=60)
    time.sleep(1)  # let any duplicate delivery finish
    for _ in range(2):
        advance.apply_async((execution.id,), queue="executor")
        run_attempt.apply_async((attempt.pk,), queue="default")
    time.sleep(1.5)
    assert done.state == State.SUCCESS
    assert effects.read_text().splitlines() == ["once"]
    assert TaskRun.objects.filter(execution=done).count() == 1
    assert TaskRunAttempt.objects.filter(task_run__execution=done).count() == 1


def test_secrets_never_reach_stored_logs(workers, monkeypatch) -> None:
    from executions.models import LogEntry

    flow = flow_deploy(
        source="""
id: secretive
namespace: it.crash
tasks:
  - id: leak
    type: io.kestra.plugin.core.log.Log
    message: "the password is {{ secret('DB_PASSWORD') }}"
  - id: shell-leak
    type: io.kestra.plugin.scripts.shell.Commands
    env:
      PW: "{{ secret('DB_PASSWORD') }}"
    commands:
      - echo "shell says $PW"
"""
    ).flow
    done = execution_wait(execution_create(flow=flow).id, timeout=60)
    assert done.state == State.SUCCESS, list(LogEntry.objects.values_list("message", flat=True))
    messages = list(LogEntry.objects.filter(execution=done).values_list("message", flat=True))
    assert "the password is ********" in messages
    assert "shell says ********" in messages
    assert not any("hunter2-secret" in m for m in messages)
