"""Kestra 1.x's tenant-scoped API (issue 23): /api/v1/main/... serves what /api/v1/... does,
any other tenant is a 404 naming it, Kestra's renamed routes and the KV endpoints answer,
and a Trellis user's name and password authenticate (what Kestra's clients send)."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from flows.services import flow_deploy
from tests.db.api_support import authed_client, grant, log_type_available, writer  # noqa: F401

pytestmark = pytest.mark.django_db

FLOW = """
id: hello
namespace: t.tenants
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


@pytest.fixture
def api(django_user_model) -> APIClient:
    return authed_client(writer(django_user_model, "tenant-user"))


def test_the_main_tenant_serves_what_the_unscoped_path_does(api):
    flow_deploy(source=FLOW)

    scoped = api.get("/api/v1/main/flows/t.tenants/hello")
    unscoped = api.get("/api/v1/flows/t.tenants/hello")

    assert scoped.status_code == unscoped.status_code == 200
    assert scoped.json() == unscoped.json()
    assert scoped.json()["draft"] is False


def test_a_flow_created_as_yaml_under_the_tenant_is_stored(api):
    response = api.post("/api/v1/main/flows", FLOW, content_type="application/x-yaml")

    assert response.status_code == 201, response.json()
    assert api.get("/api/v1/flows/t.tenants/hello").json()["revision"] == 1


def test_another_tenant_is_a_404_that_names_it_and_changes_nothing(api):
    response = api.post("/api/v1/acme/flows", FLOW, content_type="application/x-yaml")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert "tenant 'acme' does not exist" in response.json()["detail"]
    assert api.get("/api/v1/flows/t.tenants/hello").status_code == 404


def test_an_anonymous_caller_gets_401_whatever_the_tenant():
    assert APIClient().get("/api/v1/acme/flows/search").status_code == 401
    assert APIClient().get("/api/v1/main/flows/search").status_code == 401


def test_an_unknown_path_under_the_tenant_is_the_api_404(api):
    response = api.get("/api/v1/main/no-such-thing")

    assert response.status_code == 404
    assert "no API endpoint" in response.json()["detail"]


def test_kestras_actions_path_kills_like_the_trellis_one(api):
    flow_deploy(source=FLOW)
    created = api.post("/api/v1/main/executions/t.tenants/hello").json()

    killed = api.delete(f"/api/v1/main/executions/{created['id']}/actions/kill")

    assert killed.status_code == 202
    assert api.get(f"/api/v1/executions/{created['id']}").json()["state"]["current"] in (
        "KILLING",
        "KILLED",
    )


def test_kv_put_get_delete_with_types(api):
    base = "/api/v1/main/namespaces/t.tenants/kv"
    assert api.put(f"{base}/n", "42", content_type="text/plain").status_code == 204
    assert api.put(f"{base}/s", "plain words", content_type="text/plain").status_code == 204
    assert api.put(f"{base}/j", '{"a": [1]}', content_type="text/plain").status_code == 204

    assert api.get(f"{base}/n").json()["value"] == 42
    assert api.get(f"{base}/n").json()["type"] == "NUMBER"
    assert api.get(f"{base}/s").json() | {"updated": None} == {
        "type": "STRING",
        "value": "plain words",
        "revision": 1,
        "updated": None,
    }
    assert api.get(f"{base}/j").json()["value"] == {"a": [1]}
    assert [row["key"] for row in api.get(base).json()] == ["j", "n", "s"]

    assert api.delete(f"{base}/n").json() is True
    assert api.delete(f"{base}/n").json() is False
    assert api.get(f"{base}/n").status_code == 404


def test_kv_refuses_a_bad_key_and_a_reader_who_writes(api, django_user_model):
    base = "/api/v1/main/namespaces/t.tenants/kv"
    assert api.put(f"{base}/bad key!", "1", content_type="text/plain").status_code == 422

    reader = django_user_model.objects.create_user(username="reader")
    grant(reader, "t", "read")
    response = authed_client(reader).put(f"{base}/k", "1", content_type="text/plain")
    assert response.status_code == 403
    assert api.get(f"{base}/k").status_code == 404


def test_basic_auth_with_a_trellis_user(django_user_model):
    writer(django_user_model, "basic", password="right-pass")

    def call(password: str):
        token = base64.b64encode(f"basic:{password}".encode()).decode()
        return APIClient().get("/api/v1/main/flows/search", HTTP_AUTHORIZATION=f"Basic {token}")

    assert call("right-pass").status_code == 200
    assert call("wrong-pass").status_code == 401


def test_the_schema_documents_both_forms():
    paths = (
        APIClient()
        .get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        .json()["paths"]
    )

    for path in ("/api/v1/flows", "/api/v1/{tenant}/flows",
                 "/api/v1/{tenant}/executions/{execution_id}/actions/kill",
                 "/api/v1/{tenant}/namespaces/{namespace}/kv/{key}",
                 "/api/v1/{tenant}/outputs/tasks/{execution_id}"):  # fmt: skip
        assert path in paths
    scoped = paths["/api/v1/{tenant}/flows"]["post"]
    assert scoped["operationId"] == "tenant_" + paths["/api/v1/flows"]["post"]["operationId"]
    assert any(p["name"] == "tenant" and p["in"] == "path" for p in scoped["parameters"])


def test_kestra_search_filters_become_trellis_parameters(api):
    flow_deploy(source=FLOW)
    flow_deploy(source=FLOW.replace("t.tenants", "t.elsewhere"))

    found = api.get("/api/v1/main/flows/search", {"filters[namespace][EQUALS]": "t.tenants"})
    assert [f["namespace"] for f in found.json()["results"]] == ["t.tenants"]

    refused = api.get("/api/v1/main/flows/search", {"filters[scope][EQUALS]": "USER"})
    assert refused.status_code == 400
    assert "filters[scope][EQUALS]" in refused.json()["detail"]
