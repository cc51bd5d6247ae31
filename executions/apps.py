from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """A Subflow or ForEachItem into a namespace that does not allow the flow's is a
        deploy warning (issue 21); a hook, as the triggers app's, so flows stays unaware."""
        from executions.subflows import boundary_warnings
        from flows.services.hooks import register_deploy_warner

        register_deploy_warner(boundary_warnings)
