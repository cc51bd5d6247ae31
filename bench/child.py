"""The measuring half of ``bench/run.py``: runs inside one backend's environment.

Order matters: the in-process counts and profile run first (no worker may steal their
messages), the bare-Celery floor next on its own workers, then the Trellis workers start and
the scenarios run; PostgreSQL's transaction count comes last because it restarts the
workers. Rows are written to ``result`` after every scenario, so an interrupted run still
reports what it measured.
"""

from __future__ import annotations

import cProfile
import json
import traceback
from collections.abc import Callable
from pathlib import Path

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench import inprocess, items, scale, scenarios  # noqa: E402
from bench.report import Row  # noqa: E402
from bench.workers import Workers  # noqa: E402
from flows.models import Flow  # noqa: E402
from orchestrator.supervisor import purge_broker  # noqa: E402

TRELLIS_SCENARIOS = ("sequential", "throughput", "parallel", "foreach", "foreach_item_100k")


def queries(backend: str, flows: dict[str, Flow]) -> list[Row]:
    """Exact statements, round trips and transactions per task run (20-task flow), then
    a profile of the same flow and where its time goes."""
    from executions.runtime import snapshot_cache

    reused = snapshot_cache.stats()["hits"]
    driven = inprocess.drive(flows["seq20"])
    reused = snapshot_cache.stats()["hits"] - reused
    ex, wk, runs = driven.executor, driven.worker, driven.task_runs
    kinds = {k: ex.kinds.get(k, 0) + wk.kinds.get(k, 0) for k in {*ex.kinds, *wk.kinds}}
    per_role = (
        f"executor {ex.statements / ex.calls:.1f} SQL + {ex.transactions / ex.calls:.1f} txn "
        f"per advance ({ex.calls} advances); worker {wk.statements / wk.calls:.1f} SQL + "
        f"{wk.transactions / wk.calls:.1f} txn per run ({wk.calls} runs); {reused} of "
        f"{ex.calls} advances read only the task runs that moved"
    )
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    kept = inprocess.drive(flows["seq20"], count=False)
    fresh = inprocess.drive(flows["seq20"], count=False, reconnect=True)
    profiler = cProfile.Profile()
    profiled = inprocess.drive(flows["seq20"], profiler=profiler, reconnect=True)
    text = inprocess.profile_text(profiler)
    (settings.TRELLIS_HOME / f"profile-{backend}.txt").write_text(text)
    spots = inprocess.hot_spots(profiler, profiled.task_runs)
    print(f"[{backend}] profile of one 20-task execution driven in-process, reconnecting "
          f"per call ({profiled.task_runs} task runs, {profiled.state}):\n{text}")  # fmt: skip
    print(f"[{backend}] where a task run's time goes (profiled, so slower than real):")
    for label, ms, share in spots:
        print(f"[{backend}]   {label:<34} {ms:7.2f} ms  {share:6.1%}")
    purge_broker()  # the wake-ups these hops sent: nobody is meant to act on them
    top = "; ".join(f"{label.strip()} {ms:.2f}" for label, ms, _ in spots[:-1])
    calls = (ex.calls + wk.calls) / runs
    return [
        Row(backend, "SQL statements per task run (in-process, exact)",
            (ex.statements + wk.statements) / runs, "stmts", details=f"{per_role}; {mix}"),
        Row(backend, "DB round trips per task run (SQL + BEGIN/COMMIT)",
            (ex.round_trips + wk.round_trips) / runs, "trips"),
        Row(backend, "DB transactions per task run (in-process, exact)",
            (ex.transactions + wk.transactions) / runs, "txn",
            details=f"{(ex.atomic + wk.atomic) / runs:.2f} atomic blocks + "
            f"{(ex.single + wk.single) / runs:.2f} statements in autocommit; "
            f"{driven.task_runs} task runs, execution {driven.state}"),
        Row(backend, "in-process time per task run, connection kept", kept.ms_per_task_run,
            "ms", details="advance + run_attempt called directly: no broker, no waiting"),
        Row(backend, "in-process time per task run, reconnecting", fresh.ms_per_task_run, "ms",
            details=f"a new DB connection per call ({calls:.2f} per task run), as Celery's "
            "Django fixup closes it before and after every task"),
        Row(backend, "profiled time per task run (reconnecting)", spots[-1][1], "ms",
            details=f"ms per task run under cProfile: {top}"),
    ]  # fmt: skip


def measure(backend: str, wanted: list[str], result: Path) -> None:
    rows: list[Row] = []
    workers = Workers(settings.TRELLIS_HOME / "logs")

    def step(name: str, call: Callable[[], list[Row]]) -> list[Row]:
        if name not in wanted:
            return []
        print(f"[{backend}] {name}...", flush=True)
        try:
            got = call()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the rest
            traceback.print_exc()
            got = [Row(backend, name, None, "", error=f"{type(exc).__name__}: {exc}"[:200])]
        finally:
            connection.close()
        rows.extend(got)
        for row in got:
            print(f"[{backend}]   {row.scenario}: {row.measured()}", flush=True)
        result.write_text(json.dumps([r.to_json() for r in rows], indent=1))
        return got

    try:
        purge_broker()
        flows = scenarios.deploy_all()
        step("queries", lambda: queries(backend, flows))
        floors = step("floor", lambda: scenarios.floor(backend, workers))
        skeleton = step("skeleton", lambda: scenarios.skeleton_floor(backend, workers))
        if any(name in wanted for name in TRELLIS_SCENARIOS):
            workers.start_trellis()
            scenarios.warm_up(flows)
        step("sequential", lambda: scenarios.sequential_overhead(backend, flows, floors, skeleton))
        step("throughput", lambda: scenarios.throughput(backend, flows, skeleton))
        step("parallel", lambda: scenarios.parallel_100(backend, flows))
        step("foreach", lambda: scenarios.for_each_growth(backend, flows))
        step("foreach_item_100k", lambda: items.foreach_item_100k(backend, workers))
        if backend == "postgres":
            from bench.pgstats import transactions_per_task_run

            step("transactions", lambda: transactions_per_task_run(backend, workers,
                                                                   flows["seq20"]))  # fmt: skip
        step("scale", lambda: scale.scale(backend, workers, flows))
    finally:
        workers.stop_all()
