"""Start, watch and stop Celery processes from Python: used by the compatibility runner,
the benchmark and the integration tests (which need real workers, never eager tasks)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.db import connection

from orchestrator import processes
from orchestrator.celery import app


def database_url() -> str:
    """The URL of the database this process uses (the test database under pytest), so the
    processes started here use the same one."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


class Fleet:
    """A set of named Celery processes, each in its own process group, logging to files."""

    def __init__(self, logs: Path, env: Mapping[str, str] | None = None) -> None:
        self.logs = Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        #: Where each process's current run starts in its log (a restarted process appends).
        self.log_offsets: dict[str, int] = {}
        #: The Celery app module given to ``-A`` (a test may substitute one that injects faults).
        self.app = "orchestrator"
        self.env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1",
                    **(env or {})}  # fmt: skip

    def _start(self, name: str, argv: list[str]) -> None:
        if self.app != "orchestrator":
            argv = [self.app if arg == "orchestrator" else arg for arg in argv]
        path = self.logs / f"{name}.log"
        self.log_offsets[name] = path.stat().st_size if path.exists() else 0
        with path.open("ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=settings.BASE_DIR, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def start_worker(self, name: str, queues: str, concurrency: int = 2, wait: bool = True) -> None:
        argv = processes.worker_cmd(queues, concurrency, name=name)
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self._start(name, argv)
        if wait:
            self.wait_ready(name)

    def start_beat(
        self, name: str = "beat", scheduler: str = "celery.beat:PersistentScheduler"
    ) -> None:
        """Beat with a schedule file (only the sweeper), or with ``scheduler`` (the
        DatabaseScheduler, where Schedule triggers live)."""
        schedule = self.logs / f"{name}-schedule"
        self._start(name, processes.celery(
            "beat", "-S", scheduler, "-s", str(schedule), "-l", "INFO"
        ))  # fmt: skip

    def start_triggers(self, name: str = "triggers") -> None:
        """The realtime triggers role (``server triggers``)."""
        self._start(name, processes.triggers_cmd())

    def log_text(self, name: str) -> str:
        """What the current run of ``name`` has logged so far."""
        log = self.logs / f"{name}.log"
        if not log.exists():
            return ""
        with log.open("rb") as f:
            f.seek(self.log_offsets.get(name, 0))
            return f.read().decode(errors="replace")

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log_text(name):
                return
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """SIGKILL hits the whole process group (a crash takes the pool processes too); a
        stop request (SIGTERM, SIGINT) goes to the leader only, as ``kill PID``, systemd or
        ``docker stop`` send it: Celery then stops its pool processes itself. Sent to the
        group, it could kill a pool process while it held the pool's result-queue lock,
        and the leader then waited on that lock forever."""
        proc = self.procs.get(name)
        if proc and proc.poll() is None:
            if sig in (signal.SIGTERM, signal.SIGINT):
                proc.send_signal(sig)
            else:
                os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def peak_rss(self) -> dict[str, int]:
        """Peak resident memory (kB, the kernel's VmHWM) of each live process, keyed by
        ``name`` for a leader and ``name/<pid>`` for its children (prefork pool processes):
        read before ``stop`` to report how much memory a run needed."""
        found: dict[str, int] = {}
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            for pid in [proc.pid, *_process_group(proc.pid)]:
                kb = _status_kb(pid, "VmHWM")
                if kb is not None:
                    found[name if pid == proc.pid else f"{name}/{pid}"] = kb
        return found

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(name)


def _process_group(pgid: int) -> list[int]:
    """Other processes of a process group (Linux /proc; empty elsewhere)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and int(entry.name) != pgid:
            members.append(int(entry.name))
    return members


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def purge_broker() -> None:
    """Drop messages a previous run left behind on the configured broker."""
    import contextlib
    import shutil

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for sub in ("queue", "processed"):
            folder = settings.BROKER_DIR / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        return

    with app.connection_for_write() as conn:
        for queue in ("executor", "default"):
            with contextlib.suppress(Exception):  # a queue that does not exist yet is empty
                conn.default_channel.queue_purge(queue)
