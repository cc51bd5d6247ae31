"""What every file-system backend offers (SFTP, FTP, the worker's own disk), and the pieces the
tasks of every protocol share: connection properties, file descriptions, the guard.

A backend is a small object with ``list``, ``download``, ``upload``, ``delete``, ``rename``,
``makedirs`` and ``close``; the task classes in :mod:`plugins.fs.tasks` are written once over
it, so ``sftp.Download`` and ``ftp.Download`` differ only in how they connect.
"""

from __future__ import annotations

import posixpath
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kernel.plugin import Prop, TaskFailed
from plugins._shared.guard import DestinationRefused, current_policy

#: What Kestra's remote tasks do with a file once it was downloaded.
ACTIONS = ("NONE", "MOVE", "DELETE")


@dataclass(frozen=True)
class Entry:
    """One remote file or folder, as the ``files`` outputs show it (Kestra's ``File``)."""

    path: str
    is_dir: bool
    size: int
    mtime: float | None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/")) or "/"

    def describe(self, uri: str) -> dict[str, Any]:
        updated = (
            datetime.fromtimestamp(self.mtime, tz=UTC).isoformat(timespec="seconds")
            if self.mtime is not None
            else None
        )
        return {
            "name": self.name,
            "path": uri,
            "size": self.size,
            "fileType": "FOLDER" if self.is_dir else "FILE",
            "updatedDate": updated.replace("+00:00", "Z") if updated else None,
        }


class Backend(Protocol):
    """One open connection to a file system; paths are POSIX, absolute."""

    def list(self, path: str) -> list[Entry]: ...
    def stat(self, path: str) -> Entry | None: ...
    def download(self, path: str, target: Path) -> None: ...
    def upload(self, source: Path, path: str) -> None: ...
    def delete(self, path: str) -> bool: ...
    def rename(self, source: str, target: str) -> None: ...
    def makedirs(self, path: str) -> None: ...
    def close(self) -> None: ...


def walk(backend: Backend, root: str, *, recursive: bool) -> Iterator[Entry]:
    """Files and folders under ``root`` (folders first met, then their content)."""
    pending = [root]
    while pending:
        folder = pending.pop(0)
        for entry in sorted(backend.list(folder), key=lambda e: e.path):
            yield entry
            if entry.is_dir and recursive:
                pending.append(entry.path)


def remote_join(folder: str, name: str) -> str:
    return posixpath.join(folder.rstrip("/") or "/", name.lstrip("/"))


#: Properties every remote protocol takes (Kestra's names; ports as strings, as Kestra's).
CONNECTION = (
    Prop("host", "string", required=True, description="Host name of the remote server."),
    Prop("port", "string", description="Port of the remote server (protocol's default)."),
    Prop("username", "string", description="User name on the remote server."),
    Prop("password", "string", description="Password on the remote server (use a secret)."),
)


def guarded_socket(host: str, port: int, timeout: float = 30.0) -> socket.socket:
    """A TCP connection checked by the outbound guard (plugins/_shared/guard.py): a flow may
    not reach the worker's neighbours (loopback, private, metadata) unless
    ``TRELLIS_HTTP_ALLOW`` opens them, whatever the protocol."""
    try:
        return current_policy().connect((host, port), timeout=timeout)
    except DestinationRefused as exc:
        raise TaskFailed(str(exc).replace("HTTP request refused", "connection refused")) from exc
    except OSError as exc:
        raise TaskFailed(f"cannot connect to {host}:{port}: {exc}") from exc


def port_of(props: Mapping[str, Any], default: int) -> int:
    value = props.get("port")
    if value in (None, ""):
        return default
    try:
        return int(str(value))
    except ValueError:
        raise TaskFailed(f"`port` must be a number, got {value!r}") from None


def library_problems(module: str | None, extra: str) -> list[tuple[str, str]]:
    """A validation problem when an optional library is not installed on this host."""
    import importlib.util

    if module is None or importlib.util.find_spec(module) is not None:
        return []
    return [("type", f"this type needs {module}, which is not installed: "
                     f"pip install 'trellis[{extra}]'")]  # fmt: skip
