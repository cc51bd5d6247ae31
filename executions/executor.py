"""Celery tasks of the executor role (queue ``executor``): thin wrappers over runtime."""

from __future__ import annotations

from orchestrator.celery import app


@app.task(name="executions.executor.advance", ignore_result=True)
def advance(execution_id: str) -> str | None:
    """Plan and apply one execution (a wake-up: safe to repeat or lose)."""
    from executions.runtime import advance_execution

    state = advance_execution(execution_id)
    return str(state) if state else None


@app.task(name="executions.executor.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Recover lost attempts and wake due or quiet executions (run by beat)."""
    from executions.runtime import sweep as do_sweep

    return do_sweep()
