"""The executions admin: the list (filters, badges, durations, bulk actions), the execution
page and its JSON/file endpoints, and the dashboard on the admin index.

Everything here translates requests into service calls (``executions.services``); the pages
themselves live in ``admin_views`` (execution page), ``admin_logs`` (log endpoint),
``admin_actions`` (buttons of the execution page) and ``admin_dashboard``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from access.policy import AccessDenied, readable
from executions.admin import actions as admin_actions
from executions.admin import dashboard as admin_dashboard
from executions.admin import logs as admin_logs
from executions.admin import views as admin_views
from executions.admin.common import duration, format_duration, trigger_label
from executions.admin.filters import (
    CreatedRangeFilter,
    FlowFilter,
    LabelFilter,
    NamespacePrefixFilter,
    TriggerTypeFilter,
)
from executions.models import Execution
from executions.services import ExecutionError, execution_kill, execution_restart
from executions.services.actions import NotFinished, execution_delete
from executions.templatetags.trellis_admin import when
from kernel.states import TERMINAL, IllegalTransition

# The admin index is the dashboard (issue 7): the app list stays, the panel comes first.
admin.site.index_template = "admin/executions/dashboard.html"


def state_badge(state: str) -> str:
    """A coloured pill for ``state``, the same on every page (see ``admin.css``)."""
    return format_html('<span class="trellis-badge state-{}">{}</span>', state, state)


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["short_id", "flow", "state_display", "trigger_kind", "label_list",
                    "created", "duration_display"]  # fmt: skip
    list_display_links = ["short_id"]
    list_filter = ["state", NamespacePrefixFilter, FlowFilter, LabelFilter, TriggerTypeFilter,
                   CreatedRangeFilter]  # fmt: skip
    search_fields = ["^id"]
    search_help_text = "execution id (or its first characters)"
    list_per_page = 50
    actions = ["kill_executions", "restart_executions", "delete_selected"]
    ordering = ["-created_at"]

    class Media:
        css = {"all": ["executions/admin.css"]}
        js = ["executions/admin.js"]  # local dates, ticking durations

    def get_queryset(self, request):
        """Only executions in namespaces the user may read (issue 6)."""
        return readable(super().get_queryset(request), request.user)

    # --- list columns -----------------------------------------------------------------------

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: Execution) -> str:
        return format_html('<code title="{}">{}</code>', obj.id, obj.id[:8])

    @admin.display(description="flow", ordering="flow_id")
    def flow(self, obj: Execution) -> str:
        return format_html("{}.<strong>{}</strong> <small>rev {}</small>",
                           obj.namespace, obj.flow_id, obj.flow_revision)  # fmt: skip

    @admin.display(description="state", ordering="state")
    def state_display(self, obj: Execution) -> str:
        return state_badge(obj.state)

    @admin.display(description="trigger")
    def trigger_kind(self, obj: Execution) -> str:
        if not obj.trigger:
            return "manual"
        return f"{trigger_label(obj.trigger.get('type'))} ({obj.trigger.get('id', '')})"

    @admin.display(description="labels")
    def label_list(self, obj: Execution) -> str:
        pairs = [(k, v) for k, v in (obj.labels or {}).items() if not k.startswith("system.")]
        return format_html_join(" ", '<span class="trellis-label">{}: {}</span>', pairs)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: Execution) -> str:
        return when(obj.created_at)

    @admin.display(description="duration")
    def duration_display(self, obj: Execution) -> str:
        text = format_duration(duration(obj.started_at, obj.ended_at, timezone.now()))
        elapsed = admin_views.running_seconds(obj.started_at, obj.ended_at, obj.state)
        if elapsed is None:
            return text
        return format_html('<span data-trellis-elapsed="{}">{}</span>', f"{elapsed:.3f}", text)

    # --- permissions: executions are created by running a flow, never by a form -------------

    def has_add_permission(self, request) -> bool:
        return False

    def get_deleted_objects(self, objs, request):
        """A short summary instead of Django's walk over every related row (an execution may
        have 100,000 log lines); running executions are "protected": kill them first."""
        objs = list(objs)
        protected = [f"{e} (still {e.state}: kill it first)" for e in objs
                     if e.state not in TERMINAL]  # fmt: skip
        deleted = [str(e) for e in objs if e.state in TERMINAL]
        return deleted, {"executions": len(deleted)}, set(), protected

    def delete_model(self, request, obj: Execution) -> None:
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset) -> None:
        for execution in queryset:
            try:
                execution_delete(execution, actor=request.user)
            except (NotFinished, AccessDenied) as exc:
                self.message_user(request, str(exc), messages.ERROR)

    # --- bulk actions -----------------------------------------------------------------------

    @admin.action(description="Kill selected executions", permissions=["change"])
    def kill_executions(self, request, queryset) -> None:
        count = 0
        for execution in queryset:
            if execution.state in TERMINAL:
                self.message_user(request, f"{execution.id}: already {execution.state}",
                                  messages.WARNING)  # fmt: skip
                continue
            try:
                execution_kill(execution, actor=request.user)
            except AccessDenied as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            count += 1
        self.message_user(request, f"Kill requested for {count} execution(s).", messages.SUCCESS)

    @admin.action(description="Restart selected executions", permissions=["change"])
    def restart_executions(self, request, queryset) -> None:
        count = 0
        for execution in queryset:
            try:
                execution_restart(execution, actor=request.user)
                count += 1
            except (ExecutionError, IllegalTransition, AccessDenied) as exc:
                self.message_user(request, str(exc), messages.ERROR)
        self.message_user(request, f"{count} execution(s) restarted.", messages.SUCCESS)

    # --- the execution page and its endpoints ----------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return admin_views.execution_page(self, request, object_id)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        own = [
            path("dashboard/panel/", wrap(admin_dashboard.dashboard_panel),
                 name="executions_dashboard_panel"),
            path("<str:object_id>/logs.json", wrap(self.logs_json),
                 name="executions_execution_logs"),
            path("<str:object_id>/state.json", wrap(self.state_json),
                 name="executions_execution_state"),
            path("<str:object_id>/file/", wrap(self.file_view),
                 name="executions_execution_file"),
            path("<str:object_id>/do/<str:action>/", wrap(self.action_view),
                 name="executions_execution_action"),
        ]  # fmt: skip
        return own + super().get_urls()

    def logs_json(self, request, object_id):
        return admin_logs.logs_json(request, admin_views.execution_for(self, request, object_id))

    def state_json(self, request, object_id):
        return admin_logs.state_json(request, admin_views.execution_for(self, request, object_id))

    def file_view(self, request, object_id):
        return admin_views.file_download(
            request, admin_views.execution_for(self, request, object_id)
        )

    def action_view(self, request, object_id, action: str):
        execution = admin_views.execution_for(self, request, object_id)
        return admin_actions.dispatch(self, request, execution, action)


def execution_url(execution_id: str) -> str:
    """The execution page's address."""
    return reverse("admin:executions_execution_change", args=[execution_id])
