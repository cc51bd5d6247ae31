"""The names of the triggers app's Celery tasks: senders use them so they need not import
``triggers.tasks`` (which calls them back). They are strings brokers hold: never renamed."""

FIRE_SCHEDULE = "triggers.tasks.fire_schedule"
RECOVER_SCHEDULES = "triggers.tasks.recover_schedules"
BACKFILL_STEP = "triggers.tasks.backfill_step"
POLL_TRIGGERS = "triggers.tasks.poll_triggers"
POLL_TRIGGER = "triggers.tasks.poll_trigger"
