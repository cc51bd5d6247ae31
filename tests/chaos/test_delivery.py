"""Messages doubled and reordered, commits that fail around the edges: the database still
ends where a clean run ends.

Both scenarios first run the workload with nothing injected and keep each execution's
digest (state, task runs, attempts, outputs, subflows, log lines; no ids or times), then run
it again with the fault switched on in every process (``tests.chaos.faults``) and compare.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from orchestrator.celery import app
from tests.chaos.common import (
    digests,
    duplicates,
    lost,
    patience,
    retries_within_policy,
    size,
    submit,
    wait_all_terminal,
    workload,
)
from tests.chaos.conftest import EXECUTORS, TASK_WORKERS
from tests.chaos.faults import COMMIT_FAULTS, Control, install_duplicates
from tests.chaos.report import Row, record

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
DOUBLED = size("TRELLIS_CHAOS_DUPLICATE_EXECUTIONS", 24)
FAULTED = size("TRELLIS_CHAOS_COMMIT_EXECUTIONS", 32)


def unfinished(ids: list[str]) -> bool:
    from executions.models import Execution
    from kernel.states import TERMINAL

    return (
        Execution.objects.filter(id__in=ids).exclude(state__in=[str(s) for s in TERMINAL]).exists()
    )


def received_twice(fleet) -> int:  # noqa: ANN001
    """Messages (task ids) a worker received more than once, from the workers' logs."""
    seen: Counter[str] = Counter()
    for name in (*EXECUTORS, *TASK_WORKERS):
        seen.update(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", fleet.log_text(name)))
    return sum(1 for n in seen.values() if n > 1)


def test_every_message_delivered_twice_and_out_of_order(fleet, tmp_path, monkeypatch) -> None:
    effects = tmp_path / "effects.txt"
    flows = workload(effects)
    clean = submit(flows, DOUBLED)
    wait_all_terminal(clean, timeout=patience(DOUBLED))
    expected = digests(clean)

    fleet.faults(duplicate={"max_delay": 0.5})
    monkeypatch.setattr(app, "send_task", app.send_task)  # restored after the test
    install_duplicates(app, Control(str(fleet.control)))  # this process's wake-ups too
    began = time.monotonic()
    doubled = submit(flows, DOUBLED)
    done = wait_all_terminal(doubled, timeout=patience(DOUBLED))
    time.sleep(2)  # late copies land on finished executions: they must change nothing
    row = record(
        Row(
            "every executor and worker message delivered twice, out of order",
            f"{DOUBLED} mixed executions", "each message sent twice, each copy delayed 0-0.5 s",
            lost(doubled), duplicates(doubled, effects), None,
            f"{received_twice(fleet)} messages received twice; run took "
            f"{done - began:.1f} s; final state equal to a single-delivery run",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert digests(doubled) == expected
    assert received_twice(fleet) > DOUBLED  # the fault really happened


def test_executor_dies_or_errs_around_its_commit(fleet, tmp_path) -> None:
    effects = tmp_path / "effects.txt"
    flows = workload(effects)
    clean = submit(flows, len(flows))
    wait_all_terminal(clean, timeout=60)
    expected = set(digests(clean))

    budgets = {"kill-before-commit": 2, "kill-after-commit": 2, "error-after-commit": 4,
               "error-before-commit": 3}  # fmt: skip
    fleet.faults(commit={k: {"rate": 0.08, "budget": n} for k, n in budgets.items()})
    ids = submit(flows, FAULTED)
    deadline = time.monotonic() + 240
    last_fault = time.monotonic()
    while time.monotonic() < deadline:
        if fleet.revive():
            last_fault = time.monotonic()
        if fleet.faults_used() == budgets or not unfinished(ids):
            break
        time.sleep(0.3)
    fleet.faults()  # whatever is left of the budget is not needed
    last_fault = max(last_fault, time.monotonic()) if fleet.revive() else last_fault
    done = wait_all_terminal(ids, timeout=patience(FAULTED))
    used = fleet.faults_used()
    row = record(
        Row(
            "executor killed or failing on either side of its commit",
            f"{FAULTED} mixed executions",
            ", ".join(f"{used.get(k, 0)} x {k}" for k in COMMIT_FAULTS),
            lost(ids), duplicates(ids, effects), done - last_fault,
            "error-after-commit: committed while the caller saw an error; "
            "final state equal to a fault-free run",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert set(digests(ids)) <= expected
    retries_within_policy(ids)
    assert all(used.get(k) for k in COMMIT_FAULTS), used  # every kind of fault happened
