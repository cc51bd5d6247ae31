"""Namespace files as the run context and expressions see them (a thin adapter: plugins and
the expression layer never import models)."""

from __future__ import annotations

from pathlib import Path

from namespaces import paths, services


class NamespaceFileStore:
    def list(self, namespace: str) -> list[str]:
        """Every file path of the namespace (``/a/b.txt``), sorted."""
        return [r.path for r in services.nsfile_list(namespace, recursive=True)
                if not r.is_directory]  # fmt: skip

    def read(self, namespace: str, path: str, max_bytes: int | None = None) -> bytes:
        return services.nsfile_read(namespace, path, max_bytes=max_bytes)

    def copy_to(self, namespace: str, path: str, target: Path) -> None:
        """Write the file's content to a local ``target`` (folders created)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with services.nsfile_open(namespace, path) as source, target.open("wb") as out:
            while chunk := source.read(1024 * 1024):
                out.write(chunk)

    @staticmethod
    def matches(path: str, patterns: list[str]) -> bool:
        return paths.matches(path, patterns)
