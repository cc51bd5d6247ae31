"""Flow API: create/read/update/delete, revisions, search, namespaces, validate, errors."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from flows.models import Flow, FlowRevision
from flows.services import flow_deploy
from tests.conftest import flow_yaml
from tests.db.api_support import (
    YAML,
    deploy_catalogue,
    log_type_available,  # noqa: F401 - autouse fixture
    problem,
    spec_problems,
    writer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return writer(django_user_model, "ana", password="pw")


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_yaml(api, url, body, content_type=YAML):
    return api.generic("POST", url, body, content_type=content_type)


def put_yaml(api, url, body):
    return api.generic("PUT", url, body, content_type=YAML)


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [YAML, "text/plain", "application/yaml"])
def test_create_flow_from_yaml(api, user, content_type):
    source = flow_yaml(extra="labels:\n  team: data\n")

    response = post_yaml(api, "/api/v1/flows", source, content_type)

    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "hello"
    assert body["namespace"] == "company.team"
    assert body["revision"] == 1
    assert body["labels"] == [{"key": "team", "value": "data"}]
    assert body["tasks"] == [{"id": "say", "type": "trellis.core.log.Log", "message": "Hello"}]
    assert body["source"] == source
    assert FlowRevision.objects.get(flow__flow_id="hello").author == user


def test_create_existing_flow_is_409_and_changes_nothing(api):
    flow_deploy(source=flow_yaml())

    response = post_yaml(api, "/api/v1/flows", flow_yaml(message="Other"))

    body = problem(response, 409)
    assert "already exists" in body["detail"]
    assert Flow.objects.get().revision == 1


def test_invalid_yaml_is_422_with_line_and_column(api):
    source = "id: hello\nnamespace: company.team\ntasks:\n  - id: say\n    type: [unclosed\n"

    response = post_yaml(api, "/api/v1/flows", source)

    body = problem(response, 422)
    assert body["type"] == "urn:trellis:problem:invalid-document"
    assert len(body["errors"]) >= 1
    error = body["errors"][0]
    assert error["line"] >= 5
    assert error["column"] >= 1
    assert error["message"]
    assert Flow.objects.count() == 0


def test_unknown_task_type_is_422_at_its_line(api):
    source = flow_yaml().replace("trellis.core.log.Log", "trellis.core.log.Nope")

    body = problem(post_yaml(api, "/api/v1/flows", source), 422)

    expected = spec_problems(source)
    assert [(e["path"], e["line"], e["column"]) for e in body["errors"]] == expected
    assert expected[0][0] == "tasks[0].type"
    assert Flow.objects.count() == 0


def test_empty_body_is_422(api):
    problem(post_yaml(api, "/api/v1/flows", ""), 422)


def test_json_body_is_415(api):
    body = problem(api.post("/api/v1/flows", {"id": "x"}, format="json"), 415)
    assert body["type"] == "urn:trellis:problem:unsupported-media-type"


def test_body_over_the_flow_limit_is_413(api, settings):
    settings.TRELLIS_MAX_FLOW_BYTES = 50

    body = problem(post_yaml(api, "/api/v1/flows", flow_yaml()), 413)

    assert "limit is 50" in body["detail"]
    assert Flow.objects.count() == 0


# --- read / update / delete -------------------------------------------------------------------


def test_get_flow_with_and_without_source(api):
    flow_deploy(source=flow_yaml())

    plain = api.get("/api/v1/flows/company.team/hello").json()
    with_source = api.get("/api/v1/flows/company.team/hello?source=true").json()

    assert "source" not in plain
    assert plain["revision"] == 1
    assert with_source["source"] == flow_yaml()


def test_get_old_revision(api):
    flow_deploy(source=flow_yaml(message="One"))
    flow_deploy(source=flow_yaml(message="Two"))

    body = api.get("/api/v1/flows/company.team/hello?revision=1&source=true").json()

    assert body["revision"] == 1
    assert body["tasks"][0]["message"] == "One"
    assert body["source"] == flow_yaml(message="One")


def test_get_unknown_revision_is_404(api):
    flow_deploy(source=flow_yaml())
    problem(api.get("/api/v1/flows/company.team/hello?revision=9"), 404)


def test_get_missing_flow_is_404(api):
    body = problem(api.get("/api/v1/flows/company.team/nope"), 404)
    assert body["detail"] == "flow company.team.nope does not exist"


def test_bad_boolean_parameter_is_400(api):
    flow_deploy(source=flow_yaml())
    body = problem(api.get("/api/v1/flows/company.team/hello?source=maybe"), 400)
    assert body["errors"] == [{"field": "source", "message": "expected true or false, got 'maybe'"}]


def test_put_makes_a_new_revision(api):
    flow_deploy(source=flow_yaml())

    response = put_yaml(api, "/api/v1/flows/company.team/hello", flow_yaml(message="Bye"))

    assert response.status_code == 200
    assert response.json()["revision"] == 2
    assert Flow.objects.get().source == flow_yaml(message="Bye")


def test_put_with_another_id_is_422_and_changes_nothing(api):
    flow_deploy(source=flow_yaml())

    body = problem(put_yaml(api, "/api/v1/flows/company.team/hello", flow_yaml("other")), 422)

    assert body["errors"][0]["path"] == "id"
    assert body["errors"][0]["line"] == 1
    assert Flow.objects.get().revision == 1
    assert not Flow.objects.filter(flow_id="other").exists()


def test_put_missing_flow_is_404(api):
    problem(put_yaml(api, "/api/v1/flows/company.team/hello", flow_yaml()), 404)


def test_delete_flow(api):
    flow_deploy(source=flow_yaml())

    response = api.delete("/api/v1/flows/company.team/hello")

    assert response.status_code == 204
    assert Flow.objects.get().deleted is True
    problem(api.get("/api/v1/flows/company.team/hello"), 404)
    problem(api.delete("/api/v1/flows/company.team/hello"), 404)


# --- revisions -------------------------------------------------------------------------------


def test_revisions_list_oldest_first(api):
    flow_deploy(source=flow_yaml(message="One"))
    flow_deploy(source=flow_yaml(message="Two"))

    body = api.get("/api/v1/flows/company.team/hello/revisions").json()

    assert [(r["revision"], r["tasks"][0]["message"]) for r in body] == [(1, "One"), (2, "Two")]
    assert body[0]["source"] == flow_yaml(message="One")


def test_restore_revision(api):
    flow_deploy(source=flow_yaml(message="One"))
    flow_deploy(source=flow_yaml(message="Two"))

    response = api.post("/api/v1/flows/company.team/hello/revisions/1/restore")

    assert response.status_code == 200
    assert response.json()["revision"] == 3
    assert Flow.objects.get().source == flow_yaml(message="One")
    problem(api.post("/api/v1/flows/company.team/hello/revisions/7/restore"), 404)


def test_revisions_diff(api):
    flow_deploy(source=flow_yaml(message="One"))
    flow_deploy(source=flow_yaml(message="Two"))

    body = api.get("/api/v1/flows/company.team/hello/revisions/diff?from=1&to=2").json()

    assert "-    message: One" in body["diff"]
    assert "+    message: Two" in body["diff"]
    problem(api.get("/api/v1/flows/company.team/hello/revisions/diff?from=1"), 400)
    problem(api.get("/api/v1/flows/company.team/hello/revisions/diff?from=1&to=5"), 404)


# --- search and namespaces ---------------------------------------------------------------------


@pytest.fixture
def catalogue():
    deploy_catalogue()


def ids(response):
    assert response.status_code == 200, response.content
    return [f["id"] for f in response.json()["results"]]


def test_search_by_namespace_is_by_whole_segments(api, catalogue):
    assert ids(api.get("/api/v1/flows/search?namespace=company.team")) == ["a1", "a2"]


def test_search_by_labels_and_q(api, catalogue):
    assert ids(api.get("/api/v1/flows/search?labels=env:prod")) == ["a1"]
    assert ids(api.get("/api/v1/flows/search?q=b1")) == ["b1"]


def test_search_pages_and_sorts(api, catalogue):
    response = api.get("/api/v1/flows/search?size=2&page=2&sort=id:desc")

    assert ids(response) == ["a2", "a1"]
    assert response.json()["total"] == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("size=abc", "size"),
        ("sort=source:asc", "sort"),
        ("labels=nocolon", "labels"),
    ],
)
def test_search_bad_parameters_are_400(api, query, field):
    body = problem(api.get(f"/api/v1/flows/search?{query}"), 400)
    assert body["errors"][0]["field"] == field


def test_list_namespace_flows_is_exact(api, catalogue):
    body = api.get("/api/v1/flows/company.team").json()
    assert [f["id"] for f in body] == ["a1"]


def test_namespaces_list_and_tree(api, catalogue):
    names = [n["name"] for n in api.get("/api/v1/namespaces").json()]
    tree = api.get("/api/v1/namespaces/tree").json()

    assert names == ["company", "company.team", "company.team.sub", "company.teamx", "other"]
    company = tree[0]
    assert (company["name"], company["flowCount"], company["totalFlowCount"]) == ("company", 0, 3)
    assert [c["name"] for c in company["children"]] == ["company.team", "company.teamx"]
    assert [n["name"] for n in api.get("/api/v1/namespaces?q=company.team").json()] == [
        "company.team",
        "company.team.sub",
    ]


# --- namespace update, validate -----------------------------------------------------------


def test_namespace_update_deploys_all_and_deletes_missing(api, catalogue):
    body = flow_yaml("n1", "company.team") + "---\n" + flow_yaml("a1", "company.team", message="X")

    response = post_yaml(api, "/api/v1/flows/company.team", body)

    assert response.status_code == 200, response.content
    result = response.json()
    assert [f["id"] for f in result["flows"]] == ["n1", "a1"]
    assert result["deleted"] == [{"namespace": "company.team.sub", "id": "a2"}]
    assert Flow.objects.get(flow_id="a2").deleted is True


def test_namespace_update_without_delete_keeps_others(api, catalogue):
    response = post_yaml(
        api, "/api/v1/flows/company.team?delete=false", flow_yaml("n1", "company.team")
    )

    assert response.json()["deleted"] == []
    assert Flow.objects.live().in_namespace("company.team").count() == 3


def test_namespace_update_error_lines_count_from_the_body(api, catalogue):
    bad = flow_yaml("n2", "company.team").replace("trellis.core.log.Log", "nope.Nope")
    body = flow_yaml("n1", "company.team") + "---\n" + bad

    error = problem(post_yaml(api, "/api/v1/flows/company.team", body), 422)

    (path, line, column), *_ = spec_problems(bad)
    first = error["errors"][0]
    # The second document starts after the first (6 lines) and the separator line.
    assert (first["line"], first["column"], first["document"], first["path"]) == (
        6 + 1 + line,
        column,
        2,
        path,
    )
    assert not Flow.objects.filter(flow_id="n1").exists()


def test_namespace_update_refuses_a_flow_of_another_namespace(api):
    problem(post_yaml(api, "/api/v1/flows/company.team", flow_yaml("x", "other")), 422)
    assert Flow.objects.count() == 0


def test_validate_reports_each_document_and_saves_nothing(api):
    bad = flow_yaml("two").replace("trellis.core.log.Log", "nope.Nope")
    body = flow_yaml("one") + "---\n" + bad

    response = post_yaml(api, "/api/v1/flows/validate", body)

    assert response.status_code == 200
    first, second = response.json()
    assert (first["index"], first["flow"], first["valid"], first["errors"]) == (0, "one", True, [])
    assert (second["flow"], second["namespace"], second["valid"]) == ("two", "company.team", False)
    assert [(e["path"], e["line"] - 7, e["column"]) for e in second["errors"]] == spec_problems(bad)
    assert Flow.objects.count() == 0


# --- enable / disable -------------------------------------------------------------------


def test_disable_and_enable_by_ids(api):
    flow_deploy(source=flow_yaml())
    refs = [{"namespace": "company.team", "id": "hello"}]

    assert api.post("/api/v1/flows/disable/by-ids", refs, format="json").json() == {"count": 1}
    assert Flow.objects.get().disabled is True
    assert api.post("/api/v1/flows/enable/by-ids", refs, format="json").json() == {"count": 1}
    assert Flow.objects.get().disabled is False


def test_disable_with_a_missing_flow_changes_nothing(api):
    flow_deploy(source=flow_yaml())
    refs = [{"namespace": "company.team", "id": "hello"}, {"namespace": "x", "id": "nope"}]

    body = problem(api.post("/api/v1/flows/disable/by-ids", refs, format="json"), 404)

    assert body["errors"] == [{"field": "[1]", "message": "flow x.nope does not exist"}]
    assert Flow.objects.get().disabled is False


def test_disable_with_a_bad_payload_is_400(api):
    body = problem(api.post("/api/v1/flows/disable/by-ids", [{"id": "x"}], format="json"), 400)
    assert body["errors"] == [{"field": "[0].namespace", "message": "This field is required."}]


def test_flow_endpoints_need_authentication():
    client = APIClient()
    for method, url in [
        ("get", "/api/v1/flows/search"),
        ("get", "/api/v1/flows/a/b"),
        ("post", "/api/v1/flows"),
        ("get", "/api/v1/namespaces/tree"),
    ]:
        assert getattr(client, method)(url).status_code == 401
