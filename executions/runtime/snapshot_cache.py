"""The executor's memory of the task runs it last wrote, so a hop reads only what moved.

Reading every task run on every hop made a hop's cost grow with the execution (a ForEach
over 1,000 values read 1,000 rows a thousand times). After a hop commits, the executor
process keeps the task runs as it left them, stamped with the execution's ``version``. The
next hop of that execution in the same process takes them back if no ended run has changed
since (``take``) and reads again only the runs that had not ended, plus any newer run
(``persistence.load_snapshot(known=...)``).

Why that is enough (docs/architecture.md, "Incremental snapshots in the executor"): every
writer that can delete or change an *ended* task run (the executor's ``apply_plan``,
restart, set-state, resume, kill...) holds the execution row lock and bumps ``version``, and
records that version as ``settled_version``; new runs have a higher ``seq`` than any
remembered one.
Writers that do not (a worker claiming or recording an attempt, the sweeper recovering a lost
one, a subflow's end) only change runs that have not ended, and those are always read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from executions.models import Execution
from kernel.engine.snapshot import TaskRunSnapshot
from kernel.lru import LRU

#: Executions remembered per process, and task runs remembered in all (about 0.7 kB each).
MAX_EXECUTIONS = 256
MAX_RUNS = 50_000

_known: LRU[str, tuple[Any, int, tuple[TaskRunSnapshot, ...]]] = LRU(
    MAX_EXECUTIONS, max_weight=MAX_RUNS, weight=lambda entry: len(entry[2]) + 1
)


_counts = {"hits": 0, "misses": 0}


def take(execution: Execution) -> tuple[TaskRunSnapshot, ...] | None:
    """The task runs remembered for ``execution`` (locked by the caller) if they are still
    valid, else None. The entry is removed either way: it is put back only by a hop that
    commits.

    Valid: remembered at a version no older than the last change to an ended run
    (``settled_version``). Hops since, by another executor process, only created runs or
    moved unfinished ones, and those are read again; so the hops of one execution can
    alternate between prefork children without each reading every run again."""
    entry = _known.pop(execution.id)
    if (
        entry is None
        or entry[0] != execution.created_at
        or not execution.settled_version <= entry[1] <= execution.version
    ):
        _counts["misses"] += 1
        return None
    _counts["hits"] += 1
    return entry[2]


def keep_on_commit(execution: Execution, runs: Sequence[TaskRunSnapshot]) -> None:
    """Remember ``runs`` as the task runs of ``execution`` at its current version, once the
    current transaction commits (a rolled-back hop leaves nothing behind)."""
    entry = (execution.created_at, execution.version, tuple(runs))
    transaction.on_commit(lambda: _known.put(execution.id, entry))


def forget_all() -> None:
    _known.clear()


def stats() -> dict[str, int]:
    """Hits and misses of ``take`` in this process (for the benchmark)."""
    return dict(_counts)
