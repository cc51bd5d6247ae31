"""Internal storage: the files of executions (uploaded inputs, task outputs) on local disk.

Files are addressed by Kestra-shaped URIs so flows that pass ``{{ inputs.file }}`` or
``{{ outputs.t.uri }}`` around keep working::

    kestra:///<namespace as path>/<flow>/executions/<execution>/inputs/<input>/<file>
    kestra:///<namespace as path>/<flow>/executions/<execution>/tasks/<task>/<task run>/<file>
    kestra:///<namespace as path>/_files/<path>          (namespace files, namespaces app)

Everything a URI names lives under one root directory; :meth:`Storage.path_of` is the single
place that turns a URI into a path, and it refuses anything that would leave the root.
Writes go to a temporary file renamed into place, so a reader never sees half a file.
Pure: the Django-backed storage and the choice of backend live in ``orchestrator.storage``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO
from urllib.parse import unquote

SCHEME = "kestra://"
_CHUNK = 1024 * 1024
#: What may appear in one path segment taken from a namespace, flow, execution or task id.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._()+=@,-]+")


class StorageError(ValueError):
    """A URI that is malformed, points outside the storage root, or names no file."""


def sanitize_filename(name: str) -> str:
    """A file name safe to store: the last path part, no leading dots, no odd characters.

    Uploads carry client-chosen names (``../../etc/passwd``, ``C:\\x\\y.csv``); only the
    base name survives, and an empty result becomes ``file``.
    """
    base = re.split(r"[\\/]", str(name))[-1]
    base = _UNSAFE.sub("_", base.strip()).lstrip(".")
    return base[:200] or "file"


def _segment(value: str, what: str) -> str:
    text = str(value)
    if not _SEGMENT.fullmatch(text) or text in (".", ".."):
        raise StorageError(f"invalid {what} for storage: {value!r}")
    return text


def task_folder(task_id: str) -> str:
    """A task's folder name: its id slugified as Kestra does (``each_split`` -> ``each-split``),
    so URIs read the same as in Kestra."""
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", str(task_id).lower())).strip("-")
    return _segment(slug or "task", "task id")


def check_storable(data: Any) -> None:
    """Refuse what is neither bytes nor a readable file (a JSON ``true`` submitted as a FILE
    input, say) with StorageError rather than an AttributeError halfway through a write."""
    if not isinstance(data, bytes | bytearray | memoryview) and not callable(
        getattr(data, "read", None)
    ):
        raise StorageError(f"expected file content, not {type(data).__name__}")


class Storage:
    """Internal storage rooted at ``root`` (``TRELLIS_HOME/storage`` in production)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    # ------------------------------------------------------------------------- addresses

    def execution_prefix(self, namespace: str, flow_id: str, execution_id: str) -> str:
        """The URI prefix under which every file of one execution lives (ends with ``/``)."""
        parts = [_segment(p, "namespace") for p in str(namespace).split(".")]
        parts += [
            _segment(flow_id, "flow id"),
            "executions",
            _segment(execution_id, "execution id"),
        ]
        return SCHEME + "/" + "/".join(parts) + "/"

    def namespace_files_prefix(self, namespace: str) -> str:
        """The URI prefix of a namespace's files (``kestra:///a/b/_files/``, ends with ``/``):
        no flow id can be ``_files`` (ids start with a letter or digit), so it never meets an
        execution's folder or a child namespace's."""
        parts = [_segment(p, "namespace") for p in str(namespace).split(".")]
        return SCHEME + "/" + "/".join(parts) + "/_files/"

    def path_of(self, uri: str) -> Path:
        """The file a ``kestra:///`` URI names, refusing ``..`` and anything outside root."""
        if not isinstance(uri, str) or not uri.startswith(SCHEME + "/"):
            raise StorageError(f"not an internal storage URI: {uri!r}")
        relative = unquote(uri[len(SCHEME) :]).lstrip("/")
        parts = PurePosixPath(relative).parts
        if (
            not parts
            or "\\" in relative
            or "\x00" in relative
            or any(p in (".", "..") for p in relative.split("/"))
        ):
            raise StorageError(f"invalid internal storage URI: {uri!r}")
        path = self.root.joinpath(*parts)
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise StorageError(f"internal storage URI outside the storage root: {uri!r}")
        return resolved

    def belongs_to(self, uri: str, namespace: str, flow_id: str, execution_id: str) -> bool:
        """Whether ``uri`` is a file of this execution, so the API serves an execution's
        files only from that execution's own folder (not a neighbour's, guessed by URI).
        A caller that also serves a parent execution's files asks once per ancestor."""
        try:
            prefix = self.execution_prefix(namespace, flow_id, execution_id)
            self.path_of(uri)
        except StorageError:
            return False
        return uri.startswith(prefix) and len(uri) > len(prefix)

    # ------------------------------------------------------------------------- writes

    def put_input(
        self,
        namespace: str,
        flow_id: str,
        execution_id: str,
        input_id: str,
        filename: str,
        data: bytes | IO[bytes],
    ) -> str:
        """Store an uploaded FILE input; returns its URI."""
        prefix = self.execution_prefix(namespace, flow_id, execution_id)
        uri = f"{prefix}inputs/{_segment(input_id, 'input id')}/{sanitize_filename(filename)}"
        self._store(uri, data)
        return uri

    def task_file_uri(
        self,
        namespace: str,
        flow_id: str,
        execution_id: str,
        task_id: str,
        task_run_id: str,
        name: str,
    ) -> str:
        """Where a task run's file ``name`` lives: ``<execution>/tasks/<task>/<run>/<name>``."""
        prefix = self.execution_prefix(namespace, flow_id, execution_id)
        return (
            f"{prefix}tasks/{task_folder(task_id)}/"
            f"{_segment(task_run_id, 'task run id')}/{sanitize_filename(name)}"
        )

    def put_task_file(
        self,
        namespace: str,
        flow_id: str,
        execution_id: str,
        task_id: str,
        task_run_id: str,
        source: Path,
        name: str | None = None,
    ) -> str:
        """Copy a file a task produced into storage; returns its URI. ``name`` defaults to
        the source's own name."""
        filename = name if name is not None else Path(source).name
        uri = self.task_file_uri(namespace, flow_id, execution_id, task_id, task_run_id, filename)
        with open(source, "rb") as stream:
            self._store(uri, stream)
        return uri

    def put(self, uri: str, data: bytes | IO[bytes]) -> str:
        """Store ``data`` at ``uri`` (replacing what was there); returns the URI. Callers
        build URIs with the prefix methods above, never from user text."""
        self._store(uri, data)
        return uri

    def _store(self, uri: str, data: bytes | IO[bytes]) -> None:
        check_storable(data)
        self._write(self.path_of(uri), data)

    def _write(self, path: Path, data: bytes | IO[bytes]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes | bytearray | memoryview):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, _CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------------- reads

    def open(self, uri: str) -> BinaryIO:
        """The stored file, opened for binary reading (the caller closes it)."""
        path = self.path_of(uri)
        if not path.is_file():
            raise StorageError(f"no such file in internal storage: {uri}")
        return path.open("rb")

    def exists(self, uri: str) -> bool:
        try:
            return self.path_of(uri).is_file()
        except StorageError:
            return False

    def size(self, uri: str) -> int:
        path = self.path_of(uri)
        if not path.is_file():
            raise StorageError(f"no such file in internal storage: {uri}")
        return path.stat().st_size

    def delete(self, uri: str) -> bool:
        """Remove one stored file; False when there was none."""
        path = self.path_of(uri)
        if not path.is_file():
            return False
        path.unlink(missing_ok=True)
        return True

    def delete_execution(self, namespace: str, flow_id: str, execution_id: str) -> None:
        """Remove every file of one execution (purge); nothing to remove is fine."""
        folder = self.path_of(self.execution_prefix(namespace, flow_id, execution_id).rstrip("/"))
        shutil.rmtree(folder, ignore_errors=True)


def name_of(uri: str) -> str:
    """The storage-relative name of a ``kestra:///`` URI (traversal refused)."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME + "/"):
        raise StorageError(f"not an internal storage URI: {uri!r}")
    relative = unquote(uri[len(SCHEME) :]).lstrip("/")
    parts = relative.split("/")
    if (
        not relative
        or "\\" in relative
        or "\x00" in relative
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise StorageError(f"invalid internal storage URI: {uri!r}")
    return relative
