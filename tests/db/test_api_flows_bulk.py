"""Flow API in bulk: graph, export/import, by-ids actions, distinct namespaces."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from flows.models import Flow
from flows.services import flow_deploy
from kernel.plugin import FlowableTask, Prop
from kernel.registry import registry
from tests.conftest import flow_yaml
from tests.db.api_support import (
    authed_client,
    deploy_catalogue,
    log_type_available,  # noqa: F401 - autouse fixture
    problem,
    spec_problems,
    writer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(django_user_model):
    return authed_client(writer(django_user_model, "ana"))


@pytest.fixture
def catalogue():
    deploy_catalogue()


# --- graph, export, import --------------------------------------------------------------


def test_graph_of_a_flow(api):
    flow_deploy(source=flow_yaml())

    body = api.get("/api/v1/flows/company.team/hello/graph").json()

    assert [n["uid"] for n in body["nodes"]] == ["root.start", "say", "root.end"]
    assert [(e["source"], e["target"]) for e in body["edges"]] == [
        ("root.start", "say"),
        ("say", "root.end"),
    ]
    assert body["clusters"] == []
    problem(api.get("/api/v1/flows/company.team/hello/graph?revision=4"), 404)


class StandInParallel(FlowableTask):
    type = "test.graph.Parallel"
    properties = (Prop("tasks", "tasks", required=True),)


def test_graph_of_a_flow_with_a_parallel(api, monkeypatch):
    monkeypatch.setattr(registry, "_by_name", dict(registry._by_name))
    registry.register(StandInParallel)
    source = (
        "id: par\nnamespace: company.team\ntasks:\n"
        "  - id: fan\n    type: test.graph.Parallel\n    tasks:\n"
        "      - id: a\n        type: trellis.core.log.Log\n        message: A\n"
        "      - id: b\n        type: trellis.core.log.Log\n        message: B\n"
    )
    flow_deploy(source=source)

    body = api.get("/api/v1/flows/company.team/par/graph").json()

    assert body["clusters"] == [
        {
            "uid": "cluster_fan",
            "taskId": "fan",
            "type": "test.graph.Parallel",
            "parent": None,
            "start": "fan",
            "end": "fan.end",
            "nodes": ["fan", "a", "b", "fan.end"],
        }
    ]
    assert [(e["source"], e["target"], e["relation"]) for e in body["edges"]] == [
        ("root.start", "fan", "sequential"),
        ("fan", "a", "parallel"),
        ("fan", "b", "parallel"),
        ("a", "fan.end", "sequential"),
        ("b", "fan.end", "sequential"),
        ("fan.end", "root.end", "sequential"),
    ]


def test_export_is_a_zip_of_sources(api, catalogue):
    response = api.get("/api/v1/flows/export/by-query?namespace=company.team")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["company.team.a1.yml", "company.team.sub.a2.yml"]
    assert archive.read("company.team.a1.yml").decode() == Flow.objects.get(flow_id="a1").source


def upload(name: str, data: bytes):
    return SimpleUploadedFile(name, data)


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_import_a_zip_deploys_every_flow(api):
    data = zipped({"x/one.yml": flow_yaml("one"), "two.yaml": flow_yaml("two"), "README": "hi"})

    response = api.post("/api/v1/flows/import", {"fileUpload": upload("f.zip", data)})

    assert response.status_code == 200, response.content
    assert sorted(f["id"] for f in response.json()["flows"]) == ["one", "two"]
    assert Flow.objects.count() == 2


def test_import_a_bad_file_deploys_nothing_and_names_it(api):
    bad = flow_yaml("two").replace("trellis.core.log.Log", "nope.Nope")
    data = zipped({"one.yml": flow_yaml("one"), "two.yml": bad})

    body = problem(api.post("/api/v1/flows/import", {"fileUpload": upload("f.zip", data)}), 422)

    expected = [("two.yml", line, col) for _, line, col in spec_problems(bad)]
    assert [(e["file"], e["line"], e["column"]) for e in body["errors"]] == expected
    assert Flow.objects.count() == 0


def test_import_a_multi_document_yaml(api):
    data = (flow_yaml("one") + "---\n" + flow_yaml("two")).encode()

    response = api.post("/api/v1/flows/import", {"fileUpload": upload("flows.yml", data)})

    assert sorted(f["id"] for f in response.json()["flows"]) == ["one", "two"]


def test_import_needs_a_file(api):
    body = problem(api.post("/api/v1/flows/import", {}), 400)
    assert body["errors"] == [{"field": "fileUpload", "message": "required"}]
    problem(api.post("/api/v1/flows/import", {"fileUpload": upload("x.txt", b"hello")}), 415)


def test_import_over_the_upload_limit_is_413(api, settings):
    settings.TRELLIS_MAX_UPLOAD_BYTES = 10
    data = flow_yaml().encode()

    problem(api.post("/api/v1/flows/import", {"fileUpload": upload("f.yml", data)}), 413)
    assert Flow.objects.count() == 0


def test_delete_and_export_by_ids(api, catalogue):
    refs = [{"namespace": "company.team", "id": "a1"}, {"namespace": "other", "id": "c1"}]

    exported = api.post("/api/v1/flows/export/by-ids", refs, format="json")
    deleted = api.delete("/api/v1/flows/delete/by-ids", refs, format="json")

    assert sorted(zipfile.ZipFile(io.BytesIO(exported.content)).namelist()) == [
        "company.team.a1.yml",
        "other.c1.yml",
    ]
    assert deleted.json() == {"count": 2}
    assert sorted(Flow.objects.live().values_list("flow_id", flat=True)) == ["a2", "b1"]
    problem(api.delete("/api/v1/flows/delete/by-ids", refs, format="json"), 404)


def test_distinct_namespaces(api, catalogue):
    Flow.objects.filter(flow_id="c1").update(deleted=True)

    body = api.get("/api/v1/flows/distinct-namespaces").json()

    assert body == ["company.team", "company.team.sub", "company.teamx"]
