"""Namespace files: an index of the files and folders each namespace holds.

The content lives in internal storage (``kestra:///<namespace>/_files/<path>``, any Django
storage backend); a row says a file or a folder exists, how big it is and when it changed,
so listing a folder is one query and the admin can show and filter them.
"""

from __future__ import annotations

from django.db import models


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
