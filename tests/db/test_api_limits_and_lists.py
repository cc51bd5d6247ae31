"""Body limits answer 413 in the error shape; every list can be sorted and paged, and the
bare lists Kestra defines keep their shape with the total in ``X-Total-Count``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from executions.models import Execution, LogEntry
from executions.services import execution_create
from flows.services import flow_deploy
from tests.conftest import flow_yaml
from tests.db.api_support import YAML, log_type_available, problem, writer  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(django_user_model):
    client = APIClient()
    client.force_authenticate(writer(django_user_model))
    return client


def test_a_run_request_over_the_upload_limit_is_413_and_creates_nothing(api, settings) -> None:
    flow_deploy(source=flow_yaml("up", "company.team"))
    settings.TRELLIS_MAX_UPLOAD_BYTES = 1000

    response = api.post(
        "/api/v1/executions/company.team/up",
        {"doc": SimpleUploadedFile("big.bin", b"x" * 5000)},
        format="multipart",
    )

    body = problem(response, 413)
    assert "limit is 1000" in body["detail"]
    assert not Execution.objects.exists()


def test_json_bodies_are_capped_by_djangos_data_upload_limit(api, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50

    body = problem(api.delete("/api/v1/executions/by-ids", ["x" * 40] * 3, format="json"), 413)

    assert body["type"] == "urn:trellis:problem:payload-too-large"


def test_too_many_form_fields_is_a_400_in_the_error_shape(api, settings) -> None:
    flow_deploy(source=flow_yaml("up", "company.team"))
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3

    response = api.post(
        "/api/v1/executions/company.team/up", {f"f{i}": "v" for i in range(10)}, format="multipart"
    )

    problem(response, 400)
    assert not Execution.objects.exists()


def test_unauthenticated_big_bodies_are_401_not_413(settings) -> None:
    settings.TRELLIS_MAX_FLOW_BYTES = 10

    problem(APIClient().post("/api/v1/flows", flow_yaml(), content_type=YAML), 401)


# --- lists ------------------------------------------------------------------------------------


@pytest.fixture
def three_flows():
    for name in ("b", "a", "c"):
        flow_deploy(source=flow_yaml(name, "company.team"))


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()]


def test_a_namespace_list_stays_a_bare_list_with_its_total_in_a_header(api, three_flows) -> None:
    whole = api.get("/api/v1/flows/company.team")
    page = api.get("/api/v1/flows/company.team?size=2&page=2&sort=id:desc")

    assert ids(whole) == ["a", "b", "c"]
    assert whole["X-Total-Count"] == "3"
    assert ids(page) == ["a"]
    assert page["X-Total-Count"] == "3"


def test_revisions_page_and_sort(api) -> None:
    for message in ("one", "two", "three"):
        flow_deploy(source=flow_yaml("r", "company.team", message=message))

    response = api.get("/api/v1/flows/company.team/r/revisions?sort=revision:desc&size=2")

    assert [r["revision"] for r in response.json()] == [3, 2]
    assert response["X-Total-Count"] == "3"


def test_an_executions_logs_page(api, three_flows) -> None:
    execution = execution_create(flow=flow_deploy(source=flow_yaml("a", "company.team")).flow)
    start = timezone.now()
    for i in range(5):
        LogEntry.objects.create(
            execution=execution,
            level="INFO",
            message=f"m{i}",
            timestamp=start + timedelta(seconds=i),
        )

    response = api.get(f"/api/v1/logs/{execution.id}?page=2&size=2")

    assert [line["message"] for line in response.json()] == ["m2", "m3"]
    assert response["X-Total-Count"] == "5"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/flows/company.team?sort=nope",
        "/api/v1/namespaces?size=0",
        "/api/v1/flows/distinct-namespaces?page=x",
        "/api/v1/templates/company.team?sort=id:sideways",
    ],
)
def test_bad_paging_or_sorting_is_a_400(api, three_flows, url) -> None:
    problem(api.get(url), 400)


def test_namespaces_sort_and_page(api, three_flows) -> None:
    response = api.get("/api/v1/namespaces?sort=name:desc&size=1")

    assert [n["name"] for n in response.json()] == ["company.team"]
    assert response["X-Total-Count"] == "2"


# --- regressions found by the fuzz run (tests/db/test_api_fuzz.py) ---------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/flows/company.team/r/revisions/diff?from=311259588185688395747426304&to=1",
        "/api/v1/flows/company.team/r?revision=99999999999999999999",
        "/api/v1/flows/company.team/r/graph?revision=-1",
    ],
)
def test_integers_beyond_a_database_column_are_400_not_500(api, url) -> None:
    flow_deploy(source=flow_yaml("r", "company.team"))

    body = problem(api.get(url), 400)

    assert "integer from 0 to 2147483647" in body["detail"]


def test_restoring_a_revision_number_beyond_a_column_is_404_not_500(api) -> None:
    flow_deploy(source=flow_yaml("r", "company.team"))

    problem(api.post("/api/v1/flows/company.team/r/revisions/99999999999999999999/restore"), 404)


@pytest.mark.parametrize(
    ("send", "field"),
    [
        (lambda api: api.get("/api/v1/flows/search", {"q": "a\x00b"}), "q"),
        (lambda api: api.get("/api/v1/flows/company.team/a%00b"), "flow_id"),
        (
            lambda api: api.post(
                "/api/v1/executions/company.team/up", {"name": "a\x00"}, format="json"
            ),
            "body",
        ),
        (
            lambda api: api.post(
                "/api/v1/executions/company.team/up", {"name": "a\x00"}, format="multipart"
            ),
            "name",
        ),
        (lambda api: api.post("/api/v1/flows", "id: a\x00", content_type=YAML), "body"),
    ],
)
def test_nul_characters_are_refused_at_the_edge(api, send, field) -> None:
    """PostgreSQL cannot hold NUL in text; it would raise (a 500) rather than refuse."""
    flow_deploy(source=flow_yaml("up", "company.team"))

    body = problem(send(api), 400)

    assert body["errors"] == [{"field": field, "message": "contains a NUL character"}]
    assert not Execution.objects.exists()
