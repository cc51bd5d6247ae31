"""Chaos fixtures: several task workers and executors we may kill, on the configured
database and broker (PostgreSQL + Redis in .ci/run), started through the fault-injecting
bootstrap ``tests.chaos.faults`` (which does nothing until a test switches a fault on)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos import report
from tests.integration.harness import Processes, purge_broker

TASK_WORKERS = ("tasks-1", "tasks-2")
EXECUTORS = ("executor-1", "executor-2")


class ChaosFleet(Processes):
    """Processes started with ``-A tests.chaos.faults`` and a control file for faults."""

    def __init__(self, logs: Path) -> None:
        super().__init__(logs)
        self.app = "tests.chaos.faults"
        self.control = self.logs / "faults" / "control.json"
        self.control.parent.mkdir(exist_ok=True)
        self.env["TRELLIS_CHAOS_CONTROL"] = str(self.control)
        self.roles: dict[str, tuple[str, int]] = {}

    def start_worker(self, name: str, queues: str, concurrency: int = 2, wait: bool = True) -> None:
        self.roles[name] = (queues, concurrency)
        super().start_worker(name, queues, concurrency, wait)

    def faults(self, **switches: Any) -> None:
        """Switch faults on (``duplicate={...}``, ``commit={...}``) or all off (no argument);
        every process sees the new switches at its next message."""
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps(switches))
        os.replace(tmp, self.control)

    def faults_used(self) -> dict[str, int]:
        """How many times each budgeted fault fired."""
        used: dict[str, int] = {}
        for marker in self.control.parent.glob("*.[0-9]*"):
            kind = marker.name.rsplit(".", 1)[0]
            used[kind] = used.get(kind, 0) + 1
        return used

    def revive(self) -> list[str]:
        """Restart every worker that died (a fault killed it); returns their names."""
        dead = [n for n in self.roles if not self.alive(n)]
        for name in dead:
            self.start_worker(name, *self.roles[name])
        return dead


def start_fleet(tmp_path: Path, **env: str) -> ChaosFleet:
    procs = ChaosFleet(tmp_path / "logs")
    procs.share_with_scripts(tmp_path)  # where the workloads' scripts record their effects
    # Random kills may hit one task run many times: only a task that kills its worker itself
    # should reach the lost-lease limit (issue 21).
    procs.env.update({"TRELLIS_LEASE_SECONDS": "4", "TRELLIS_MAX_LOST_LEASES": "50", **env})
    try:
        for name in EXECUTORS:
            procs.start_worker(name, "executor", concurrency=2)
        for name in TASK_WORKERS:
            procs.start_worker(name, "default", concurrency=2)
        procs.start_beat()
    except BaseException:
        procs.stop()
        raise
    return procs


@pytest.fixture
def fleet(django_db_setup, django_db_blocker, transactional_db, tmp_path) -> Iterator[ChaosFleet]:
    with django_db_blocker.unblock():
        purge_broker()
    procs = start_fleet(tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if report.ROWS:
        terminalreporter.section("chaos table")
        for line in report.table(report.ROWS):
            terminalreporter.write_line(line)
