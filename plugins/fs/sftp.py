"""SFTP (``io.kestra.plugin.fs.sftp.*``) over paramiko, an optional dependency
(``pip install 'trellis[fs]'``): imported when a task connects, so a worker without it still
loads every other type, and validation names the extra."""

from __future__ import annotations

import contextlib
import io
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kernel.plugin import Prop, TaskFailed
from plugins.fs.family import family
from plugins.fs.remote import CONNECTION, Entry, guarded_socket, port_of, remote_join

PROPERTIES = (
    *CONNECTION,
    Prop("keyfile", "string", description="Private key (PEM text) instead of a password."),
    Prop("passphrase", "string", description="Passphrase of the private key."),
    Prop("rootDir", "boolean", default=True, description="Paths are absolute (Kestra's default)."),
    Prop("keyExchangeAlgorithm", "string", description="Offer only this key exchange."),
    Prop(
        "enableSshRsa1",
        "boolean",
        default=False,
        description="Allow the ssh-rsa (SHA-1) signature for old servers.",
    ),
)


def _key(text: str, passphrase: str | None) -> Any:
    import paramiko  # optional dependency (trellis[fs])

    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException as exc:
            raise TaskFailed("`keyfile` is encrypted: give its `passphrase`") from exc
        except paramiko.SSHException:
            continue  # another key type
    # The key's text is never quoted: it is a credential.
    raise TaskFailed(
        "`keyfile` is not a readable private key (PEM or OpenSSH; RSA, ECDSA, Ed25519), "
        "or its `passphrase` is wrong"
    )


class SftpBackend:
    """One SFTP session. Host keys are not checked, as Kestra's SFTP tasks do not check them:
    the guard decides where a flow may connect, the credentials who it is there."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        import paramiko  # optional dependency (trellis[fs])

        host = str(props["host"])
        sock = guarded_socket(host, port_of(props, 22))
        # SHA-1 RSA signatures are refused unless the flow asks for them (Kestra's default).
        disabled = (
            {} if props.get("enableSshRsa1") else {"pubkeys": ["ssh-rsa"], "keys": ["ssh-rsa"]}
        )
        self.transport = paramiko.Transport(sock, disabled_algorithms=disabled)
        try:
            if props.get("keyExchangeAlgorithm"):
                self.transport.get_security_options().kex = (str(props["keyExchangeAlgorithm"]),)
            self.transport.start_client(timeout=30)
            user = str(props.get("username") or "")
            if props.get("keyfile"):
                key = _key(str(props["keyfile"]), props.get("passphrase") or None)
                self.transport.auth_publickey(user, key)
            else:
                self.transport.auth_password(user, str(props.get("password") or ""))
            self.client = paramiko.SFTPClient.from_transport(self.transport)
        except paramiko.AuthenticationException as exc:
            self.transport.close()
            raise TaskFailed(f"SFTP authentication failed for {user!r} on {host}") from exc
        except (paramiko.SSHException, ValueError) as exc:
            self.transport.close()
            raise TaskFailed(f"SFTP connection to {host} failed: {exc}") from exc

    def _entry(self, path: str, attrs: Any) -> Entry:
        return Entry(
            path=path,
            is_dir=stat.S_ISDIR(attrs.st_mode or 0),
            size=int(attrs.st_size or 0),
            mtime=float(attrs.st_mtime) if attrs.st_mtime is not None else None,
        )

    def list(self, path: str) -> list[Entry]:
        try:
            items = self.client.listdir_attr(path)
        except FileNotFoundError as exc:
            raise TaskFailed(f"{path}: no such folder") from exc
        return [self._entry(remote_join(path, a.filename), a) for a in items]

    def stat(self, path: str) -> Entry | None:
        try:
            return self._entry(path, self.client.stat(path))
        except FileNotFoundError:
            return None

    def download(self, path: str, target: Path) -> None:
        self.client.get(path, str(target))

    def upload(self, source: Path, path: str) -> None:
        self.client.put(str(source), path, confirm=True)

    def delete(self, path: str) -> bool:
        try:
            self.client.remove(path)
        except FileNotFoundError:
            return False
        return True

    def rename(self, source: str, target: str) -> None:
        try:
            self.client.posix_rename(source, target)
        except OSError:
            self.client.rename(source, target)  # servers without the posix-rename extension

    def makedirs(self, path: str) -> None:
        current = "/" if path.startswith("/") else ""
        for part in [p for p in path.split("/") if p]:
            current = f"{current}{part}" if current in ("", "/") else f"{current}/{part}"
            try:
                self.client.stat(current)
            except FileNotFoundError:
                with contextlib.suppress(OSError):
                    self.client.mkdir(current)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        self.transport.close()


def connect(props: Mapping[str, Any]) -> SftpBackend:
    return SftpBackend(props)


PLUGINS = family(
    "sftp",
    connect,
    scheme="sftp",
    connection=PROPERTIES,
    kestra="io.kestra.plugin.fs.sftp",
    library="paramiko",
)
