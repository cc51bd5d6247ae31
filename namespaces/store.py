"""Namespace files as the run context and expressions see them (a thin adapter: plugins and
the expression layer never import models).

Bound to the running flow's :class:`~namespaces.boundaries.Boundary`, every call first asks
whether the flow may read the namespace named (issue 21: ``namespaceFiles.namespaces`` must
not copy another namespace's files unless it allows it). Without a boundary (trusted
callers) nothing is checked.
"""

from __future__ import annotations

from pathlib import Path

from namespaces import paths, services
from namespaces.boundaries import Boundary, check_write

READ = "read its files"
WRITE = "write its files"


class NamespaceFileStore:
    def __init__(self, boundary: Boundary | None = None) -> None:
        self.boundary = boundary

    def _reach(self, namespace: str) -> None:
        if self.boundary is not None:
            self.boundary.check(namespace, READ)

    def list(self, namespace: str) -> list[str]:
        """Every file path of the namespace (``/a/b.txt``), sorted."""
        self._reach(namespace)
        return [r.path for r in services.nsfile_list(namespace, recursive=True)
                if not r.is_directory]  # fmt: skip

    def read(self, namespace: str, path: str, max_bytes: int | None = None) -> bytes:
        self._reach(namespace)
        return services.nsfile_read(namespace, path, max_bytes=max_bytes)

    def copy_to(self, namespace: str, path: str, target: Path) -> None:
        """Write the file's content to a local ``target`` (folders created)."""
        self._reach(namespace)
        target.parent.mkdir(parents=True, exist_ok=True)
        with services.nsfile_open(namespace, path) as source, target.open("wb") as out:
            while chunk := source.read(1024 * 1024):
                out.write(chunk)

    def write(self, namespace: str, path: str, data: bytes) -> None:
        """Create or replace a file (the git tasks' sync, issue 17): only in the flow's
        namespace, inside it, or where a policy allows it (``check_write``)."""
        check_write(self.boundary, namespace, WRITE)
        services.nsfile_put(namespace=namespace, path=path, data=data)

    def delete(self, namespace: str, path: str) -> None:
        check_write(self.boundary, namespace, WRITE)
        services.nsfile_delete(namespace=namespace, path=path)

    @staticmethod
    def matches(path: str, patterns: list[str]) -> bool:
        return paths.matches(path, patterns)
