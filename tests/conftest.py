"""Shared fixtures: small generic ones for database tests, and the one fleet of real Celery
workers that integration and browser tests share."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from plugins.scripts.sandbox import UNSAFE_ENV, WRITABLE_ENV, probe

# Scripts run in bubblewrap's sandbox (issue 21). Where no bwrap works (a laptop without the
# package) the suite runs them unsandboxed, as local mode does, and tests of the sandbox
# itself skip; CI installs it (.ci/sandbox-setup), so there every script test is sandboxed.
if probe()[0] is None:
    os.environ.setdefault(UNSAFE_ENV, "1")

if TYPE_CHECKING:
    from tests.integration.harness import Processes


def flow_yaml(
    flow_id: str = "hello",
    namespace: str = "company.team",
    *,
    message: str = "Hello",
    extra: str = "",
) -> str:
    """A valid one-task flow document; ``extra`` is appended as top-level YAML."""
    return (
        f"id: {flow_id}\n"
        f"namespace: {namespace}\n"
        f"{extra}"
        "tasks:\n"
        "  - id: say\n"
        "    type: trellis.core.log.Log\n"
        f"    message: {message}\n"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on the session's fleet of real workers run last.

    The fleet lives until the session ends, and its beat and executor keep touching the
    test database; a transactional test's teardown (a TRUNCATE of every table) that runs
    beside them can deadlock on PostgreSQL. Run after every other test, the fleet has only
    its own tests' flushes to share the database with, and those wait for it by design."""
    items.sort(key=_order)


def _order(item: pytest.Item) -> int:
    """0: most tests; 1: those on the fleet; 2: the browser tests, all together at the very
    end, so the session's Chromium starts just before them (started first and kept alive
    through the whole session, its driver was found gone by the time the last ones ran)."""
    if "tests/browser/" in str(getattr(item, "path", "")).replace("\\", "/"):
        return 2
    return 1 if "celery_processes" in getattr(item, "fixturenames", ()) else 0


def _flush_retrying_deadlocks() -> None:
    """A transactional test's teardown flush retries when PostgreSQL picks it as a deadlock's
    victim: the fleet's beat and executor write to the same tables while it truncates them."""
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test.testcases import TransactionTestCase

    teardown = TransactionTestCase._fixture_teardown

    def retrying(self) -> None:  # noqa: ANN001
        for attempt in range(3):
            try:
                teardown(self)
            except CommandError as exc:
                if attempt == 2 or not isinstance(exc.__cause__, OperationalError):
                    raise
            else:
                return

    TransactionTestCase._fixture_teardown = retrying


_flush_retrying_deadlocks()


@pytest.fixture
def make_flow_yaml() -> Callable[..., str]:
    return flow_yaml


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password="pw"
    )


# One session fleet for every suite that runs tasks on real workers (integration, browser).
# A conftest that re-exports this fixture defines a second one, and its fleet would consume
# the same queues beside the first and take tasks from it.
@pytest.fixture(scope="session")
def celery_processes(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Processes]:
    from tests.integration.harness import Processes, purge_broker

    with django_db_blocker.unblock():
        purge_broker()
        procs = Processes(tmp_path_factory.mktemp("celery-logs"))
        procs.share_with_scripts(tmp_path_factory.mktemp("script-shared"))
        try:
            procs.start_worker("executor", "executor", concurrency=2)
            procs.start_worker("tasks", "default,wg.gpu", concurrency=2)
            procs.start_beat()
            yield procs
        finally:
            procs.stop()


@pytest.fixture
def script_folder(celery_processes) -> Path:
    """A fresh folder the fleet's script tasks may write: scripts are sandboxed and see
    nothing else of this machine (issue 21), so a test watching their side effects uses it."""
    shared = Path(celery_processes.env[WRITABLE_ENV])
    folder = Path(tempfile.mkdtemp(dir=shared))
    folder.chmod(0o777)
    return folder


@pytest.fixture
def workers(celery_processes, transactional_db) -> Processes:
    """Running workers, with a database whose commits they can see."""
    return celery_processes
