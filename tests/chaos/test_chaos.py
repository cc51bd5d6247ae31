"""Whatever dies, nothing is lost and nothing runs twice beyond what retries allow.

Each scenario submits a mixed workload, kills processes at random while it runs, restarts
them, and checks invariants from the database afterwards. Sizes are bounded by
TRELLIS_CHAOS_EXECUTIONS (default 40) so CI stays fast; raise it to soak (issue 9: 500).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from executions.models import TaskRunAttempt
from kernel.states import State
from tests.chaos.common import (
    SIZE,
    duplicates,
    lost,
    patience,
    retries_within_policy,
    submit,
    wait_all_terminal,
    workload,
)
from tests.chaos.conftest import EXECUTORS, TASK_WORKERS
from tests.chaos.report import Row, record

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
KILLS = 4


def busy(fleet, victims: tuple[str, ...], within: float = 3.0) -> str | None:  # noqa: ANN001
    """The victim whose pool child runs a task now (an attempt's owner is "host:pid" of that
    child, in the worker's process group), so a kill interrupts work instead of landing on an
    idle worker; None when none is seen running within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        owners = TaskRunAttempt.objects.filter(state=State.RUNNING).values_list("owner", flat=True)
        leaders = {fleet.procs[name].pid: name for name in victims if fleet.alive(name)}
        for owner in owners:
            try:
                group = os.getpgid(int(owner.rsplit(":", 1)[1]))
            except (IndexError, ValueError, ProcessLookupError):
                continue
            if group in leaders:
                return leaders[group]
        time.sleep(0.05)
    return None


def chaos_run(  # noqa: ANN001
    fleet, tmp_path, victims: tuple[str, ...], queues: str, what: str, *, kill_busy: bool = False
) -> None:
    effects = tmp_path / "effects.txt"
    ids = submit(workload(effects), SIZE)
    rng = random.Random(7)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 1.5))
        victim = (kill_busy and busy(fleet, victims)) or rng.choice(victims)
        fleet.kill(victim, signal.SIGKILL)
        fleet.start_worker(victim, queues, concurrency=2, wait=False)  # may die while booting
    for victim in victims:
        fleet.wait_ready(victim)
    last_restart = time.monotonic()
    done = wait_all_terminal(ids, timeout=patience(SIZE))
    row = record(
        Row(
            f"SIGKILL {what} under load, restart them", f"{SIZE} mixed executions",
            f"{KILLS} x SIGKILL of one of the {what} (its process group)",
            lost(ids), duplicates(ids, effects), done - last_restart,
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert done - last_restart < 60, "every execution terminal within 60 s of the last restart"
    retries_within_policy(ids)


def test_task_workers_sigkilled_under_load(fleet, tmp_path) -> None:
    chaos_run(fleet, tmp_path, TASK_WORKERS, "default", "task workers", kill_busy=True)
    assert TaskRunAttempt.objects.filter(note__startswith="lease expired").exists()


def test_executors_sigkilled_under_load(fleet, tmp_path) -> None:
    chaos_run(fleet, tmp_path, EXECUTORS, "executor", "executors")
