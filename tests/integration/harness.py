"""Real Celery processes for integration tests: an executor worker, a task worker and beat,
started as subprocesses on the configured broker and the test database.

Nothing runs eagerly: a test submits work through services or the API and waits for the
database to show the outcome, exactly as a user would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the test database pytest-django created (workers must use the same one)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


def purge_broker() -> None:
    """Drop messages a previous run left behind."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        for sub in ("queue", "processed"):
            folder = settings.BROKER_DIR / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
        return
    from orchestrator.celery import app

    with app.connection_for_write() as conn:
        for queue in ("executor", "default", "wg.gpu"):
            with contextlib.suppress(Exception):  # a queue that does not exist yet is empty
                conn.default_channel.queue_purge(queue)


class Processes:
    """Start, watch and stop the Celery processes of a test session."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "TRELLIS_SWEEP_SECONDS": "1",
            "TRELLIS_LEASE_SECONDS": os.environ.get("TRELLIS_LEASE_SECONDS", "6"),
            "TRELLIS_HEARTBEAT_SECONDS": "1",
            "TRELLIS_QUIET_SECONDS": "5",
            "TRELLIS_RESEND_SECONDS": "10",
            "PYTHONUNBUFFERED": "1",
            # A secret the workers know, for the masking tests (base64 of hunter2-secret).
            "SECRET_DB_PASSWORD": "aHVudGVyMi1zZWNyZXQ=",
        }

    def _celery(self, name: str, *args: str) -> None:
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "orchestrator", *args],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_worker(self, name: str, queues: str, concurrency: int = 2) -> None:
        self._celery(
            name, "worker", "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        )  # fmt: skip
        self.wait_ready(name)

    def start_beat(self) -> None:
        schedule = self.logs / "beat-schedule"
        self._celery(
            "beat", "beat", "-S", "celery.beat:PersistentScheduler", "-s", str(schedule),
            "-l", "INFO",
        )  # fmt: skip

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and " ready." in log.read_text(errors="replace"):
                return
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.get(name)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(name)
