"""The admin as Trellis's control room: its own name, a sidebar of Trellis's things, and the
framework's internals out of the way.

Django admin stays the framework (server-rendered, permission-aware, tested); this site only
changes what a user sees first. Django's user and group tables and django-celery-beat's
schedule rows are machinery: ordinary staff never see them, and superusers find them together
in a "System" section at the end of the sidebar and the index. Beat's rows are written by the
trigger sync (``triggers/sync.py``), so they are read-only for everyone: an edit there would
be overwritten at the next sync, or worse, fire a flow on a schedule no flow declares.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

#: Apps shown only to superusers, under "System".
SYSTEM_APPS = ("auth", "django_celery_beat")
SYSTEM_LABEL = "system"


class TrellisAdminSite(admin.AdminSite):
    site_header = "Trellis"
    site_title = "Trellis"
    index_title = "Control room"
    #: No "View site" link: the admin is the site (``/`` redirects here).
    site_url = None

    def get_urls(self) -> list[Any]:
        from django.urls import path
        from django.views.generic import RedirectView

        from flows.admin_tests import tests_view  # loaded with INSTALLED_APPS: no models yet

        own = [
            path("flows/flow/<path:object_id>/tests/", self.admin_view(tests_view),
                 name="flows_flow_tests"),
            # Namespace moved from flows to namespaces (issue 16): old bookmarks still land.
            path("flows/namespace/", RedirectView.as_view(
                pattern_name="admin:namespaces_namespace_changelist", query_string=True,
                permanent=True)),
        ]  # fmt: skip
        return [*own, *super().get_urls()]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        system = [app for app in apps if app["app_label"] in SYSTEM_APPS]
        rest = [app for app in apps if app["app_label"] not in SYSTEM_APPS]
        if not system or not request.user.is_superuser:
            return rest
        if app_label is not None:  # an app's own index page: keep it as it is
            return apps
        models = [
            {**model, "name": f"{model['name']} (beat schedules)"}
            if app["app_label"] == "django_celery_beat" else model
            for app in system
            for model in app["models"]
        ]  # fmt: skip
        section = {
            "name": "System",
            "app_label": SYSTEM_LABEL,
            "app_url": system[0]["app_url"],
            "has_module_perms": True,
            "models": models,
        }
        return [*rest, section]


class TrellisAdminConfig(AdminConfig):
    """``django.contrib.admin`` with :class:`TrellisAdminSite` as ``admin.site``."""

    default_site = "orchestrator.admin_site.TrellisAdminSite"


class ReadOnlyAdminMixin:
    """View only: the rows belong to Trellis's own sync."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def make_read_only(site: admin.AdminSite, app_label: str) -> None:
    """Register every model of ``app_label`` again with a read-only copy of its admin."""
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != app_label:
            continue
        cls = type(model_admin)
        read_only = type(f"ReadOnly{cls.__name__}", (ReadOnlyAdminMixin, cls), {"actions": []})
        site.unregister(model)
        site.register(model, read_only)
