"""``manage.py server local`` as a user runs it: embedded mode (no DATABASE_URL, no
CELERY_BROKER_URL) in a fresh TRELLIS_HOME, the admin answering, an example flow run from a
second command, and every child process gone after SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc), to check later that none outlived it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def with_home(home: Path) -> Iterator[int]:
    """Processes whose environment names this TRELLIS_HOME (started by the server)."""
    needle = f"TRELLIS_HOME={home}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    yield int(entry.name)
            except OSError:
                continue


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["TRELLIS_HOME"] = str(tmp_path / "home")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("TRELLIS_ADMIN_PASSWORD", None)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


def wait_for_admin(port: int, server: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server local exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the admin did not answer within {timeout}s")


def test_server_local_runs_every_role_and_stops_them_all(embedded_env, tmp_path) -> None:
    port = free_port()
    home = tmp_path / "home"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "server", "local", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=embedded_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    children: set[int] = set()
    try:
        wait_for_admin(port, server)
        children = descendants(server.pid)
        assert len(children) >= 4  # executor, worker, beat, web (+ Celery pool processes)

        run = manage(embedded_env, "flow", "run", "trellis.examples", "hello", "--wait")
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stdout.splitlines()[-1].startswith("SUCCESS ")
        assert "Hello from trellis.examples.hello" in run.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)

    assert server.returncode == 0, output
    banner = re.search(
        rf"Trellis is running: open http://127\.0\.0\.1:{port}/admin/ "
        r"\(user admin, password (\S+)\)",
        output,
    )
    assert banner, output
    assert "Trellis stopped." in output
    assert [pid for pid in children if alive(pid)] == []
    assert list(with_home(home)) == []
    # The printed password is the one that works, and only its hash is stored.
    password = banner.group(1)
    check = manage(embedded_env, "shell", "-c", (
        "from django.contrib.auth import authenticate; "
        f"u = authenticate(username='admin', password={password!r}); "
        f"print(u.is_superuser, {password!r} not in u.password)"
    ))  # fmt: skip
    assert check.stdout.split()[-2:] == ["True", "True"], check.stdout + check.stderr
