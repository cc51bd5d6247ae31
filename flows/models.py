"""The flow catalogue: namespaces, flows, their revisions and labels.

Models hold data and invariants only; every change goes through ``flows.services`` so that
revision numbering, labels and the ``on_flow_changed`` hooks stay consistent.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$")


def validate_namespace_name(name: str) -> None:
    if not NAMESPACE_RE.match(name or ""):
        raise ValidationError(
            f"{name!r} is not a namespace: dot-separated words of letters, digits, '_' and '-'"
        )


def namespace_ancestors(name: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``: the namespace and every parent, outermost first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


class NamespaceQuerySet(models.QuerySet["Namespace"]):
    def inside(self, name: str, *, include_self: bool = True) -> NamespaceQuerySet:
        """Namespaces inside ``name`` by whole segments: ``a.bc`` is not inside ``a.b``."""
        q = models.Q(name__startswith=f"{name}.")
        if include_self:
            q |= models.Q(name=name)
        return self.filter(q)


class Namespace(models.Model):
    """A folder of flows. Created on demand for a deployed flow's namespace and its parents."""

    name = models.CharField(max_length=255, unique=True, validators=[validate_namespace_name])
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    depth = models.PositiveSmallIntegerField(default=0, help_text="0 for a top-level namespace")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NamespaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_inside(self, other: Namespace | str) -> bool:
        """True when this namespace is ``other`` or lies below it (whole segments only)."""
        outer = other.name if isinstance(other, Namespace) else other
        return self.name == outer or self.name.startswith(f"{outer}.")


class FlowQuerySet(models.QuerySet["Flow"]):
    def live(self) -> FlowQuerySet:
        return self.filter(deleted=False)

    def in_namespace(self, name: str, *, descendants: bool = True) -> FlowQuerySet:
        """Flows in namespace ``name`` (and, by default, in every namespace inside it)."""
        q = models.Q(namespace__name=name)
        if descendants:
            q |= models.Q(namespace__name__startswith=f"{name}.")
        return self.filter(q)

    def with_labels(self, labels: dict[str, str]) -> FlowQuerySet:
        """Flows carrying every ``key: value`` pair given (an AND of the pairs)."""
        return filter_by_labels(self, labels, relation="labels")


class Flow(models.Model):
    """The current state of one flow. ``source`` is the YAML exactly as deployed."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="flows")
    #: The flow's ``id`` in YAML (``id`` is the primary key here).
    flow_id = models.CharField(max_length=255)
    revision = models.PositiveIntegerField(default=1, help_text="current revision number")
    source = models.TextField(help_text="YAML source, byte for byte as deployed")
    description = models.TextField(blank=True, default="")
    disabled = models.BooleanField(default=False)
    #: Soft delete: the row and its revisions stay so history and executions keep their flow.
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FlowQuerySet.as_manager()

    class Meta:
        ordering = ["namespace__name", "flow_id"]
        constraints = [
            # Ids that differ only by case would be the same flow to a user typing them.
            models.UniqueConstraint(
                "namespace", Lower("flow_id"), name="flows_flow_unique_ns_id_ci"
            ),
        ]
        indexes = [models.Index(fields=["deleted", "disabled"])]

    def __str__(self) -> str:
        return f"{self.namespace.name}.{self.flow_id}"

    @property
    def full_name(self) -> str:
        return str(self)


class FlowRevision(models.Model):
    """One version of a flow's source; revision numbers never restart, even after a delete."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    source = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    #: This revision records the flow's deletion (its source is the last live source).
    deleted = models.BooleanField(default=False)

    class Meta:
        ordering = ["flow", "-revision"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "revision"], name="flows_revision_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.flow} rev {self.revision}{' (deleted)' if self.deleted else ''}"


class Label(models.Model):
    """A key/value pair. Abstract: each owner (flow, execution...) has its own table.

    A concrete subclass adds a foreign key to its owner with ``related_name="labels"`` and
    can filter owners with :func:`filter_by_labels`.
    """

    key = models.CharField(max_length=255)
    value = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.key}:{self.value}"


class FlowLabel(Label):
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="labels")

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["flow", "key"], name="flows_label_unique_key"),
        ]
        indexes = [models.Index(fields=["key", "value"], name="flows_label_kv")]


def filter_by_labels(
    queryset: models.QuerySet, labels: dict[str, str] | None, *, relation: str = "labels"
) -> models.QuerySet:
    """Rows of ``queryset`` whose ``relation`` labels include every pair of ``labels``.

    One ``filter()`` per pair so each pair may match a different label row (an AND).
    """
    for key, value in (labels or {}).items():
        queryset = queryset.filter(**{f"{relation}__key": key, f"{relation}__value": value})
    return queryset.distinct() if labels else queryset
