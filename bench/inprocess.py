"""One execution driven hop by hop in this process: exact database counts and a profile.

No worker runs while this does: ``drive`` calls the executor's ``advance_execution`` and the
worker's ``run_attempt`` itself, in the order the real processes would, so every SQL statement
of every hop is seen (``CaptureQueriesContext``) and commits are counted at the connection.
The wake-up messages those functions send still go to the broker (that cost is real); they
are purged afterwards. Round trips on PostgreSQL are the statements plus a BEGIN and a COMMIT
per transaction (psycopg2 sends BEGIN on its own).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions.models import TaskRun, TaskRunAttempt
from executions.runtime.advance import advance_execution
from executions.services import execution_create
from executions.worker.attempt import run_attempt
from flows.models import Flow
from kernel.states import TERMINAL, State

#: What Django logs around transactions (``debug_transaction``): round trips, not SQL.
_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})


@dataclass
class Counts:
    """Statements, round trips and transactions of one role, over all its calls.

    Django logs BEGIN and COMMIT with the statements; both are round trips of their own
    (psycopg2 sends BEGIN before the first statement, SQLite's BEGIN IMMEDIATE is explicit).
    """

    calls: int = 0
    statements: int = 0
    round_trips: int = 0
    #: Committed atomic blocks, and statements run alone in autocommit mode.
    atomic: int = 0
    single: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def transactions(self) -> int:
        return self.atomic + self.single

    def add(self, sql: list[str], atomic: int, single: int) -> None:
        self.calls += 1
        self.atomic += atomic
        self.single += single
        for text in sql:
            kind = text.split(None, 1)[0].upper() if text else "?"
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.round_trips += 1
            self.statements += kind not in _CONTROL


@dataclass
class Drive:
    """What one driven execution cost: per role, and its number of task runs."""

    state: str
    task_runs: int
    executor: Counts
    worker: Counts
    #: Wall time of the whole drive (hop bookkeeping included, broker waits excluded).
    seconds: float = 0.0

    @property
    def ms_per_task_run(self) -> float:
        return self.seconds * 1000 / max(self.task_runs, 1)


class _Transactions:
    """Counts transactions on this thread's connection as the server sees them: commits of
    atomic blocks (the statement capture does not see the COMMIT call itself) plus every
    statement run in autocommit mode, each of which is a transaction of its own."""

    def __init__(self) -> None:
        self.commits = 0
        self.single = 0

    @property
    def count(self) -> int:
        return self.commits + self.single

    @contextmanager
    def watching(self) -> Iterator[None]:
        original = connection._commit

        def counted() -> None:
            self.commits += 1
            original()

        def autocommit(execute, sql, params, many, context):  # noqa: ANN001, ANN202
            opening = sql.lstrip()[:5].upper() == "BEGIN"  # SQLite's BEGIN IMMEDIATE
            if not connection.in_atomic_block and not opening:
                self.single += 1
            return execute(sql, params, many, context)

        connection._commit = counted
        try:
            with connection.execute_wrapper(autocommit):
                yield
        finally:
            connection._commit = original


def _measured(call, counts: Counts, txns: _Transactions | None):  # noqa: ANN001, ANN202
    if txns is None:  # profiling: no capture overhead in the numbers
        return call()
    connection.queries_log.clear()  # the capture reads positions in a bounded deque
    before = (txns.commits, txns.single)
    with CaptureQueriesContext(connection) as captured, txns.watching():
        result = call()
    counts.add([q["sql"] for q in captured.captured_queries],
               txns.commits - before[0], txns.single - before[1])  # fmt: skip
    return result


def drive(
    flow: Flow,
    profiler: cProfile.Profile | None = None,
    *,
    count: bool = True,
    reconnect: bool = False,
    max_hops: int = 10_000,
) -> Drive:
    """Run one execution of ``flow`` to its end in this process.

    ``count``: capture every statement and transaction (off for timing and profiling, so the
    capture costs nothing). ``reconnect``: close the connection before every call, as
    Celery's Django fixup does before and after every task, so each call connects anew.
    """
    txns = _Transactions() if count and profiler is None else None
    executor, worker = Counts(), Counts()
    execution = execution_create(flow=flow)
    state: State | None = None

    def call(function, counts: Counts):  # noqa: ANN001, ANN202
        if reconnect:
            connection.close()
        return _measured(function, counts, txns)

    started = time.perf_counter()
    if profiler:
        profiler.enable()
    try:
        for _ in range(max_hops):
            state = call(lambda: advance_execution(execution.id), executor)
            if state is None or state in TERMINAL:
                break
            queued = TaskRunAttempt.objects.filter(execution_id=execution.id, state=State.QUEUED)
            for attempt_id in list(queued.values_list("pk", flat=True)):
                call(lambda a=attempt_id: run_attempt(a), worker)
    finally:
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - started
    runs = TaskRun.objects.filter(execution_id=execution.id).count()
    return Drive(str(state), runs, executor, worker, seconds)


#: Where a hop's time goes: (label, module file, function), read as cumulative time.
HOT_SPOTS = (
    ("executor: advance_execution", "runtime/advance.py", "advance_execution"),
    ("  flow spec lookup (both roles)", "runtime/loading.py", "execution_flow_spec"),
    ("  load_snapshot", "runtime/persistence.py", "load_snapshot"),
    ("  engine.plan", "engine/planner.py", "plan"),
    ("  apply_plan", "runtime/appliers.py", "apply_plan"),
    ("worker: run_attempt", "worker/attempt.py", "run_attempt"),
    ("new DB connections (both roles)", "base/base.py", "connect"),
    ("  close_old_connections", "db/__init__.py", "close_old_connections"),
    ("  claim", "worker/attempt.py", "claim"),
    ("  render_properties", "worker/attempt.py", "render_properties"),
    ("  record", "worker/attempt.py", "record"),
    ("  log flush", "worker/run_context.py", "flush"),
    ("  working dir cleanup", "worker/run_context.py", "cleanup"),
    ("  heartbeat start", "heartbeat.py", "start"),
    ("broker publish (send_task)", "app/base.py", "send_task"),
)


def hot_spots(profiler: cProfile.Profile, task_runs: int) -> list[tuple[str, float, float]]:
    """(label, ms per task run, share of the profiled time) for HOT_SPOTS, plus the time
    spent inside the database driver (own time of its C methods) and in the ORM's SQL
    compiler."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(sum(tt for _, _, tt, _, _ in stats.values()), 1e-9)
    out = []
    for label, filename, function in HOT_SPOTS:
        cum = sum(v[3] for (f, _, name), v in stats.items()
                  if name == function and f.endswith(filename))  # fmt: skip
        out.append((label, cum * 1000 / task_runs, cum / total))
    driver = sum(v[2] for (f, _, name), v in stats.items()
                 if f == "~" and ("sqlite3" in name or "psycopg2" in name))  # fmt: skip
    compiler = sum(v[2] for (f, _, _), v in stats.items() if "/django/db/models/" in f)
    out.append(("database driver (own time)", driver * 1000 / task_runs, driver / total))
    out.append(("Django ORM (models/, own time)", compiler * 1000 / task_runs, compiler / total))
    out.append(("everything profiled", total * 1000 / task_runs, 1.0))
    return out


def profile_text(profiler: cProfile.Profile, top: int = 25) -> str:
    """The costliest functions, by own time and by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    out.write("--- by own time (tottime) ---\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write("--- by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
