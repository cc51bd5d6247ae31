"""Integration fixtures: real Celery workers and beat on the configured broker + test DB."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.harness import Processes, purge_broker


@pytest.fixture(scope="session")
def celery_processes(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Processes]:
    with django_db_blocker.unblock():
        purge_broker()
        procs = Processes(tmp_path_factory.mktemp("celery-logs"))
        try:
            procs.start_worker("executor", "executor", concurrency=2)
            procs.start_worker("tasks", "default,wg.gpu", concurrency=2)
            procs.start_beat()
            yield procs
        finally:
            procs.stop()


@pytest.fixture
def workers(celery_processes, transactional_db) -> Processes:
    """Running workers, with a database whose commits they can see."""
    return celery_processes


def wait_for(predicate, timeout: float = 30.0, poll: float = 0.1):  # noqa: ANN001, ANN201
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"condition not met within {timeout}s")
