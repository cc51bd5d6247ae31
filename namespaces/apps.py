from django.apps import AppConfig


class NamespacesConfig(AppConfig):
    name = "namespaces"
    verbose_name = "Namespaces"
    default_auto_field = "django.db.models.BigAutoField"
