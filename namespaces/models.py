"""Namespaces, the files they hold and their allowed-namespaces policy.

:class:`Namespace` is the folder tree of flows, created on demand by deploys. It moved here
from ``flows`` (issue 16) with its table kept as ``flows_namespace`` (see
docs/architecture.md, "The Namespace model lives in namespaces/").

Namespace files are an index of the files and folders each namespace holds. The content
lives in internal storage (``kestra:///<namespace>/_files/<path>``, any Django storage
backend); a row says a file or a folder exists, how big it is and when it changed, so
listing a folder is one query and the admin can show and filter them.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

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
        #: The table it had in ``flows``: moving the model changed no table (migrations
        #: namespaces 0003 and flows 0002 move it in Django's state only).
        db_table = "flows_namespace"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_inside(self, other: Namespace | str) -> bool:
        """True when this namespace is ``other`` or lies below it (whole segments only)."""
        outer = other.name if isinstance(other, Namespace) else other
        return self.name == outer or self.name.startswith(f"{outer}.")


class NamespaceFile(models.Model):
    namespace = models.CharField(max_length=150)
    #: Normalised absolute path inside the namespace: ``/scripts/etl.py``.
    path = models.CharField(max_length=1024)
    #: The folder holding it (``/`` at the top), so a folder lists with one query.
    parent = models.CharField(max_length=1024)
    is_directory = models.BooleanField(default=False)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "namespace file"
        ordering = ["namespace", "path"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "path"], name="nsfile_unique_path")
        ]
        indexes = [models.Index(fields=["namespace", "parent"], name="nsfile_parent")]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.path}{'/' if self.is_directory else ''}"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class AllowedNamespace(models.Model):
    """One entry of a namespace's allowed-namespaces policy: flows of ``allowed`` (and of the
    namespaces inside it; ``*`` for every namespace) may reach ``namespace`` and the
    namespaces inside it — read and write its KV entries, read its files, start its flows as
    subflows and trigger on its executions. Beyond these entries a flow reaches only its own
    namespace tree (:mod:`namespaces.boundaries`). Kept as text, like grants, so a policy can
    be written before anything is deployed there."""

    namespace = models.CharField(max_length=150)
    allowed = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "allowed namespace"
        ordering = ["namespace", "allowed"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "allowed"],
                name="nsallowed_unique",
                violation_error_message="This namespace is already allowed.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace} allows {self.allowed}"
