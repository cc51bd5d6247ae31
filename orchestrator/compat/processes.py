"""The Celery processes a compatibility run needs: executor, task worker and beat (sweeper).

The runner measures Trellis as it runs for real, so it starts the same worker processes
``server local`` does, on the configured broker and database, and stops them at the end.
(The integration tests' harness does the same for the test database; production code does
not import test modules, hence this small twin.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
#: Short sweeps and leases: pause delays, timeouts and retries come due within a second.
TIMINGS = {
    "TRELLIS_SWEEP_SECONDS": "1",
    "TRELLIS_LEASE_SECONDS": "10",
    "TRELLIS_HEARTBEAT_SECONDS": "1",
    "TRELLIS_QUIET_SECONDS": "5",
    "TRELLIS_RESEND_SECONDS": "10",
}


def database_url() -> str:
    """The URL of the database this process uses, for the workers to use the same one."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


def purge_broker() -> None:
    """Drop wake-ups a previous run left: the database says what is left to do."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for sub in ("queue", "processed"):
            folder = settings.BROKER_DIR / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        return
    from orchestrator.celery import app

    with app.connection_for_write() as conn:
        for queue in ("executor", "default"):
            with contextlib.suppress(Exception):  # a queue never declared is empty
                conn.default_channel.queue_purge(queue)


class Workers:
    """Start, check and stop the run's Celery processes (each in its own process group)."""

    def __init__(self, logs: Path, env: Mapping[str, str] | None = None) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            **TIMINGS,
            **dict(env or {}),
            "DATABASE_URL": database_url(),
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, *, task_concurrency: int = 4) -> None:
        """Executor, task worker and beat; returns once both workers say they are ready."""
        purge_broker()
        self._celery("executor", *self._worker_args("executor", "executor", 2))
        self._celery("tasks", *self._worker_args("tasks", "default", task_concurrency))
        schedule = self.logs / "beat-schedule"
        self._celery(
            "beat", "beat", "-S", "celery.beat:PersistentScheduler", "-s", str(schedule),
            "-l", "INFO",
        )  # fmt: skip
        for name in ("executor", "tasks"):
            self._wait_ready(name)

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs.values())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        self.procs.clear()

    @staticmethod
    def _worker_args(name: str, queues: str, concurrency: int) -> list[str]:
        return [
            "worker", "-Q", queues, "-c", str(concurrency), "-n", f"compat-{name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip

    def _celery(self, name: str, *args: str) -> None:
        handle = (self.logs / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator", *args],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def _wait_ready(self, name: str, timeout: float = 60) -> None:
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and " ready." in log.read_text(errors="replace"):
                return
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout}s:\n{log.read_text()[-3000:]}")
