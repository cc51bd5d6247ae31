"""The triggers app: Schedule, Flow and Webhook triggers and their backfills."""

from __future__ import annotations

from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Wire the two hooks (flow changed, execution ended) and register the Celery tasks.

        Hooks rather than signals: they are visible here and a failing schedule sync rolls the
        deploy back (see ``flows.services.hooks``).
        """
        # Imported when the app registry is ready: these modules import models.
        from executions.runtime.advance import register_execution_ended
        from flows.services.hooks import register_deploy_warner, register_flow_changed
        from triggers import tasks  # noqa: F401 - registers the Celery tasks with the app
        from triggers.flow_triggers import boundary_warnings
        from triggers.services import on_execution_ended
        from triggers.sync import sync_flow_triggers

        register_flow_changed(sync_flow_triggers)
        register_execution_ended(on_execution_ended)
        register_deploy_warner(boundary_warnings)
