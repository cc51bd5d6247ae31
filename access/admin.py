"""Granting namespace access in the admin (superusers and staff with the model's permissions)."""

from __future__ import annotations

from django.contrib import admin

from access.models import NamespaceGrant


@admin.register(NamespaceGrant)
class NamespaceGrantAdmin(admin.ModelAdmin):
    list_display = ("namespace", "permission", "user", "group", "created_at")
    list_filter = ("permission",)
    search_fields = ("namespace", "user__username", "group__name")
    autocomplete_fields = ("user", "group")
    ordering = ("namespace", "permission")
