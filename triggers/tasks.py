"""Celery tasks of the triggers app: wake-ups only, each a call to one service.

All are safe to lose, repeat or reorder: the unique keys and the cursors in the database
decide what happens (see ``triggers.schedules`` and ``triggers.polling``). They run on the
``executor`` queue, except a poll, which does I/O and runs on a worker queue.
"""

from __future__ import annotations

from orchestrator.celery import app
from triggers import task_names as names
from triggers.polling import poll_run, polls_due
from triggers.services import backfill_step as step
from triggers.services import recover, schedule_fire


@app.task(name=names.FIRE_SCHEDULE, ignore_result=True)
def fire_schedule(namespace: str, flow_id: str, trigger_id: str) -> int:
    """Beat's tick for one Schedule trigger: start what is due."""

    return len(schedule_fire(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id))


@app.task(name=names.RECOVER_SCHEDULES, ignore_result=True)
def recover_schedules() -> dict[str, int]:
    """The recovery sweep: ticks beat missed and stalled backfills."""

    return recover()


@app.task(name=names.BACKFILL_STEP, ignore_result=True)
def backfill_step(namespace: str, flow_id: str, trigger_id: str) -> bool:
    """One batch of a backfill; queues the next one itself."""

    return step(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id)


@app.task(name=names.POLL_TRIGGERS, ignore_result=True)
def poll_triggers() -> int:
    """Beat's tick for polling triggers: claim the due ones and send their polls."""

    return polls_due()


@app.task(name=names.POLL_TRIGGER, ignore_result=True)
def poll_trigger(namespace: str, flow_id: str, trigger_id: str, token: str) -> int:
    """One poll of one polling trigger, on a worker queue (polls do I/O)."""

    outcome = poll_run(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id, token=token)
    return len(outcome.started)
