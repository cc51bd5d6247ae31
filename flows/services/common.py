"""Pieces shared by the flow and template services: errors, namespaces, reading files."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from kernel.spec.model import SpecError, SpecProblem
from namespaces.models import Namespace, namespace_ancestors

YAML_SUFFIXES = (".yml", ".yaml")


class FlowError(Exception):
    """An operation on an existing flow is not possible (unknown revision, already deleted...)."""


def namespace_ensure(name: str) -> Namespace:
    """The namespace ``name``, creating it and every missing parent (``a``, ``a.b``, ``a.b.c``).

    The caller validated ``name`` (the flow spec did).
    """
    parent: Namespace | None = None
    for depth, ancestor in enumerate(namespace_ancestors(name)):
        parent, _ = Namespace.objects.get_or_create(
            name=ancestor, defaults={"parent": parent, "depth": depth}
        )
    assert parent is not None
    return parent


def line_of_key(source: str, key: str) -> int:
    """The 1-based line of a top-level ``key:`` in ``source`` (1 if not found)."""
    match = re.search(rf"^{re.escape(key)}\s*:", source, flags=re.MULTILINE)
    return source.count("\n", 0, match.start()) + 1 if match else 1


def problem(
    filename: str, message: str, *, line: int = 1, col: int = 1, path: str = ""
) -> SpecProblem:
    return SpecProblem(filename=filename, line=line, col=col, path=path, message=message)


def check_size(source: str, filename: str) -> None:
    """Refuse documents larger than ``TRELLIS_MAX_FLOW_BYTES`` before parsing them."""
    limit = settings.TRELLIS_MAX_FLOW_BYTES
    size = len(source.encode("utf-8"))
    if size > limit:
        raise SpecError([problem(filename, f"document is {size} bytes; the limit is {limit}")])


def read_source(path: Path) -> str:
    """A file's text exactly as written (line endings kept, so the source stays byte for byte)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def collect_documents(paths: list[str | Path]) -> tuple[list[tuple[str, str]], list[SpecProblem]]:
    """``(filename, source)`` for every YAML file named or found (recursively) in a folder.

    Unreadable or missing paths become problems rather than exceptions, so a caller can
    report every file at once.
    """
    documents: list[tuple[str, str]] = []
    problems: list[SpecProblem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix in YAML_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                problems.append(problem(str(path), "no .yml or .yaml file in this folder"))
        elif path.is_file():
            files = [path]
        else:
            problems.append(problem(str(path), "no such file or folder"))
            continue
        for file in files:
            try:
                documents.append((str(file), read_source(file)))
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(problem(str(file), f"cannot read the file: {exc}"))
    return documents, problems
