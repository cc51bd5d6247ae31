"""The JSON Schema of a whole flow: every plugin type in it, the Kestra corpus valid against
it, typos caught, and the same document from the API and ``trellis flow schema``."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command

from compat.scenarios import TEST_ONLY_TYPES, default_corpus
from flows.schema import flow_schema
from kernel.registry import registry

CORPUS = default_corpus() / "flows"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = flow_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_plugin_type_and_alias_is_in_the_schema() -> None:
    schema = flow_schema()
    named = {
        *schema["$defs"]["task"]["properties"]["type"]["enum"],
        *schema["$defs"]["trigger"]["properties"]["type"]["enum"],
        *schema["$defs"]["condition"]["properties"]["type"]["enum"],
    }
    for canonical, cls in registry.all().items():
        assert canonical in schema["$defs"], canonical
        assert {cls.type, *cls.aliases} <= named, canonical
    assert "io.kestra.plugin.core.log.Log" in schema["$defs"]["task"]["properties"]["type"]["enum"]


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared Kestra corpus is not at {CORPUS}")
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".yml", ".yaml"))


def test_every_kestra_corpus_flow_validates(validator) -> None:
    files = corpus_files()
    assert len(files) > 50
    for path in files:
        doc = yaml.safe_load(path.read_text())
        # Kestra's test-only task types: no plugin has them, deploy refuses them too
        errors = [e for e in validator.iter_errors(doc) if e.instance not in TEST_ONLY_TYPES]
        assert not errors, (path.name, [(list(e.absolute_path), e.message[:200]) for e in errors])


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"tsks": []}, []),  # an unknown top-level key
        ({"tasks": [{"id": "a", "type": "io.kestra.plugin.core.log.Lgo", "message": "x"}]},
         ["tasks", 0, "type"]),
        ({"tasks": [{"id": "a", "type": "io.kestra.plugin.core.log.Log", "message": "x",
                     "allowFailure": "yes"}]}, ["tasks", 0, "allowFailure"]),
        ({"tasks": [{"id": "s", "type": "io.kestra.plugin.core.flow.Sequential", "tasks": [
            {"id": "b", "type": "io.kestra.plugin.core.log.Log"}]}]},  # Log needs its message
         ["tasks", 0, "tasks", 0]),
    ],
)  # fmt: skip
def test_mistakes_are_reported_where_they_are(validator, change: dict, where: list) -> None:
    doc = {
        "id": "f",
        "namespace": "n",
        "tasks": [{"id": "a", "type": "io.kestra.plugin.core.log.Log", "message": "hi"}],
    }
    assert not list(validator.iter_errors(doc))
    errors = list(validator.iter_errors({**doc, **change}))
    assert errors
    assert any(list(e.absolute_path)[: len(where)] == where for e in errors), [
        (list(e.absolute_path), e.message) for e in errors
    ]


@pytest.mark.django_db
def test_the_api_and_the_command_serve_the_same_schema(client, django_user_model) -> None:
    user = django_user_model.objects.create_user(username="ana", password="pw")
    client.force_login(user)
    response = client.get("/api/v1/plugins/schemas/flow")
    assert response.status_code == 200
    out = StringIO()
    call_command("flow", "schema", stdout=out)
    assert json.loads(out.getvalue()) == response.json() == flow_schema()
