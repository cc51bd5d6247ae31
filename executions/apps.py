import os

from django.apps import AppConfig
from django.conf import settings

from kernel import config


class ExecutionsConfig(AppConfig):
    name = "executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """A Subflow or ForEachItem into a namespace that does not allow the flow's is a
        deploy warning (issue 21); a hook, as the triggers app's, so flows stays unaware."""
        # Imported when the app registry is ready: these modules import models.
        from executions.runtime.subflows import boundary_warnings
        from flows.services.hooks import register_deploy_warner

        _configure_kernel()
        register_deploy_warner(boundary_warnings)
        _install_use_cases()


def _configure_kernel() -> None:
    """The kernel and plugins read no framework: they are handed a settings lookup (issue
    16), read at each call so that ``override_settings`` in tests is seen; a name the settings
    do not define is read from the environment, as plugins always did."""
    config.configure(lambda name, default: getattr(settings, name, os.environ.get(name, default)))


def _install_use_cases() -> None:
    """The runtime calls a few use cases back (a Subflow creates its child): it gets them
    here rather than importing the services that call it (``executions.runtime.ports``)."""
    # Imported when the app registry is ready: these modules import models.
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
