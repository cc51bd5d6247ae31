"""FTP and FTPS (``io.kestra.plugin.fs.ftp.*``, ``...fs.ftps.*``) with the standard library's
ftplib.

The control connection goes through the outbound guard; data connections are passive and go
to the same, already checked host (ftplib ignores the address a PASV answer names), so a
server cannot point a transfer at the worker's neighbours.
"""

from __future__ import annotations

import contextlib
import ftplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kernel.plugin import Prop, TaskFailed
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

    #: Implicit FTPS wraps the control connection in TLS before the server's greeting.
    implicit_tls = False

    def connect(  # type: ignore[override]
        self, host: str = "", port: int = 0, timeout: float = 30.0, source_address: Any = None
    ) -> str:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = guarded_socket(host, port, timeout)
        if self.implicit_tls:
            self.sock = self.context.wrap_socket(self.sock, server_hostname=host)  # type: ignore[attr-defined]
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


class _GuardedFTPS(_GuardedFTP, ftplib.FTP_TLS):
    """FTP over TLS (explicit: AUTH TLS after the greeting; implicit: TLS from the start),
    the control connection opened by the guard; ftplib wraps data connections after PROT P."""


def tls_context(props: Mapping[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if props.get("insecureTrustAllCertificates") is True:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _mtime(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp()


class FtpBackend:
    def __init__(self, props: Mapping[str, Any], *, tls: bool = False) -> None:
        host = str(props["host"])
        if tls:
            self.ftp: _GuardedFTP = _GuardedFTPS(context=tls_context(props))
            self.ftp.implicit_tls = str(props.get("mode") or "EXPLICIT").upper() == "IMPLICIT"
        else:
            self.ftp = _GuardedFTP()
        try:
            self.ftp.connect(host, port_of(props, 990 if self.ftp.implicit_tls else 21), 30.0)
        except ssl.SSLError as exc:
            raise TaskFailed(f"TLS with {host} failed: {exc}") from exc
        try:
            self.ftp.login(
                str(props.get("username") or "anonymous"), str(props.get("password") or "")
            )
            if tls:
                level = str(props.get("dataChannelProtectionLevel") or "P").upper()
                if level == "P":
                    self.ftp.prot_p()  # type: ignore[attr-defined]
                else:
                    self.ftp.prot_c()  # type: ignore[attr-defined]
        except ftplib.error_perm as exc:
            self.close()
            raise TaskFailed(f"FTP login refused on {host}: {exc}") from exc
        except ssl.SSLError as exc:
            self.close()
            raise TaskFailed(f"TLS with {host} failed: {exc}") from exc
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


def connect_tls(props: Mapping[str, Any]) -> FtpBackend:
    return FtpBackend(props, tls=True)


TLS_PROPERTIES = (
    *PROPERTIES,
    Prop("mode", "string", default="EXPLICIT", choices=("EXPLICIT", "IMPLICIT")),
    Prop("dataChannelProtectionLevel", "string", default="P", choices=("P", "C")),
    Prop(
        "insecureTrustAllCertificates",
        "boolean",
        default=False,
        description="Accept any server certificate (a self-signed test server).",
    ),
)

PLUGINS = [
    *family("ftp", connect, scheme="ftp", connection=PROPERTIES, kestra="io.kestra.plugin.fs.ftp"),
    *family(
        "ftps",
        connect_tls,
        scheme="ftps",
        connection=TLS_PROPERTIES,
        kestra="io.kestra.plugin.fs.ftps",
    ),
]
