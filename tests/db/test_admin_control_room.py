"""The control room's server-rendered parts (issue 20): a failed execution's error summary,
ticking durations' markup, the Gantt legend, and the flow editor's endpoints."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create
from flows.admin import STARTER_FLOW
from flows.models import Flow
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db

FLOW = """
id: report
namespace: company.team
tasks:
  - id: fine
    type: trellis.core.log.Log
    message: ok
  - id: boom
    type: trellis.core.log.Log
    message: ok
"""


@pytest.fixture
def client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def execution():
    return execution_create(flow=flow_deploy(source=FLOW).flow)


def run(execution: Execution, task_id: str, state: State, seq: int, ended: bool = True) -> TaskRun:
    now = timezone.now()
    return TaskRun.objects.create(
        execution=execution, task_id=task_id, state=state, seq=seq,
        started_at=now - timedelta(seconds=5), ended_at=now if ended else None,
    )  # fmt: skip


def page(client, execution: Execution) -> str:
    response = client.get(reverse("admin:executions_execution_change", args=[execution.id]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_failed_execution_names_the_task_its_message_and_links_the_log_line(client, execution):
    run(execution, "fine", State.SUCCESS, 1)
    boom = run(execution, "boom", State.FAILED, 2)
    now = timezone.now()
    LogEntry.objects.create(execution=execution, task_run_id=boom.id, task_id="boom",
                            timestamp=now, level="INFO", message="starting")  # fmt: skip
    line = LogEntry.objects.create(execution=execution, task_run_id=boom.id, task_id="boom",
                                   timestamp=now, level="ERROR", message="disk <full>")  # fmt: skip
    Execution.objects.filter(pk=execution.pk).update(state=State.FAILED)

    html = page(client, execution)

    summary = html[html.index('id="failure-summary"') : html.index('id="overview"')]
    assert "<code>boom</code>" in summary
    assert "fine" not in summary
    assert "disk &lt;full&gt;" in summary  # escaped
    assert f'href="#log-{line.pk}"' in summary
    assert f'href="#taskrun-{boom.id}"' in summary


def test_no_summary_unless_the_execution_failed(client, execution):
    run(execution, "boom", State.FAILED, 1)
    Execution.objects.filter(pk=execution.pk).update(state=State.SUCCESS)
    assert 'id="failure-summary"' not in page(client, execution)


def test_a_failure_without_task_runs_is_summed_up_by_the_executions_error_line(client, execution):
    LogEntry.objects.create(execution=execution, timestamp=timezone.now(), level="ERROR",
                            message="the flow cannot be loaded")  # fmt: skip
    Execution.objects.filter(pk=execution.pk).update(state=State.FAILED)
    html = page(client, execution)
    assert 'id="failure-summary"' in html
    assert "the flow cannot be loaded" in html


def test_running_durations_carry_their_elapsed_seconds_and_ended_ones_do_not(client, execution):
    run(execution, "fine", State.SUCCESS, 1)
    run(execution, "boom", State.RUNNING, 2, ended=False)
    Execution.objects.filter(pk=execution.pk).update(
        state=State.RUNNING, started_at=timezone.now() - timedelta(seconds=30)
    )
    html = page(client, execution)
    assert html.count("data-trellis-elapsed=") == 2  # the execution and the running task
    overview = html[html.index('id="execution-duration"') :][:120]
    elapsed = float(overview.split('data-trellis-elapsed="')[1].split('"')[0])
    assert 29 <= elapsed < 60


def test_the_gantt_has_a_legend_of_its_bars_and_states(client, execution):
    run(execution, "fine", State.SUCCESS, 1)
    run(execution, "boom", State.FAILED, 2)
    html = page(client, execution)
    legend = html[html.index('id="gantt-legend"') :][:1200]
    assert "one attempt" in legend
    assert "whole span" in legend
    assert "SUCCESS" in legend
    assert "FAILED" in legend
    assert "PAUSED" not in legend


# --- the flow editor's server side ---------------------------------------------------------


def test_add_flow_opens_with_a_starter_flow_that_validates(client):
    html = client.get(reverse("admin:flows_flow_add")).content.decode()
    assert "id: hello_world" in html
    assert 'id="trellis-editor"' in html
    assert "codemirror.min.js" in html
    response = client.post(
        reverse("api-flow-validate"), STARTER_FLOW, content_type="application/x-yaml"
    )
    assert response.json()[0]["valid"] is True


def test_validate_works_with_the_admin_session_and_csrf(superuser):
    """The editor POSTs YAML with the session cookie: DRF's CSRF check reads the body first."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    browser.get(reverse("admin:flows_flow_add"))
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        reverse("api-flow-validate"), STARTER_FLOW + "    bogus: 1\n",
        content_type="application/x-yaml", HTTP_X_CSRFTOKEN=token,
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()[0]["errors"][0]["line"] == 14
    nul = browser.post(
        reverse("api-flow-validate"), "id: a\x00\n", content_type="application/x-yaml",
        HTTP_X_CSRFTOKEN=token,
    )  # fmt: skip
    assert nul.status_code == 400


def test_topology_preview_draws_a_source_and_saves_nothing(client):
    url = reverse("admin:flows_flow_topology_preview")
    drawn = client.post(url, STARTER_FLOW, content_type="application/x-yaml")
    assert drawn.status_code == 200
    assert "<svg" in drawn.content.decode()
    assert ">hello<" in drawn.content.decode()
    bad = client.post(url, "id: x\n", content_type="application/x-yaml")
    assert bad.status_code == 422
    assert client.get(url).status_code == 405
    assert Flow.objects.count() == 0


def test_a_source_with_problems_shows_them_once(client):
    response = client.post(
        reverse("admin:flows_flow_add"), {"source": STARTER_FLOW + "    bogus: 1\n", "_save": "1"}
    )
    html = response.content.decode()
    assert html.count("unknown property &#x27;bogus&#x27;") == 2  # the table, and the hidden list
    assert ".field-source ul.errorlist { display: none; }" in html


# --- the flows list ------------------------------------------------------------------------


def flow_source(flow_id: str, extra: str = "") -> str:
    return (
        f"id: {flow_id}\nnamespace: company.team\n{extra}tasks:\n"
        "  - id: a\n    type: trellis.core.log.Log\n    message: hi\n"
    )


def listed(client, query: str = "") -> list[str]:
    response = client.get(reverse("admin:flows_flow_changelist") + query)
    assert response.status_code == 200
    return sorted(f.flow_id for f in response.context["cl"].result_list)


def test_deleted_flows_are_hidden_unless_filtered_for(client):
    from flows.services import flow_delete

    flow_deploy(source=flow_source("live"))
    flow_delete(flow=flow_deploy(source=flow_source("gone")).flow)
    assert listed(client) == ["live"]
    assert listed(client, "?deleted=yes") == ["gone"]
    assert listed(client, "?deleted=all") == ["gone", "live"]
    html = client.get(reverse("admin:flows_flow_changelist")).content.decode()
    assert "Live only" in html
    assert "Deleted only" in html


def test_flows_list_shows_the_last_execution_and_flags_only_what_needs_attention(client):
    flow = flow_deploy(source=flow_source("ran")).flow
    flow_deploy(source=flow_source("off", "disabled: true\n"))
    flow_deploy(source=flow_source("never"))
    execution_create(flow=flow)
    last = execution_create(flow=flow)
    Execution.objects.filter(pk=last.pk).update(state=State.FAILED)

    html = client.get(reverse("admin:flows_flow_changelist")).content.decode()

    assert "icon-no.svg" not in html
    assert "icon-yes.svg" not in html
    assert html.count('class="trellis-flag disabled"') == 1
    row = html[html.index(">ran<") :].split("</tr>")[0]
    assert "state-FAILED" in row
    assert reverse("admin:executions_execution_change", args=[last.id]) in row
    assert '<time class="trellis-time" datetime="' in row
    never = html[html.index(">never<") :].split("</tr>")[0]
    assert "never run" in never


def test_executions_list_has_iso_dates_and_a_duration_column(client, execution):
    Execution.objects.filter(pk=execution.pk).update(
        state=State.RUNNING, started_at=timezone.now() - timedelta(seconds=90)
    )
    html = client.get(reverse("admin:executions_execution_changelist")).content.decode()
    assert "column-duration_display" in html
    assert '<time class="trellis-time" datetime="' in html
    assert "data-trellis-elapsed=" in html  # a running execution's duration ticks
    assert "executions/admin.js" in html


def test_the_flow_page_says_disabled_in_words_not_with_boolean_icons(client):
    live = flow_deploy(source=flow_source("live")).flow
    off = flow_deploy(source=flow_source("off", "disabled: true\n")).flow
    live_html = client.get(reverse("admin:flows_flow_change", args=[live.pk])).content.decode()
    off_html = client.get(reverse("admin:flows_flow_change", args=[off.pk])).content.decode()
    assert "icon-no.svg" not in live_html
    assert "icon-yes.svg" not in off_html
    assert 'class="trellis-flag disabled"' in off_html
    assert 'class="trellis-flag disabled"' not in live_html


def test_every_admin_list_prints_iso_dates():
    """Model admins' own date columns (KV, grants, templates...) use the same ISO format."""
    from django.utils import formats

    moment = timezone.make_aware(timezone.datetime(2026, 12, 7, 1, 6, 5))
    assert formats.date_format(moment, "DATETIME_FORMAT").startswith("2026-12-07 01:06:05")
