"""The OpenAPI schema generates, validates and documents the API's paths."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import resolve
from rest_framework.test import APIClient

from orchestrator.api.base import ApiView

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


def _docs_page(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "<title>Trellis API</title>" in page
    assert '"/api/v1/schema/"' in page  # the page loads the schema from here
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn." not in page  # served by Trellis itself: works on a closed network
    return page


def test_docs_page_is_html_for_an_authenticated_user(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user(username="ana"))

    _docs_page(client.get("/api/v1/docs/"))


def test_docs_page_is_public_like_the_schema_it_loads():
    anonymous = APIClient()

    _docs_page(anonymous.get("/api/v1/docs/"))
    schema = anonymous.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert anonymous.get("/api/v1/flows/search").status_code == 401  # what it documents is not


def test_docs_page_and_schema_share_one_access_rule():
    docs, schema = resolve("/api/v1/docs/").func, resolve("/api/v1/schema/").func

    for key in ("authentication_classes", "permission_classes"):
        assert docs.view_initkwargs[key] == schema.view_initkwargs[key]
    assert schema.view_initkwargs["authentication_classes"] == ApiView.authentication_classes
