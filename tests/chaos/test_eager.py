"""A task worker SIGKILLed in the middle of an eager chain (the worker's fast path runs the
next task of a sequential flow at once, without a message: docs/architecture.md, "The
worker's fast path") loses nothing and runs nothing twice: the attempt it was running is
handed back through its lease, and the rest of the chain goes on from there."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from executions.models import TaskRun, TaskRunAttempt
from executions.worker.attempt import EAGER_NOTE
from flows.services import flow_deploy
from kernel.states import State
from tests.chaos.common import duplicates, lost, patience, submit, wait_all_terminal
from tests.chaos.conftest import TASK_WORKERS
from tests.chaos.report import Row, record
from tests.chaos.test_chaos import busy

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
LINKS = 10


def chain_flow(effects):  # noqa: ANN001, ANN201
    """``LINKS`` Shell tasks in a row, each leaving one line per attempt in ``effects``."""
    task = (
        "  - id: append<n>\n    type: io.kestra.plugin.scripts.shell.Commands\n    commands:\n"
        "      - sleep 0.3\n"
        f'      - echo "{{{{ taskrun.id }}}}:{{{{ taskrun.attemptsCount }}}}" >> {effects}\n'
    )
    tasks = "".join(task.replace("<n>", str(n)) for n in range(LINKS))
    return flow_deploy(source=f"id: chain\nnamespace: chaos.eager\ntasks:\n{tasks}").flow


def ran_twice(ids: list[str], lines: list[str]) -> list[str]:
    """Links whose script ran more than once for one attempt, ran for an attempt that was
    never made, or did not run for the attempt that succeeded. A link killed mid-run may
    have left its first attempt's line or not: both are one run of each attempt."""
    found = []
    for run in TaskRun.objects.filter(execution_id__in=ids):
        mine = Counter(int(line.rsplit(":", 1)[1]) for line in lines if line.startswith(run.id))
        if run.state != State.SUCCESS or mine[run.attempts - 1] != 1:
            found.append(f"{run.task_id} {run.state} after {run.attempts}: lines {dict(mine)}")
        elif any(n > 1 or a >= run.attempts for a, n in mine.items()):
            found.append(f"{run.task_id} attempts {run.attempts}: lines {dict(mine)}")
    return found


def eager_running() -> bool:
    return TaskRunAttempt.objects.filter(state=State.RUNNING, note__startswith=EAGER_NOTE).exists()


def test_a_worker_killed_mid_chain_loses_nothing_and_runs_nothing_twice(fleet, tmp_path) -> None:
    effects = tmp_path / "effects.txt"
    ids = submit([chain_flow(effects)], 6)
    deadline = time.monotonic() + 60
    while not eager_running():  # a chain is past its first link: its next one had no message
        assert time.monotonic() < deadline, "no attempt ever ran eagerly"
        time.sleep(0.05)
    victim = busy(fleet, TASK_WORKERS)
    assert victim is not None
    fleet.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    fleet.start_worker(victim, "default", concurrency=2)
    done = wait_all_terminal(ids, timeout=patience(len(ids)))
    twice = ran_twice(ids, effects.read_text().split())
    row = record(
        Row(
            "SIGKILL a task worker in the middle of eager chains", f"{len(ids)} x {LINKS} "
            "Shell tasks in a row", "1 x SIGKILL of a task worker running an eager link",
            lost(ids), duplicates(ids) + len(twice), done - killed,
            "; ".join(["the killed link's lease expired and it ran again on attempt 2", *twice]),
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    handed_back = TaskRunAttempt.objects.filter(
        execution_id__in=ids, note__startswith="lease expired"
    )
    assert handed_back.exists()
    assert TaskRunAttempt.objects.filter(
        execution_id__in=ids, note__startswith=EAGER_NOTE
    ).count() > len(ids)
