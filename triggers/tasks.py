"""Celery tasks of the triggers app: wake-ups only, each a call to one service.

All are safe to lose, repeat or reorder: the unique keys and the cursors in the database
decide what happens (see ``triggers.schedules``). They run on the ``executor`` queue.
"""

from __future__ import annotations

from orchestrator.celery import app


@app.task(name="triggers.tasks.fire_schedule", ignore_result=True)
def fire_schedule(namespace: str, flow_id: str, trigger_id: str) -> int:
    """Beat's tick for one Schedule trigger: start what is due."""
    from triggers.services import schedule_fire

    return len(schedule_fire(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id))


@app.task(name="triggers.tasks.recover_schedules", ignore_result=True)
def recover_schedules() -> dict[str, int]:
    """The recovery sweep: ticks beat missed and stalled backfills."""
    from triggers.services import recover

    return recover()


@app.task(name="triggers.tasks.backfill_step", ignore_result=True)
def backfill_step(namespace: str, flow_id: str, trigger_id: str) -> bool:
    """One batch of a backfill; queues the next one itself."""
    from triggers.services import backfill_step as step

    return step(namespace=namespace, flow_id=flow_id, trigger_id=trigger_id)
