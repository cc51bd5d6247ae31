"""Celery task of the worker role (queue ``default`` or ``wg.<key>``): thin wrapper."""

from __future__ import annotations

from orchestrator.celery import app


@app.task(
    name="executions.worker.run_attempt",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def run_attempt(attempt_id: int) -> str | None:
    """Claim and run one task-run attempt (a duplicate delivery does nothing)."""
    from executions.runtime_worker import run_attempt as run

    state = run(attempt_id)
    return str(state) if state else None
