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
        self.env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1",
                    **(env or {})}  # fmt: skip

    def _start(self, name: str, argv: list[str]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, cwd=settings.BASE_DIR, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def start_worker(self, name: str, queues: str, concurrency: int = 2) -> None:
        argv = processes.worker_cmd(queues, concurrency, name=name)
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self._start(name, argv)
        self.wait_ready(name)

    def start_beat(self) -> None:
        schedule = self.logs / "beat-schedule"
        self._start("beat", processes.celery(
            "beat", "-S", "celery.beat:PersistentScheduler", "-s", str(schedule), "-l", "INFO"
        ))  # fmt: skip

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
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(name)


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
    from orchestrator.celery import app

    with app.connection_for_write() as conn:
        for queue in ("executor", "default"):
            with contextlib.suppress(Exception):  # a queue that does not exist yet is empty
                conn.default_channel.queue_purge(queue)
