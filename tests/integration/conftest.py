"""Integration helpers. The ``workers`` fixture (real Celery workers and beat on the configured
broker and test database) lives in tests/conftest.py, so one fleet serves every suite."""

from __future__ import annotations

import time

import pytest


def wait_for(predicate, timeout: float = 30.0, poll: float = 0.1):  # noqa: ANN001, ANN201
    """Poll until ``predicate()`` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"condition not met within {timeout}s")
