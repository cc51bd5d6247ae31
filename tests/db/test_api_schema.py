"""The OpenAPI schema generates, validates and documents the API's paths."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_schema_endpoint_returns_the_api(django_user_model):
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for expected in [
        "/api/v1/flows",
        "/api/v1/flows/{namespace}/{flow_id}",
        "/api/v1/flows/search",
        "/api/v1/flows/validate",
        "/api/v1/plugins",
        "/api/v1/namespaces/tree",
        "/api/v1/templates/search",
        "/api/v1/executions/{execution_id}/change-status",
        "/api/v1/executions/change-status/by-ids",
        "/api/v1/executions/labels/by-ids",
        "/api/v1/executions/restart/by-ids",
    ]:
        assert expected in paths
    assert "bearerAuth" in response.json()["components"]["securitySchemes"]


def test_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert target.read_text().startswith("openapi:")
