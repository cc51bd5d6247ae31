"""Helpers shared by the API tests (plain functions; the fixtures stay in each file)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from flows.services import flow_deploy
from kernel.plugin import Prop, RunnableTask
from kernel.registry import UnknownType, registry
from kernel.spec import parse as spec_module
from kernel.spec.model import SpecError
from tests.conftest import flow_yaml

YAML = "application/x-yaml"
#: Top-level namespaces the API tests deploy into; ``writer`` users may write in all of them.
TEST_ROOTS = ("company", "other", "t", "it", "n", "x")


def grant(user, namespace: str, permission: str = "write") -> None:
    """Give ``user`` ``permission`` (read, execute or write) on ``namespace`` and inside it."""
    from access.models import NamespaceGrant

    NamespaceGrant.objects.create(user=user, namespace=namespace, permission=permission)


def writer(user_model, username: str = "ana", **fields):
    """An ordinary (not super) user with write access to every namespace of the API tests."""
    user = user_model.objects.create_user(username=username, **fields)
    for root in TEST_ROOTS:
        grant(user, root)
    return user


def authed_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def problem(response, status: int) -> dict:
    """Assert ``response`` is an error of ``status`` in the API's error shape; return it."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status
    assert body["type"].startswith("urn:trellis:problem:")
    return body


def spec_problems(source: str) -> list[tuple[str, int, int]]:
    """What the spec parser itself reports for ``source``: (path, line, column)."""
    with pytest.raises(SpecError) as caught:
        spec_module.parse_flow(source)
    return [(p.path, p.line, p.col) for p in caught.value.problems]


def deploy_catalogue() -> None:
    """Four flows: company.team.a1 (env: prod), company.team.sub.a2 (env: dev),
    company.teamx.b1 and other.c1."""
    flow_deploy(source=flow_yaml("a1", "company.team", extra="labels:\n  env: prod\n"))
    flow_deploy(source=flow_yaml("a2", "company.team.sub", extra="labels:\n  env: dev\n"))
    flow_deploy(source=flow_yaml("b1", "company.teamx"))
    flow_deploy(source=flow_yaml("c1", "other"))


class _StandInLog(RunnableTask):
    """Used only while the real ``trellis.core.log.Log`` plugin is not in the tree."""

    type = "trellis.core.log.Log"
    properties = (Prop("message", "any", required=True), Prop("level"))


@pytest.fixture(autouse=True)
def log_type_available(monkeypatch):
    """The API tests deploy flows using the Log task: make sure the registry knows it."""
    try:
        registry.get(_StandInLog.type)
    except UnknownType:
        monkeypatch.setattr(registry, "_by_name", dict(registry._by_name))
        registry.register(_StandInLog)
