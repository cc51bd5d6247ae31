"""Celery tasks: thin wrappers over the runtime. The executor role's (queue ``executor``) plan
and sweep; the worker role's (queue ``default`` or ``wg.<key>``) runs one attempt.

Their names are strings brokers hold, so they keep the names of the modules they once lived in."""

from __future__ import annotations

from executions.runtime import advance as runtime
from executions.runtime.dispatch import ADVANCE, RUN_ATTEMPT, SWEEP
from executions.worker.attempt import run_attempt as run
from orchestrator.celery import app


@app.task(name=ADVANCE, ignore_result=True)
def advance(execution_id: str) -> str | None:
    """Plan and apply one execution (a wake-up: safe to repeat or lose). Looked up on the
    module at each call, so the chaos suite's commit faults (tests/chaos/faults.py) apply."""
    state = runtime.advance_execution(execution_id)
    return str(state) if state else None


@app.task(name=SWEEP, ignore_result=True)
def sweep() -> dict[str, int]:
    """Recover lost attempts and wake due or quiet executions (run by beat)."""
    return runtime.sweep()


@app.task(
    name=RUN_ATTEMPT,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def run_attempt(attempt_id: int) -> str | None:
    """Claim and run one task-run attempt (a duplicate delivery does nothing)."""

    state = run(attempt_id)
    return str(state) if state else None
