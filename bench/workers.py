"""The Celery processes a benchmark run measures, started as in production.

Trellis: an executor worker on ``executor`` and a task worker on ``default``, two prefork
children each, no beat (nothing here waits on a timer); the ``scale`` scenario starts several
processes per role, each with the same flags. The bare-Celery floor and the skeleton run on
identical workers (same app configuration, same flags, same broker and database) that consume
the queues of ``bench.bare_celery`` or ``bench.skeleton`` instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from orchestrator import processes
from orchestrator.supervisor import Fleet, _process_group, _status_kb

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
        """Start one worker process; ``wait_ready`` is the caller's (starts overlap)."""
        argv = [*processes.celery("worker", "-Q", queues, "-c", str(CONCURRENCY),
                                  "-n", f"{name}@%h", "-l", "INFO"), *_FLAGS]  # fmt: skip
        argv[argv.index("-A") + 1] = app
        self._start(name, argv)
        self.groups.append(self.procs[name].pid)

    def _start_all(self, app: str, workers: list[tuple[str, str]]) -> None:
        """Start every (name, queue) at once, then wait for all: on two cores, N processes
        importing Django side by side are ready sooner than one after the other."""
        self.generation += 1
        names = [f"{name}{self.generation}" for name, _ in workers]
        for name, (_, queue) in zip(names, workers, strict=True):
            self._celery_worker(name, app, queue)
        for name in names:
            self.wait_ready(name)

    def start_trellis(self, executors: int = 1, task_workers: int = 1) -> None:
        """Executor and task worker processes, as ``manage.py server executor|worker`` runs
        them (one of each unless the ``scale`` scenario asks for more)."""
        self._start_all("orchestrator",
                        [(f"executor{'' if executors == 1 else f'-{i}-'}", "executor")
                         for i in range(executors)]
                        + [(f"tasks{'' if task_workers == 1 else f'-{i}-'}", "default")
                           for i in range(task_workers)])  # fmt: skip

    def start_bare(self, queues: tuple[str, ...], app: str = "bench.bare_celery") -> None:
        """One worker per queue of a bare-Celery chain (or of the skeleton, ``app``
        ``bench.skeleton``), with the Trellis workers' flags."""
        self._start_all(app, [(queue, queue) for queue in queues])

    def process_rss_kb(self) -> dict[str, list[int]]:
        """Resident memory now (kB, VmRSS) of every process of each role, leaders and their
        prefork children: ``executor`` and ``tasks``."""
        found: dict[str, list[int]] = {"executor": [], "tasks": []}
        for name, proc in self.procs.items():
            role = "executor" if name.startswith("executor") else "tasks"
            if proc.poll() is not None:
                continue
            for pid in [proc.pid, *_process_group(proc.pid)]:
                found[role].append(_status_kb(pid, "VmRSS") or 0)
        return found

    def role_rss_kb(self) -> dict[str, int]:
        """Resident memory now (kB) summed over each role's process trees."""
        return {role: sum(kbs) for role, kbs in self.process_rss_kb().items()}

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
