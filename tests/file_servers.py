"""Real servers on 127.0.0.1 for the files families' tests (issue 17): SFTP (asyncssh), FTP
(pyftpdlib), S3 (moto's server mode) and bare git repositories. Each helper skips the test
when its library is missing, so a laptop without the dev extra still runs the rest."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

USER, PASSWORD = "alice", "pw-s3cret-917"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def sftp_server(root: Path, client_key: object = None) -> Iterator[int]:
    """An SFTP server whose ``/`` is ``root``; user ``USER`` with ``PASSWORD`` (or the
    public half of ``client_key``, an asyncssh key). Yields its port."""
    asyncssh = pytest.importorskip("asyncssh")

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == USER and password == PASSWORD

        def public_key_auth_supported(self) -> bool:
            return client_key is not None

        def validate_public_key(self, username: str, key: object) -> bool:
            wanted = client_key.convert_to_public()  # type: ignore[attr-defined]
            return username == USER and key.public_data == wanted.public_data  # type: ignore[attr-defined]

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    async def start() -> None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        holder["server"] = await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[key], server_factory=Server,
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
        )  # fmt: skip
        holder["port"] = holder["server"].sockets[0].getsockname()[1]
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "SFTP server did not start"
    try:
        yield holder["port"]
    finally:

        async def stop() -> None:
            holder["server"].close()
            for pending in asyncio.all_tasks():
                if pending is not asyncio.current_task():
                    pending.cancel()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def self_signed(folder: Path) -> Path:
    """A PEM file holding a fresh self-signed certificate for 127.0.0.1 and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = folder / "server.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem


@contextlib.contextmanager
def ftp_server(root: Path, tls: bool = False) -> Iterator[int]:
    """An FTP server serving ``root`` to ``USER``/``PASSWORD`` (with ``tls``: explicit FTPS,
    a self-signed certificate, TLS required). Yields its port."""
    pytest.importorskip("pyftpdlib")
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmwMT")
    attributes: dict = {"authorizer": authorizer, "banner": "test"}
    base: type = FTPHandler
    if tls:
        pytest.importorskip("OpenSSL")  # pyftpdlib's TLS handler needs pyOpenSSL
        from pyftpdlib.handlers import TLS_FTPHandler

        base = TLS_FTPHandler
        attributes.update(certfile=str(self_signed(root.parent)), tls_control_required=True,
                          tls_data_required=True)  # fmt: skip
    handler = type("Handler", (base,), attributes)
    server = FTPServer(("127.0.0.1", 0), handler)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"timeout": 0.1, "blocking": True}, daemon=True
    )
    thread.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as probe:
        probe.recv(64)  # the greeting: the loop serves, closing it later is safe
    try:
        yield port
    finally:
        server.close_all()
        thread.join(5)


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 API over HTTP on 127.0.0.1. Yields its endpoint URL."""
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def bare_repo(root: Path, files: dict[str, str], branch: str = "main") -> Path:
    """A bare repository at ``root/repo.git`` whose ``branch`` holds ``files``."""
    bare = root / "repo.git"
    git("init", "-q", "--bare", str(bare), cwd=root)
    work = root / "seed"
    work.mkdir()
    git("init", "-q", cwd=work)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "seed", cwd=work)
    git("push", "-q", str(bare), f"HEAD:refs/heads/{branch}", cwd=work)
    return bare
