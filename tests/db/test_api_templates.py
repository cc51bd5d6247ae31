"""Template API: create, read, update, delete, search, namespace list."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from templates.models import Template
from templates.services import template_deploy
from tests.db.api_support import log_type_available, writer  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

YAML = "application/x-yaml"


def template_yaml(template_id="shared", namespace="company.team", message="Hi"):
    return (
        f"id: {template_id}\nnamespace: {namespace}\ntasks:\n"
        f"  - id: say\n    type: trellis.core.log.Log\n    message: {message}\n"
    )


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "ana"))
    return client


def test_create_and_get(api):
    response = api.generic("POST", "/api/v1/templates", template_yaml(), content_type=YAML)

    assert response.status_code == 201, response.content
    body = api.get("/api/v1/templates/company.team/shared?source=true").json()
    assert (body["id"], body["namespace"], body["revision"]) == ("shared", "company.team", 1)
    assert body["tasks"] == [{"id": "say", "type": "trellis.core.log.Log", "message": "Hi"}]
    assert body["source"] == template_yaml()


def test_create_twice_is_409(api):
    template_deploy(source=template_yaml())

    response = api.generic("POST", "/api/v1/templates", template_yaml("SHARED"), content_type=YAML)

    assert response.status_code == 409
    assert Template.objects.count() == 1


def test_template_with_flow_keys_is_422_at_the_key(api):
    source = template_yaml() + "triggers: []\n"

    response = api.generic("POST", "/api/v1/templates", source, content_type=YAML)

    assert response.status_code == 422
    assert [(e["path"], e["line"]) for e in response.json()["errors"]] == [("triggers", 7)]


def test_update_and_delete(api):
    template_deploy(source=template_yaml())
    url = "/api/v1/templates/company.team/shared"

    updated = api.generic("PUT", url, template_yaml(message="Bye"), content_type=YAML)
    wrong = api.generic("PUT", url, template_yaml("other"), content_type=YAML)
    deleted = api.delete(url)

    assert updated.json()["revision"] == 2
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["path"] == "id"
    assert deleted.status_code == 204
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404


def test_search_and_namespace_list(api):
    template_deploy(source=template_yaml("a", "company.team"))
    template_deploy(source=template_yaml("b", "company.team.sub"))
    template_deploy(source=template_yaml("c", "other"))

    search = api.get("/api/v1/templates/search?namespace=company.team&sort=id:desc").json()
    listed = api.get("/api/v1/templates/company.team").json()

    assert ([t["id"] for t in search["results"]], search["total"]) == (["b", "a"], 2)
    assert [t["id"] for t in listed] == ["a"]


def test_templates_need_authentication():
    assert APIClient().get("/api/v1/templates/search").status_code == 401
