"""Flow concurrency under load and crashes: a long queue drains in order with flat memory;
a slot held by an execution whose worker died comes back."""

from __future__ import annotations

import signal
import time

import pytest

from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.chaos.common import duplicates, lost, size, wait_all_terminal
from tests.chaos.report import Row, record
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
QUEUED = size("TRELLIS_CHAOS_QUEUED_EXECUTIONS", 300)  # issue 9: 10,000
LIMIT = 5


def limited_flow(flow_id: str, limit: int, task: str):  # noqa: ANN201
    return flow_deploy(
        source=f"id: {flow_id}\nnamespace: chaos.limits\nconcurrency:\n  limit: {limit}\n"
        f"tasks:\n{task}"
    ).flow


def started_order(ids: list[str]) -> tuple[int, int]:
    """(executions that started before one created earlier, most running at once)."""
    rows = sorted(
        Execution.objects.filter(id__in=ids).values_list("created_at", "started_at", "ended_at")
    )
    inversions = sum(1 for a, b in zip(rows, rows[1:], strict=False) if b[1] < a[1])
    events = sorted([(r[1], 1) for r in rows] + [(r[2], -1) for r in rows])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return inversions, peak


def rss_mb(fleet, key: str = "VmRSS") -> dict[str, float]:  # noqa: ANN001
    from orchestrator.supervisor import _process_group, _status_kb

    found = {}
    for name, proc in fleet.procs.items():
        for pid in [proc.pid, *_process_group(proc.pid)]:
            kb = _status_kb(pid, key)
            if kb is not None:
                found[name if pid == proc.pid else f"{name}/{pid}"] = kb / 1024
    return found


def test_a_long_queue_behind_a_concurrency_limit_drains_in_order(fleet) -> None:
    flow = limited_flow(
        "queue", LIMIT,
        "  - id: only\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n",
    )  # fmt: skip
    began = time.monotonic()
    ids = [execution_create(flow=flow).id for _ in range(QUEUED)]
    submitted = time.monotonic()
    wait_for(
        lambda: Execution.objects.filter(id__in=ids, state=State.SUCCESS).count() >= QUEUED // 5,
        timeout=QUEUED * 2,
    )
    warm = rss_mb(fleet)
    done = wait_all_terminal(ids, timeout=QUEUED * 2)
    end = rss_mb(fleet)
    peak = {k: v / 1024 for k, v in fleet.peak_rss().items()}
    growth = {k: end[k] - warm[k] for k in warm if k in end}
    inversions, most = started_order(ids)
    row = record(
        Row(
            f"executions queued at once behind a concurrency limit of {LIMIT}",
            f"{QUEUED} executions of one flow", "none (load only)",
            lost(ids), duplicates(ids), None,
            f"submitted in {submitted - began:.1f} s, all ended after {done - began:.1f} s; "
            f"{inversions} started out of order; at most {most} running; peak RSS "
            + ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(peak.items()))
            + f"; largest RSS growth after warm-up {max(growth.values()):.1f} MB",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert inversions == 0, "executions started out of creation order"
    assert most <= LIMIT
    assert max(growth.values()) < 64, f"memory grew while the queue drained: {growth}"


def test_a_slot_held_by_an_execution_whose_worker_died_is_freed(fleet) -> None:
    fleet.start_worker("slot-1", "wg.chaos-slot", concurrency=1)
    flow = limited_flow(
        "slot", 1,
        "  - id: nap\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT3S\n"
        "    workerGroup:\n      key: chaos-slot\n",
    )  # fmt: skip
    ids = [execution_create(flow=flow).id for _ in range(4)]
    wait_for(lambda: TaskRun.objects.filter(execution_id=ids[0], state=State.RUNNING).exists())
    wait_for(lambda: Execution.objects.filter(id__in=ids[1:], state=State.QUEUED).count() == 3)
    fleet.kill("slot-1", signal.SIGKILL)
    killed = time.monotonic()
    fleet.start_worker("slot-2", "wg.chaos-slot", concurrency=1)
    done = wait_all_terminal(ids, timeout=90)
    inversions, most = started_order(ids)
    first = TaskRun.objects.get(execution_id=ids[0], task_id="nap")
    row = record(
        Row(
            "concurrency slot held by an execution whose worker died",
            "4 executions, limit 1, 3 s task", "SIGKILL of the worker holding the slot",
            lost(ids), duplicates(ids), done - killed,
            "the holder's task re-ran as attempt 2 after its lease; the queue drained in order",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert first.attempts == 2
    assert (inversions, most) == (0, 1)
