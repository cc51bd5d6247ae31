"""Outputs keep secrets where tasks need them and hide them wherever they are shown (issue 9).

A task may return a secret (Kestra's own secrets test reads it back from a Return task's
output), so the stored outputs hold it; the API's documents, the admin's execution page and
the CLI's JSON show it masked in every form the log masker knows."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from executions.models import Execution, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.secrets import MASK
from kernel.states import State
from tests.conftest import flow_yaml

pytestmark = pytest.mark.django_db

SECRET = "hunter2-display"
FORMS = [SECRET, SECRET.upper(), base64.b64encode(SECRET.encode()).decode()]


@pytest.fixture(autouse=True)
def secret_env(monkeypatch):
    monkeypatch.setenv("SECRET_DISPLAY_PW", base64.b64encode(SECRET.encode()).decode())


@pytest.fixture
def execution() -> Execution:
    given = execution_create(flow=flow_deploy(source=flow_yaml()).flow)
    Execution.objects.filter(pk=given.pk).update(
        state=State.SUCCESS, outputs={"out": SECRET.upper(), "plain": "visible"}
    )
    TaskRun.objects.create(
        execution=given, task_id="ret", state=State.SUCCESS, seq=1,
        outputs={"value": f"pw={SECRET}", "nested": [{"b64": FORMS[2]}], "n": 3},
    )  # fmt: skip
    given.refresh_from_db()
    return given


def leaked(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def test_stored_outputs_keep_the_secret_for_later_tasks(execution):
    run = TaskRun.objects.get(execution=execution, task_id="ret")

    assert run.outputs["value"] == f"pw={SECRET}"
    assert execution.outputs["out"] == SECRET.upper()


def test_api_execution_document_masks_task_and_flow_outputs(execution, superuser):
    api = APIClient()
    api.force_authenticate(superuser)

    response = api.get(f"/api/v1/executions/{execution.id}")

    assert response.status_code == 200
    body = response.json()
    assert leaked(response.content.decode()) == []
    assert body["outputs"] == {"out": MASK, "plain": "visible"}
    [run] = body["taskRunList"]
    assert run["outputs"] == {"value": f"pw={MASK}", "nested": [{"b64": MASK}], "n": 3}


def test_api_search_masks_outputs(execution, superuser):
    api = APIClient()
    api.force_authenticate(superuser)

    response = api.get("/api/v1/executions/search", {"namespace": execution.namespace})

    assert response.status_code == 200
    assert response.json()["total"] == 1
    assert leaked(response.content.decode()) == []


def test_admin_execution_page_masks_outputs(execution, client, superuser):
    client.force_login(superuser)

    page = client.get(reverse("admin:executions_execution_change", args=[execution.id]))

    assert page.status_code == 200
    html = page.content.decode()
    assert leaked(html) == []
    assert MASK in html
    assert "visible" in html


def test_cli_json_masks_outputs(execution):
    out = io.StringIO()

    call_command("execution", "show", execution.id, "--json", stdout=out)

    doc = json.loads(out.getvalue())
    assert leaked(out.getvalue()) == []
    assert doc["outputs"]["out"] == MASK
    assert doc["taskRuns"][0]["outputs"]["value"] == f"pw={MASK}"
