"""List filters of the executions changelist: namespace prefix, flow, label, trigger type and
a created-at date range (two ISO dates with shortcuts), besides Django's own state filter."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from access.policy import within
from executions.admin.common import TRIGGER_KINDS
from executions.models import ExecutionLabel
from flows.models import Flow
from namespaces.models import Namespace


def in_namespace(queryset: QuerySet, name: str) -> QuerySet:
    """``a.b`` matches ``a.b`` and ``a.b.c``, never ``a.bc``."""
    return within(queryset, name)


class NamespacePrefixFilter(admin.SimpleListFilter):
    title = "namespace (and inside)"
    parameter_name = "namespace"

    def lookups(self, request, model_admin):
        names = Namespace.objects.order_by("name").values_list("name", flat=True)
        return [(name, f"{'  ' * name.count('.')}{name}") for name in names]

    def queryset(self, request, queryset):
        return in_namespace(queryset, self.value()) if self.value() else queryset


class FlowFilter(admin.SimpleListFilter):
    """``namespace/flow_id``: the flows known to the catalogue (deleted ones too)."""

    title = "flow"
    parameter_name = "flow"

    def lookups(self, request, model_admin):
        pairs = Flow.objects.order_by("namespace__name", "flow_id").values_list(
            "namespace__name", "flow_id"
        )
        return [(f"{ns}/{fid}", f"{ns}.{fid}") for ns, fid in pairs[:500]]

    def queryset(self, request, queryset):
        if not self.value() or "/" not in self.value():
            return queryset
        namespace, flow_id = self.value().rsplit("/", 1)
        return queryset.filter(namespace=namespace, flow_id=flow_id)


class LabelFilter(admin.SimpleListFilter):
    title = "label"
    parameter_name = "label"

    def lookups(self, request, model_admin):
        pairs = (
            ExecutionLabel.objects.exclude(key__startswith="system.")
            .order_by("key", "value")
            .values_list("key", "value")
            .distinct()[:200]
        )
        return [(f"{k}={v}", f"{k}: {v}") for k, v in pairs]

    def queryset(self, request, queryset):
        if not self.value() or "=" not in self.value():
            return queryset
        key, value = self.value().split("=", 1)
        return queryset.filter(label_rows__key=key, label_rows__value=value).distinct()


class TriggerTypeFilter(admin.SimpleListFilter):
    """How the execution started: by hand (no trigger) or by a trigger of some kind
    (``admin_common.TRIGGER_KINDS``)."""

    title = "trigger"
    parameter_name = "trigger"

    def lookups(self, request, model_admin):
        return [("manual", "manual"), *((k.value, k.label) for k in TRIGGER_KINDS)]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "manual":
            return queryset.filter(trigger__isnull=True)
        kind = next((k for k in TRIGGER_KINDS if k.value == value), None)
        if kind is None:  # an unknown kind matches nothing rather than everything
            return queryset.none()
        return queryset.filter(trigger__type__endswith=f".{kind.suffix}")


def _moment(raw: str | None, *, end: bool) -> datetime | None:
    """An ISO date or date-time; a date alone covers the whole day (``end``: its last moment)."""
    if not raw:
        return None
    text = raw.strip()
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime.combine(day, time.max if end else time.min)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


class CreatedRangeFilter(admin.ListFilter):
    """``created_from`` / ``created_to`` (ISO dates or date-times, either may be left out),
    with shortcuts for the last hour, day and week. A bad date is ignored and said so."""

    title = "created"
    template = "admin/executions/date_range_filter.html"
    params = ("created_from", "created_to")
    SHORTCUTS = (("last hour", timedelta(hours=1)), ("last 24 hours", timedelta(days=1)),
                 ("last 7 days", timedelta(days=7)))  # fmt: skip

    def __init__(self, request, params, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, str] = {}
        for name in self.params:
            if name in params:
                value = params.pop(name)
                self.values[name] = value[-1] if isinstance(value, list) else value
        self.form: dict[str, Any] = {}

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return list(self.params)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        return (
            _moment(self.values.get("created_from"), end=False),
            _moment(self.values.get("created_to"), end=True),
        )

    def queryset(self, request, queryset):
        start, end = self.bounds()
        if start is not None:
            queryset = queryset.filter(created_at__gte=start)
        if end is not None:
            queryset = queryset.filter(created_at__lte=end)
        return queryset

    def choices(self, changelist) -> list[dict[str, Any]]:
        """The shortcuts as links; the template adds the two date fields (``self.form``)."""
        self.form = self.form_context(changelist)
        now = timezone.now()
        out = [
            {
                "selected": not self.values,
                "query_string": changelist.get_query_string(remove=list(self.params)),
                "display": "any time",
            }
        ]
        for label, delta in self.SHORTCUTS:
            start = (now - delta).replace(second=0, microsecond=0).isoformat()
            out.append(
                {
                    "selected": False,
                    "query_string": changelist.get_query_string(
                        {"created_from": start}, remove=["created_to"]
                    ),
                    "display": label,
                }
            )
        return out

    def form_context(self, changelist) -> dict[str, Any]:
        """What the template's little GET form needs: current values, other parameters."""
        keep = [
            (k, v)
            for k, values in changelist.filter_params.items()
            if k not in self.params
            for v in values
        ]
        start, end = self.bounds()
        invalid = [
            name
            for name, parsed in zip(self.params, (start, end), strict=True)
            if self.values.get(name) and parsed is None
        ]
        return {"values": self.values, "keep": keep, "invalid": invalid}
