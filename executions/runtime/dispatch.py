"""Broker messages: wake-ups only. Every one of them is safe to lose, repeat or reorder,
because the database says what is true (see DESIGN.md, "Processes").

Messages are sent by task name, so the runtime never imports the Celery task modules (the
adapters that call it): the names below are the ones ``executions.tasks`` registers, and the
strings brokers hold, kept from the modules the tasks first lived in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from orchestrator.celery import app

EXECUTOR_QUEUE = "executor"
ADVANCE = "executions.executor.advance"
SWEEP = "executions.executor.sweep"
RUN_ATTEMPT = "executions.worker.run_attempt"


def send(name: str, args: Sequence[Any], *, queue: str, countdown: float | None = None) -> None:
    """Send one message now. Callers wrap it in ``transaction.on_commit`` in a lambda of their
    own, so a test capturing the callbacks can tell a wake-up from a backfill step."""
    app.send_task(name, tuple(args), queue=queue, countdown=countdown)


def wake_executor(execution_id: str) -> None:
    """Ask the executor to plan this execution, once the current transaction commits."""
    transaction.on_commit(lambda: send(ADVANCE, (execution_id,), queue=EXECUTOR_QUEUE))


def send_attempts(attempts: Iterable) -> None:
    """Send attempts to their worker queues once the current transaction commits."""
    pending = [(a.pk, a.queue) for a in attempts]
    if not pending:
        return

    def send_all() -> None:
        for pk, queue in pending:
            send(RUN_ATTEMPT, (pk,), queue=queue)

    transaction.on_commit(send_all)
