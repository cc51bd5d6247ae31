"""The files a script task works with: the namespace's files and ``inputFiles`` written into
its working directory before it runs, ``outputFiles`` stored afterwards. Shared by the script
plugins and by WorkingDirectory's runtime, which does the same for its whole block."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kernel.plugin import RunContext, TaskFailed


def as_bool(value: Any, default: bool) -> bool:
    """A boolean property after rendering (an expression may have produced ``"true"``)."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def as_lines(value: Any) -> list[str]:
    """A list-of-strings property after rendering: a rendered expression may be a JSON list or
    a single string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [str(v) for v in parsed]
        return [value]
    return [v if isinstance(v, str) else str(v) for v in value]


def inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def write_input_files(ctx: RunContext, files: Any) -> None:
    """Write ``inputFiles`` (a map, or its JSON text) into the working directory."""
    if not files:
        return
    if isinstance(files, str):
        try:
            files = json.loads(files)
        except ValueError:
            raise TaskFailed("inputFiles must be a map of file name -> content") from None
    if not isinstance(files, Mapping):
        raise TaskFailed("inputFiles must be a map of file name -> content")
    root = ctx.working_dir
    for name, content in files.items():
        target = root / str(name)
        if Path(str(name)).is_absolute() or not inside(root, target):
            raise TaskFailed(f"inputFiles: {name!r} is outside the working directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("kestra://"):
            shutil.copyfile(ctx.open_uri(content), target)
        elif isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_text(json.dumps(content), encoding="utf-8")


def store_output_files(ctx: RunContext, patterns: Iterable[str]) -> dict[str, str]:
    """Files of the working directory matching ``patterns`` -> their internal-storage URIs,
    keyed by path relative to the working directory (Kestra's ``outputFiles``)."""
    root = ctx.working_dir
    stored: dict[str, str] = {}
    for pattern in patterns:
        if not pattern or Path(pattern).is_absolute():
            raise TaskFailed(f"outputFiles: {pattern!r} must be a relative glob pattern")
        for path in sorted(root.glob(pattern)):
            name = path.relative_to(root).as_posix()
            if path.is_file() and name not in stored and inside(root, path):
                stored[name] = ctx.put_file(path, name)
    return stored


def copy_namespace_files(ctx: RunContext, spec: Any) -> int:
    """Kestra's ``namespaceFiles``: the namespace's files, filtered by ``include`` and
    ``exclude`` globs, copied into the working directory under their own paths (before
    ``inputFiles``, which may overwrite them). Returns how many were copied."""
    if not isinstance(spec, Mapping) or not as_bool(spec.get("enabled"), True):
        return 0
    store = getattr(ctx, "namespace_files", None)
    if store is None:
        raise TaskFailed("namespaceFiles: this run context has no namespace files")
    include = [str(p) for p in as_lines(spec.get("include"))]
    exclude = [str(p) for p in as_lines(spec.get("exclude"))]
    namespaces = [str(n) for n in as_lines(spec.get("namespaces"))] or [ctx.namespace]
    root = ctx.working_dir
    copied = 0
    for namespace in namespaces:
        for path in store.list(namespace):
            if include and not store.matches(path, include):
                continue
            if exclude and store.matches(path, exclude):
                continue
            target = root / path.lstrip("/")
            if not inside(root, target):  # paths are normalised; this is belt and braces
                raise TaskFailed(f"namespaceFiles: {path!r} is outside the working directory")
            store.copy_to(namespace, path, target)
            copied += 1
    ctx.logger.debug(f"namespaceFiles: {copied} file(s) copied into the working directory")
    return copied
