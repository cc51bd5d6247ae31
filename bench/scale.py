"""The ``scale`` scenario: throughput as processes are added to each role (issue 19).

200 executions of the 3-task flow, created at once, on 1, 2 and 4 task-worker processes and
1 and 2 executor processes (each prefork with two children, as ``bench/workers.py`` starts
every worker), the best of two runs. A fresh set of processes per combination, warmed up before it counts, so one
combination's caches never help the next. PostgreSQL only: SQLite takes one writer at a time,
so more processes only queue on its lock.
"""

from __future__ import annotations

import time

from bench.report import Row
from bench.scenarios import wait_terminal
from executions.models import Execution
from executions.services import execution_create
from flows.models import Flow
from kernel.states import State

TASK_WORKERS = (1, 2, 4)
EXECUTORS = (1, 2)
COUNT = 200
#: Runs per combination, the best one reported: on a shared 2-core machine one run swings
#: by a third, which would hide the trend the table is for.
SAMPLES = 2


def _rate(flow: Flow, count: int) -> tuple[float, int]:
    """(seconds, SUCCESS count) for ``count`` executions created back to back."""
    started = time.perf_counter()
    ids = [execution_create(flow=flow).id for _ in range(count)]
    wait_terminal(ids, 300, poll=0.02)
    seconds = time.perf_counter() - started
    return seconds, Execution.objects.filter(pk__in=ids, state=State.SUCCESS).count()


def scale(backend: str, workers, flows: dict[str, Flow]) -> list[Row]:  # noqa: ANN001
    """One row per (task workers, executors): executions and task runs per second."""
    if backend != "postgres":
        return [Row(backend, "scale", None, "", error="skipped: PostgreSQL only")]
    workers.stop_all()  # the scenarios before left one of each running
    rows: list[Row] = []
    for executors in EXECUTORS:
        for task_workers in TASK_WORKERS:
            label = f"scale: {task_workers} task worker{'s' if task_workers > 1 else ''} x " \
                    f"{executors} executor{'s' if executors > 1 else ''}"  # fmt: skip
            workers.start_trellis(executors=executors, task_workers=task_workers)
            try:
                # Every pool child imports, connects and parses the flow before it counts.
                _rate(flows["seq3"], 4 * (executors + task_workers))
                samples = [_rate(flows["seq3"], COUNT) for _ in range(SAMPLES)]
            finally:
                workers.stop_all()
            seconds, ok = min(samples)
            times = " / ".join(f"{s:.2f}" for s, _ in samples)
            rows.append(Row(backend, label, COUNT / seconds, "exec/s",
                            details=f"{COUNT * 3 / seconds:.0f} task runs/s; best of {times} s; "
                            f"{ok}/{COUNT} SUCCESS; {2 * (executors + task_workers)} pool "
                            "processes on 2 cores",
                            error="" if ok == COUNT else f"{COUNT - ok} not SUCCESS"))  # fmt: skip
    return rows
