"""Admin for the flow catalogue. Every change goes through ``flows.services``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from access.policy import readable
from executions.admin.execute import execute_view
from executions.admin.topology import topology_svg
from executions.models import Execution
from executions.templatetags.trellis_admin import when
from flows import confidential
from flows.forms import FlowSourceForm
from flows.graph import flow_graph
from flows.models import Flow, FlowLabel, FlowRevision
from flows.selectors import flow_revisions
from flows.services import (
    FlowError,
    flow_delete,
    flow_deploy,
    flow_revision_restore,
    flow_revisions_diff,
    flow_set_disabled,
)
from flows.services.deploy import parse_source
from kernel.spec.model import SpecError
from namespaces.models import Namespace

SOURCE_CHANGE_FORM = "admin/flows/source_change_form.html"

#: What "Add flow" opens with: a small flow that validates, to be renamed and extended.
STARTER_FLOW = """\
id: hello_world
namespace: company.team
description: A starter flow. Rename it, add tasks (Ctrl-Space completes), Ctrl-S saves.

inputs:
  - id: name
    type: STRING
    defaults: world

tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "Hello, {{ inputs.name }}!"
"""


class NamespacePrefixFilter(admin.SimpleListFilter):
    title = "namespace (and inside)"
    parameter_name = "namespace"

    def lookups(self, request, model_admin):
        return [
            (name, f"{'  ' * name.count('.')}{name}")
            for name in Namespace.objects.order_by("name").values_list("name", flat=True)
        ]

    def queryset(self, request, queryset):
        return queryset.in_namespace(self.value()) if self.value() else queryset


class LabelFilter(admin.SimpleListFilter):
    title = "label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        pairs = (
            FlowLabel.objects.order_by("key", "value").values_list("key", "value").distinct()[:200]
        )
        return [(f"{k}={v}", f"{k}: {v}") for k, v in pairs]

    def queryset(self, request, queryset):
        if not self.value() or "=" not in self.value():
            return queryset
        key, value = self.value().split("=", 1)
        return queryset.with_labels({key: value})


class DeletedFilter(admin.SimpleListFilter):
    """Deleted flows are history: hidden from the list unless asked for (issue 20)."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("yes", "Deleted only"), ("all", "All")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Live only",
        }
        yield from list(super().choices(changelist))[1:]  # without Django's "All" (= live)

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted=self.value() == "yes")


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    form = FlowSourceForm
    change_form_template = SOURCE_CHANGE_FORM
    list_display = [
        "flow_id",
        "namespace",
        "revision",
        "status",
        "last_execution",
        "label_list",
        "updated",
    ]
    list_filter = [NamespacePrefixFilter, LabelFilter, "disabled", DeletedFilter]
    list_select_related = ["namespace"]
    search_fields = ["flow_id", "description", "namespace__name"]
    actions = ["enable_flows", "disable_flows"]
    readonly_fields = ["namespace", "flow_id", "revision", "status", "label_list"]

    class Media:
        css = {"all": ["executions/admin.css"]}
        js = ["executions/admin.js"]  # local dates

    def get_queryset(self, request):
        """Only flows in namespaces the user may read (issue 6), each with its latest
        execution's state and time for the list."""

        latest = Execution.objects.filter(
            namespace=OuterRef("namespace__name"), flow_id=OuterRef("flow_id")
        ).order_by("-created_at")
        flows = (
            super()
            .get_queryset(request)
            .prefetch_related("labels")
            .annotate(
                last_state=Subquery(latest.values("state")[:1]),
                last_created=Subquery(latest.values("created_at")[:1]),
                last_id=Subquery(latest.values("id")[:1]),
            )
        )
        return readable(flows, request.user, "namespace__name")

    @admin.display(description="status")
    def status(self, obj: Flow) -> str:
        """Only what needs attention is marked: a normal (enabled) flow shows nothing."""
        if obj.deleted:
            return format_html('<span class="trellis-flag {}">{}</span>', "deleted", "deleted")
        if obj.disabled:
            return format_html('<span class="trellis-flag {}">{}</span>', "disabled", "disabled")
        return format_html('<span class="trellis-note">{}</span>', "enabled")

    @admin.display(description="last execution", ordering="last_created")
    def last_execution(self, obj: Flow) -> str:
        if not getattr(obj, "last_id", None):
            return format_html('<span class="trellis-note">{}</span>', "never run")
        return format_html(
            '<a href="{}"><span class="trellis-badge state-{}">{}</span></a> {}',
            reverse("admin:executions_execution_change", args=[obj.last_id]),
            obj.last_state,
            obj.last_state,
            when(obj.last_created),
        )

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: Flow) -> str:
        return when(obj.updated_at)

    def get_changeform_initial_data(self, request) -> dict:
        """A starter flow on "Add flow" (``?source=`` still wins, as for any admin field)."""
        return {"source": STARTER_FLOW, **super().get_changeform_initial_data(request)}

    def get_fields(self, request, obj=None):
        return ["source"] if obj is None else [*self.readonly_fields, "source"]

    def get_object(self, request, object_id, from_field=None):
        """The flow, its Webhook keys masked in the source for a user who may not write
        it (issue 21); saving that source is refused by the deploy's write check anyway."""
        flow = super().get_object(request, object_id, from_field)
        if flow is not None and not confidential.may_see(request.user, flow.namespace.name):
            flow.source = confidential.hide_in_text(
                flow.source, confidential.credentials_of_source(flow.source)
            )
        return flow

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="labels")
    def label_list(self, obj: Flow) -> str:
        return ", ".join(f"{label.key}: {label.value}" for label in obj.labels.all())

    # --- saving and deleting through services ---------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        try:
            result = flow_deploy(source=form.cleaned_data["source"], author=request.user)
        except SpecError as exc:  # a race the form could not see (another deploy meanwhile)
            raise PermissionDenied(str(exc))
        obj.pk = result.flow.pk
        obj.__dict__.update(
            {k: v for k, v in result.flow.__dict__.items() if not k.startswith("_")}
        )
        if not result.changed:
            messages.info(request, "The source is unchanged: no new revision.")
        else:
            messages.info(request, f"{result.flow} is now at revision {result.revision}.")
        for warning in result.warnings:
            messages.warning(request, f"line {warning.line}, col {warning.col}: {warning.message}")

    def save_related(self, request, form, formsets, change) -> None:
        """Labels and revisions are written by the service, not by the admin."""

    def delete_model(self, request, obj) -> None:
        flow_delete(flow=obj, author=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for flow in queryset.filter(deleted=False):
            flow_delete(flow=flow, author=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and obj.deleted)

    @admin.action(description="Enable selected flows", permissions=["change"])
    def enable_flows(self, request, queryset) -> None:
        self._set_disabled(request, queryset, False)

    @admin.action(description="Disable selected flows", permissions=["change"])
    def disable_flows(self, request, queryset) -> None:
        self._set_disabled(request, queryset, True)

    def _set_disabled(self, request, queryset, disabled: bool) -> None:
        flows = list(queryset.filter(deleted=False))
        for flow in flows:
            flow_set_disabled(flow=flow, disabled=disabled, author=request.user)
        word = "disabled" if disabled else "enabled"
        self.message_user(request, f"{len(flows)} flow(s) {word}.", messages.SUCCESS)

    # --- revisions: list on the change page, diff view, restore -------------------------

    def _editor_context(self) -> dict:
        """What the flow editor (flows/static/flows/editor.js) needs: where to validate, the
        plugins' schemas for completion and the live topology."""
        return {
            "flow_editor": {
                "validate_url": reverse("api-flow-validate"),
                "plugins_url": reverse("api-plugins"),
                "topology_url": reverse("admin:flows_flow_topology_preview"),
            }
        }

    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(
            request, form_url, {**self._editor_context(), **(extra_context or {})}
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**self._editor_context(), **(extra_context or {})}
        flow = self.get_object(request, object_id)
        if flow is not None:
            extra_context["revisions"] = [
                (rev, self._revision_url(flow, rev.revision)) for rev in flow_revisions(flow)
            ]
            # Execute button, topology, executions and triggers (issue 7).
            from executions.admin.flow import flow_panels

            extra_context.update(flow_panels(request, flow))
        return super().change_view(request, object_id, form_url, extra_context)

    def execute_view(self, request, object_id):
        """The Execute form (``executions.admin.execute``): typed inputs, then a run."""

        flow = self._flow_for(request, object_id)
        if flow.deleted:
            raise Http404("the flow is deleted")
        return execute_view(self, request, flow)

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/revisions/<int:revision>/",
                self.admin_site.admin_view(self.revision_view),
                name="flows_flow_revision",
            ),
            path(
                "<path:object_id>/revisions/<int:revision>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="flows_flow_revision_restore",
            ),
            path(
                "topology-preview/",
                self.admin_site.admin_view(self.topology_preview),
                name="flows_flow_topology_preview",
            ),
            path(
                "<path:object_id>/execute/",
                self.admin_site.admin_view(self.execute_view),
                name="flows_flow_execute",
            ),
        ]
        return own + super().get_urls()

    def topology_preview(self, request):
        """POST a flow's YAML source, get its topology as SVG markup: the editor's live view.

        Reads nothing stored and saves nothing; a source that does not parse is a 422 with
        the first problem as text (the editor shows problems from the validate endpoint).
        """
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied

        try:
            spec = parse_source(request.body.decode("utf-8", "replace"), filename="<editor>")
        except SpecError as exc:
            return HttpResponse(str(exc), status=422, content_type="text/plain")
        return HttpResponse(topology_svg(flow_graph(spec)), content_type="text/html")

    def _revision_url(self, flow: Flow, revision: int) -> str:
        return reverse("admin:flows_flow_revision", args=[flow.pk, revision])

    def _flow_for(self, request, object_id) -> Flow:
        flow = self.get_object(request, object_id)
        if flow is None:
            raise Http404("no such flow")
        if not self.has_view_permission(request, flow):
            raise PermissionDenied
        return flow

    def revision_view(self, request, object_id, revision: int):
        """One revision's source, and a unified diff against ``?against=N`` (default N-1)."""
        flow = self._flow_for(request, object_id)
        rev = get_object_or_404(FlowRevision, flow=flow, revision=revision)
        try:
            against = int(request.GET.get("against", revision - 1))
        except ValueError:
            against = revision - 1
        try:
            diff = flow_revisions_diff(flow=flow, a=against, b=revision) if against >= 1 else ""
        except FlowError:
            diff, against = "", 0
        if not confidential.may_see(request.user, flow.namespace.name):
            values = confidential.credentials_of_source(rev.source)
            rev.source = confidential.hide_in_text(rev.source, values)
            if against >= 1:
                other = FlowRevision.objects.filter(flow=flow, revision=against).first()
                values += confidential.credentials_of_source(other.source) if other else []
            diff = confidential.hide_in_text(diff, sorted(set(values), key=len, reverse=True))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{flow} — revision {revision}",
            "flow": flow,
            "rev": rev,
            "against": against,
            "diff_lines": diff.splitlines(),
            "other_revisions": flow.revisions.exclude(revision=revision).values_list(
                "revision", flat=True
            ),
            "can_restore": self.has_change_permission(request, flow),
            "change_url": reverse("admin:flows_flow_change", args=[flow.pk]),
            "restore_url": reverse("admin:flows_flow_revision_restore", args=[flow.pk, revision]),
        }
        return TemplateResponse(request, "admin/flows/flow/revision.html", context)

    def restore_view(self, request, object_id, revision: int):
        """POST only: make a new revision with this revision's source."""
        flow = self._flow_for(request, object_id)
        if request.method != "POST" or not self.has_change_permission(request, flow):
            raise PermissionDenied
        try:
            result = flow_revision_restore(flow=flow, revision=revision, author=request.user)
        except (FlowError, SpecError) as exc:
            self.message_user(request, f"Cannot restore revision {revision}: {exc}", messages.ERROR)
        else:
            if result.changed:
                text = f"Revision {revision} restored as revision {result.revision}."
            else:
                text = f"Revision {revision} is the current source: nothing to restore."
            self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:flows_flow_change", args=[flow.pk]))
