"""Shared fixtures for database tests: small and generic on purpose."""

from __future__ import annotations

from collections.abc import Callable

import pytest


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


@pytest.fixture
def make_flow_yaml() -> Callable[..., str]:
    return flow_yaml


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password="pw"
    )
