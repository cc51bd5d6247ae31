"""Chaos fixtures: several task workers and executors we may kill, on the configured
database and broker (PostgreSQL + Redis in .ci/run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import Processes, purge_broker

TASK_WORKERS = ("tasks-1", "tasks-2")
EXECUTORS = ("executor-1", "executor-2")


@pytest.fixture
def fleet(django_db_setup, django_db_blocker, transactional_db, tmp_path) -> Iterator[Processes]:
    with django_db_blocker.unblock():
        purge_broker()
    procs = Processes(tmp_path)
    procs.env["TRELLIS_LEASE_SECONDS"] = "4"
    try:
        for name in EXECUTORS:
            procs.start_worker(name, "executor", concurrency=2)
        for name in TASK_WORKERS:
            procs.start_worker(name, "default", concurrency=2)
        procs.start_beat()
        yield procs
    finally:
        procs.stop()
