from django.apps import AppConfig
from django.core.signals import setting_changed


class ExecutionsConfig(AppConfig):
    name = "executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """A Subflow or ForEachItem into a namespace that does not allow the flow's is a
        deploy warning (issue 21); a hook, as the triggers app's, so flows stays unaware."""
        from executions.runtime.subflows import boundary_warnings
        from flows.services.hooks import register_deploy_warner

        register_deploy_warner(boundary_warnings)
        _install_use_cases()
        _configure_kernel()
        setting_changed.connect(_reconfigure)


def _configure_kernel() -> None:
    """The kernel reads no settings: it is handed the few values it needs (issue 16)."""
    from django.conf import settings

    from kernel import secrets

    secrets.configure(
        encryption_key=getattr(settings, "TRELLIS_ENCRYPTION_KEY", "") or "",
        secret_key=settings.SECRET_KEY,
    )


def _reconfigure(*, setting: str, **_: object) -> None:
    if setting in ("TRELLIS_ENCRYPTION_KEY", "SECRET_KEY"):
        _configure_kernel()


def _install_use_cases() -> None:
    """The runtime calls a few use cases back (a Subflow creates its child): it gets them
    here rather than importing the services that call it (``executions.runtime.ports``)."""
    from executions import services
    from executions.runtime import ports
    from executions.runtime.advance import register_execution_ended
    from executions.services.records import ExecutionRecords
    from executions.services.retry_executions import retry_as_new_execution

    ports.install(
        ports.UseCases(
            create_execution=services.execution_create,
            resume_execution=services.execution_resume,
            records=ExecutionRecords,
        )
    )
    register_execution_ended(retry_as_new_execution)
