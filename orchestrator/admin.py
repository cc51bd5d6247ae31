"""API tokens in the admin: create one (its key is shown once), revoke, see when it was used."""

from __future__ import annotations

from django.contrib import admin, messages

from orchestrator.admin_site import make_read_only
from orchestrator.api.tokens import new_key, store_key
from orchestrator.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "user",
        "name",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked",
    ]
    list_filter = ["revoked"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = ["user", "name", "expires_at", "revoked", "prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if not change:
            key = new_key()
            store_key(obj, key)
            super().save_model(request, obj, form, change)
            messages.warning(request, f"Token key (copy it now, it is not shown again): {key}")
            return
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = queryset.update(revoked=True)
        self.message_user(request, f"{count} token(s) revoked.")


# django-celery-beat's rows are written by the trigger sync (``orchestrator.admin_site``).
make_read_only(admin.site, "django_celery_beat")
