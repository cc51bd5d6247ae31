"""Broker messages: wake-ups only. Every one of them is safe to lose, repeat or reorder,
because the database says what is true (see DESIGN.md, "Processes")."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

EXECUTOR_QUEUE = "executor"


def wake_executor(execution_id: str) -> None:
    """Ask the executor to plan this execution, once the current transaction commits."""
    from executions.tasks import advance

    transaction.on_commit(lambda: advance.apply_async((execution_id,), queue=EXECUTOR_QUEUE))


def send_attempts(attempts: Iterable) -> None:
    """Send attempts to their worker queues once the current transaction commits."""
    from executions.tasks import run_attempt

    pending = [(a.pk, a.queue) for a in attempts]
    if not pending:
        return

    def send() -> None:
        for pk, queue in pending:
            run_attempt.apply_async((pk,), queue=queue)

    transaction.on_commit(send)
