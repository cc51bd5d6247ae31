"""Private Redis and PostgreSQL servers a chaos test may restart at will.

Never the machine's own services (other people use them): each server here runs from a
temporary folder on a free loopback port, and is removed afterwards. PostgreSQL's server
refuses to run as root, so when we are root it runs as the ``postgres`` OS user (runuser).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian's layout), if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def missing_binaries() -> str | None:
    """Why the private servers cannot start here, or None."""
    if REDIS_SERVER is None:
        return "redis-server is not installed"
    if postgres_bin() is None:
        return "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists("postgres")):
        return "running as root needs runuser and a 'postgres' OS user for PostgreSQL"
    return None


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class PrivateRedis:
    """A redis-server without persistence: a restart loses every queued message."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.root)]  # fmt: skip
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust authentication, fsync off, commits synchronous)."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="trellis-chaos-pg-"))
        self.data, self.port = self.root / "data", free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *argv: str) -> None:
        assert self.bin is not None
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.root, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip

    def start(self) -> None:
        # Commits are synchronous: an acknowledged commit (a worker's claim) survives the
        # crash this server is put through, as on any real deployment. With
        # synchronous_commit=off an immediate stop forgot claims whose task had already run,
        # so the task ran again (a doubled side effect the design cannot prevent). fsync
        # stays off: a killed server leaves the OS page cache intact.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                   "-c fsync=off -c synchronous_commit=on -c full_page_writes=off")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "postgres.log"),
                  "-o", options, "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash: no checkpoint, recovery from the WAL at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    def remove(self) -> None:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.stop("immediate")  # fails when it is not running
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_services(root: Path) -> Iterator[tuple[PrivateRedis, PrivatePostgres]]:
    redis, postgres = PrivateRedis(root), PrivatePostgres()
    try:
        redis.start()
        postgres.init()
        postgres.start()
        yield redis, postgres
    finally:
        redis.stop()
        postgres.remove()
