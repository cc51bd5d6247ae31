"""The flow catalogue: flows, their revisions and labels (namespaces: ``namespaces.models``).

Models hold data and invariants only; every change goes through ``flows.services`` so that
revision numbering, labels and the ``on_flow_changed`` hooks stay consistent.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

# Namespace moved to namespaces.models (issue 16). validate_namespace_name stays importable
# here because migrations flows 0001 and access 0001 name it as flows.models.<...>.
from namespaces.models import Namespace
from namespaces.models import validate_namespace_name as validate_namespace_name


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
