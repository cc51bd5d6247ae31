"""GET /plugins: every task and trigger type with a JSON schema built from its Props."""

from __future__ import annotations

import jsonschema
import pytest
from rest_framework.test import APIClient

from kernel.plugin import FlowableTask, Prop, RunnableTask, TriggerType
from kernel.plugin_schema import json_schema
from kernel.registry import Registry
from orchestrator.api import plugins as plugins_api
from tests.db.api_support import problem

pytestmark = pytest.mark.django_db


class Echo(RunnableTask):
    """Print a message."""

    type = "test.Echo"
    aliases = ("io.kestra.test.Echo",)
    properties = (
        Prop("message", required=True, description="what to print"),
        Prop("times", "integer", default=1),
        Prop("level", choices=("INFO", "WARN"), default="INFO"),
        Prop("tags", "list", items="string", dynamic=False),
        Prop("format", aliases=("fmt",), deprecated="use message"),
    )
    examples = ("id: f\nnamespace: n\ntasks:\n  - id: e\n    type: test.Echo\n    message: hi\n",)


class Branch(FlowableTask):
    type = "test.Branch"
    properties = (Prop("tasks", "tasks", required=True), Prop("cases", "task_map"))


class Tick(TriggerType):
    type = "test.Tick"
    properties = (Prop("cron", required=True),)


@pytest.fixture
def fake_registry(monkeypatch):
    reg = Registry()
    reg._loaded = True
    for cls in (Echo, Branch, Tick):
        reg.register(cls)
    monkeypatch.setattr(plugins_api, "registry", reg)
    return reg


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user(username="ana"))
    return client


def test_schema_is_valid_json_schema_and_checks_a_definition():
    schema = json_schema(Echo)

    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"id": "e", "type": "test.Echo", "message": "hi", "times": 2})
    assert validator.is_valid(
        {"id": "e", "type": "io.kestra.test.Echo", "message": "hi", "times": "{{ n }}"}
    )
    assert not validator.is_valid({"id": "e", "type": "test.Echo"})  # message is required
    assert not validator.is_valid({"id": "e", "type": "test.Echo", "message": "x", "level": "LOUD"})
    assert not validator.is_valid({"id": "e", "type": "test.Echo", "message": "x", "tags": "a"})


def test_schema_carries_descriptions_defaults_aliases_and_deprecation():
    schema = json_schema(Echo)
    props = schema["properties"]

    assert schema["description"] == "Print a message."
    assert schema["required"] == ["id", "type", "message"]
    assert props["type"] == {"enum": ["test.Echo", "io.kestra.test.Echo"]}
    assert props["message"]["description"] == "what to print"
    assert props["times"]["default"] == 1
    assert props["fmt"]["x-alias-of"] == "format"
    assert props["format"]["deprecated"] is True
    assert schema["examples"] == list(Echo.examples)


def test_flowable_task_lists_are_arrays_of_tasks():
    schema = json_schema(Branch)
    validator = jsonschema.Draft202012Validator(schema)

    assert validator.is_valid(
        {"id": "b", "type": "test.Branch", "tasks": [{"id": "x", "type": "t"}], "cases": {"a": []}}
    )
    assert not validator.is_valid({"id": "b", "type": "test.Branch", "tasks": [{"id": "x"}]})


def test_list_plugins(api, fake_registry):
    response = api.get("/api/v1/plugins")

    assert response.status_code == 200
    body = response.json()
    assert [(p["type"], p["kind"]) for p in body] == [
        ("test.Branch", "flowable"),
        ("test.Echo", "runnable"),
        ("test.Tick", "trigger"),
    ]
    assert body[1]["aliases"] == ["io.kestra.test.Echo"]
    assert body[1]["schema"] == json_schema(Echo)


def test_list_plugins_by_kind(api, fake_registry):
    body = api.get("/api/v1/plugins?kind=trigger").json()
    assert [p["type"] for p in body] == ["test.Tick"]


def types(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["type"] for p in response.json()]


def test_the_whole_list_carries_its_total_in_a_header(api, fake_registry):
    response = api.get("/api/v1/plugins")

    assert types(response) == ["test.Branch", "test.Echo", "test.Tick"]
    assert response["X-Total-Count"] == "3"


def test_list_plugins_pages_and_sorts(api, fake_registry):
    page = api.get("/api/v1/plugins?sort=type:desc&size=2&page=1")
    last = api.get("/api/v1/plugins?sort=type:desc&size=2&page=2")
    by_kind = api.get("/api/v1/plugins?sort=kind:desc,type:asc")

    assert types(page) == ["test.Tick", "test.Echo"]
    assert page["X-Total-Count"] == "3"
    assert types(last) == ["test.Branch"]
    assert types(by_kind) == ["test.Tick", "test.Echo", "test.Branch"]  # trigger, runnable...
    assert page.json()[1]["schema"] == json_schema(Echo)  # the same documents, paged


def test_paging_counts_what_the_kind_filter_keeps(api, fake_registry):
    response = api.get("/api/v1/plugins?kind=runnable&size=1&page=2")

    assert types(response) == []
    assert response["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "query", ["sort=schema:asc", "sort=type:sideways", "size=0", "size=501", "page=x"]
)
def test_bad_paging_or_sorting_of_plugins_is_a_400(api, fake_registry, query):
    body = problem(api.get(f"/api/v1/plugins?{query}"), 400)

    assert body["errors"][0]["field"] in ("sort", "size", "page")


def test_get_plugin_by_alias_and_unknown(api, fake_registry):
    assert api.get("/api/v1/plugins/io.kestra.test.Echo").json()["type"] == "test.Echo"

    response = api.get("/api/v1/plugins/test.Ech")
    assert response.status_code == 404
    assert response.json()["detail"] == "unknown type 'test.Ech'; did you mean 'test.Echo'?"


def test_plugins_need_authentication(fake_registry):
    assert APIClient().get("/api/v1/plugins").status_code == 401
