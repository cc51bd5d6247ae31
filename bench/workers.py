"""The Celery processes a benchmark run measures, started as in production.

Trellis: an executor worker on ``executor`` and a task worker on ``default``, two prefork
children each, no beat (nothing here waits on a timer). The bare-Celery floor runs on an
identical pair of workers (same app configuration, same flags, same broker and database)
that consume the queues of ``bench.bare_celery`` instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from orchestrator import processes
from orchestrator.supervisor import Fleet

CONCURRENCY = 2
_FLAGS = ["--without-gossip", "--without-mingle", "--without-heartbeat"]


class Workers(Fleet):
    """A fleet that can be stopped and started again (each start gets fresh log names, since
    readiness is read from the log) and that never leaves a process group behind."""

    def __init__(self, logs: Path) -> None:
        super().__init__(logs)
        self.generation = 0
        self.groups: list[int] = []

    def _celery_worker(self, name: str, app: str, queues: str) -> None:
        argv = [*processes.celery("worker", "-Q", queues, "-c", str(CONCURRENCY),
                                  "-n", f"{name}@%h", "-l", "INFO"), *_FLAGS]  # fmt: skip
        argv[argv.index("-A") + 1] = app
        self._start(name, argv)
        self.groups.append(self.procs[name].pid)
        self.wait_ready(name)

    def start_trellis(self) -> None:
        """Executor and task worker, as ``manage.py server executor|worker`` runs them."""
        self.generation += 1
        self._celery_worker(f"executor{self.generation}", "orchestrator", "executor")
        self._celery_worker(f"tasks{self.generation}", "orchestrator", "default")

    def start_bare(self, queues: tuple[str, ...]) -> None:
        """One worker per queue of the bare-Celery chain, with the Trellis workers' flags."""
        self.generation += 1
        for queue in queues:
            self._celery_worker(f"{queue}{self.generation}", "bench.bare_celery", queue)

    def stop_all(self) -> None:
        """Warm shutdown of every process started here, then SIGKILL for any process group
        (prefork children included) still alive."""
        try:
            self.stop()
        finally:
            for pgid in self.groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
            self.groups.clear()
            self.procs.clear()
