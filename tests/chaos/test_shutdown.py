"""A worker told to stop (SIGTERM) while it runs a long task: Celery's warm shutdown lets the
task finish; if the supervisor loses patience and kills it, the task is handed back through
its lease and runs again elsewhere. Either way nothing is lost or done twice."""

from __future__ import annotations

import os
import signal
import time

import pytest

from executions.models import TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.chaos.common import duplicates, lost, wait_all_terminal
from tests.chaos.report import Row, record
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]


def long_task_flow(flow_id: str, task: str):  # noqa: ANN201
    return flow_deploy(
        source=f"id: {flow_id}\nnamespace: chaos.term\ntasks:\n{task}"
        "    workerGroup:\n      key: chaos-term\n"
        "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: done\n"
    ).flow


def running(execution_id: str, task_id: str) -> TaskRun:
    return wait_for(
        lambda: TaskRun.objects.filter(
            execution_id=execution_id, task_id=task_id, state=State.RUNNING
        ).first()
    )


def test_sigterm_lets_the_running_task_finish(fleet, tmp_path) -> None:
    effects = tmp_path / "effects.txt"
    flow = long_task_flow(
        "finish",
        "  - id: long\n    type: io.kestra.plugin.scripts.shell.Commands\n    commands:\n"
        f"      - sleep 4\n      - echo '{{{{ taskrun.id }}}}:{{{{ taskrun.attemptsCount }}}}'"
        f" >> {effects}\n",
    )
    fleet.start_worker("term-1", "wg.chaos-term", concurrency=1)
    execution = execution_create(flow=flow)
    running(execution.id, "long")
    os.kill(fleet.procs["term-1"].pid, signal.SIGTERM)  # what `kill PID` or systemd sends
    sent = time.monotonic()
    fleet.procs["term-1"].wait(timeout=60)  # it leaves by itself once the task is done
    exited = time.monotonic()
    done = wait_all_terminal([execution.id], timeout=30)
    run = TaskRun.objects.get(execution=execution, task_id="long")
    row = record(
        Row(
            "worker gets SIGTERM while running a long task (warm shutdown)",
            "1 execution, 4 s Shell task", "SIGTERM to the worker mid-task",
            lost([execution.id]), duplicates([execution.id], effects), done - sent,
            f"the worker finished the task and exited {exited - sent:.1f} s after SIGTERM; "
            "one attempt",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert run.attempts == 1
    assert "Warm shutdown" in fleet.log_text("term-1")


def test_sigterm_then_kill_hands_the_task_back(fleet) -> None:
    flow = long_task_flow(
        "handback",
        "  - id: long\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT5S\n",
    )
    fleet.start_worker("term-2", "wg.chaos-term", concurrency=1)
    execution = execution_create(flow=flow)
    running(execution.id, "long")
    os.kill(fleet.procs["term-2"].pid, signal.SIGTERM)
    time.sleep(1.5)  # a supervisor's stop timeout, shorter than the task
    fleet.kill("term-2", signal.SIGKILL)
    killed = time.monotonic()
    fleet.start_worker("term-3", "wg.chaos-term", concurrency=1)
    done = wait_all_terminal([execution.id], timeout=60)
    run = TaskRun.objects.get(execution=execution, task_id="long")
    notes = list(run.attempt_rows.order_by("number").values_list("state", "note"))
    row = record(
        Row(
            "worker gets SIGTERM, then SIGKILL before its task ends",
            "1 execution, 5 s Sleep task", "SIGTERM, SIGKILL 1.5 s later",
            lost([execution.id]), duplicates([execution.id]), done - killed,
            "the lease expired and attempt 2 ran on another worker",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert [s for s, _ in notes] == [State.FAILED, State.SUCCESS]
    assert notes[0][1].startswith("lease expired")
