"""Kestra's deprecated spellings reach the user where they deploy (issue 8): the CLI's
`flow deploy` and `flow validate`, the API's validation and the admin's save each show the
warning at its line, and the flow is deployed."""

from __future__ import annotations

import io

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from flows.models import Flow
from tests.db.test_kestra_import import OLD

pytestmark = pytest.mark.django_db

WARNING = "'io.kestra.core.tasks.flows.EachSequential' is deprecated"


def test_cli_deploy_and_validate_print_the_warning_at_its_line(tmp_path) -> None:
    path = tmp_path / "old.yml"
    path.write_text(OLD)
    out, err = io.StringIO(), io.StringIO()

    call_command("flow", "deploy", str(path), stdout=out, stderr=err)

    assert "company.team old revision 1 (created)" in out.getvalue()
    assert f"warning: {path}:5:11: {WARNING}" in err.getvalue()
    assert Flow.objects.get().flow_id == "old"
    err = io.StringIO()
    call_command("flow", "validate", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{path}:5:11: {WARNING}" in err.getvalue()


def test_api_validation_lists_the_warning_with_line_and_column(superuser) -> None:
    api = APIClient()
    api.force_authenticate(superuser)

    answer = api.post("/api/v1/flows/validate", OLD, content_type="application/x-yaml")

    assert answer.status_code == 200
    [result] = answer.json()
    assert result["valid"] is True
    [warning] = result["warnings"]
    assert (warning["line"], warning["column"]) == (5, 11)
    assert WARNING in warning["message"]


def test_admin_save_shows_the_warning_and_deploys(client, superuser) -> None:
    client.force_login(superuser)

    answer = client.post(reverse("admin:flows_flow_add"), {"source": OLD, "_save": "1"})

    assert answer.status_code == 302
    shown = [str(m) for m in get_messages(answer.wsgi_request)]
    assert any(m.startswith("line 5, col 11:") and WARNING in m for m in shown), shown
    assert Flow.objects.get().flow_id == "old"
