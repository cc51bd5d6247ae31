"""FTP (``io.kestra.plugin.fs.ftp.*``) with the standard library's ftplib.

The control connection goes through the outbound guard; data connections are passive and go
to the same, already checked host (ftplib ignores the address a PASV answer names), so a
server cannot point a transfer at the worker's neighbours.
"""

from __future__ import annotations

import contextlib
import ftplib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plugins.base import Prop, TaskFailed
from plugins.fs.family import family
from plugins.fs.remote import CONNECTION, Entry, guarded_socket, port_of, remote_join

PROPERTIES = (
    *CONNECTION,
    Prop("passiveMode", "boolean", default=True, description="Passive data connections."),
    Prop(
        "remoteIpVerification",
        "boolean",
        default=True,
        description="Accepted for Kestra's flows: data connections always go to the host.",
    ),
    Prop("rootDir", "boolean", default=True, description="Paths are absolute (Kestra's default)."),
)


class _GuardedFTP(ftplib.FTP):
    """ftplib's client whose control connection is opened by the guard."""

    def connect(  # type: ignore[override]
        self, host: str = "", port: int = 0, timeout: float = 30.0, source_address: Any = None
    ) -> str:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = guarded_socket(host, port, timeout)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def _mtime(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()


class FtpBackend:
    def __init__(self, props: Mapping[str, Any]) -> None:
        host = str(props["host"])
        self.ftp = _GuardedFTP()
        self.ftp.connect(host, port_of(props, 21), timeout=30.0)
        try:
            self.ftp.login(
                str(props.get("username") or "anonymous"), str(props.get("password") or "")
            )
        except ftplib.error_perm as exc:
            self.close()
            raise TaskFailed(f"FTP login refused on {host}: {exc}") from exc
        self.ftp.set_pasv(props.get("passiveMode") is not False)

    def list(self, path: str) -> list[Entry]:
        try:
            items = list(self.ftp.mlsd(path, facts=["type", "size", "modify"]))
        except ftplib.error_perm as exc:
            raise TaskFailed(f"{path}: cannot list ({exc})") from exc
        entries = []
        for name, facts in items:
            kind = facts.get("type", "file")
            if kind in ("cdir", "pdir") or name in (".", ".."):
                continue
            entries.append(Entry(
                path=remote_join(path, name), is_dir=kind == "dir",
                size=int(facts.get("size") or 0), mtime=_mtime(facts.get("modify")),
            ))  # fmt: skip
        return entries

    def stat(self, path: str) -> Entry | None:
        parent, _, name = path.rstrip("/").rpartition("/")
        try:
            entries = self.list(parent or "/")
        except TaskFailed:
            return None
        return next((e for e in entries if e.name == name), None)

    def download(self, path: str, target: Path) -> None:
        try:
            with target.open("wb") as out:
                self.ftp.retrbinary(f"RETR {path}", out.write)
        except ftplib.error_perm as exc:
            target.unlink(missing_ok=True)
            raise FileNotFoundError(path) from exc

    def upload(self, source: Path, path: str) -> None:
        with source.open("rb") as stream:
            self.ftp.storbinary(f"STOR {path}", stream)

    def delete(self, path: str) -> bool:
        try:
            self.ftp.delete(path)
        except ftplib.error_perm:
            return False
        return True

    def rename(self, source: str, target: str) -> None:
        self.ftp.rename(source, target)

    def makedirs(self, path: str) -> None:
        current = ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}/{part}" if (current or path.startswith("/")) else part
            with contextlib.suppress(ftplib.error_perm):
                self.ftp.mkd(current)

    def close(self) -> None:
        try:
            self.ftp.quit()
        except (ftplib.Error, OSError, EOFError, AttributeError):
            self.ftp.close()


def connect(props: Mapping[str, Any]) -> FtpBackend:
    return FtpBackend(props)


PLUGINS = family(
    "ftp", connect, scheme="ftp", connection=PROPERTIES, kestra="io.kestra.plugin.fs.ftp"
)
