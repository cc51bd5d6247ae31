"""The executions admin: pages render, actions call the services, bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.services import execution_create
from executions.states import State
from executions.storage import default_storage
from flows.services import flow_deploy

pytestmark = pytest.mark.django_db

FLOW = """
id: report
namespace: company.team
labels:
  team: data
inputs:
  - id: name
    type: STRING
    defaults: World
  - id: times
    type: INT
    defaults: 2
    min: 1
    max: 5
  - id: upload
    type: FILE
    required: false
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "Hello {{ inputs.name }}"
  - id: each
    type: trellis.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: inner
        type: trellis.core.log.Log
        message: "{{ taskrun.value }}"
"""

PAUSING = """
id: approval
namespace: company.team
tasks:
  - id: wait
    type: trellis.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
      - id: reason
        type: STRING
        required: false
  - id: after
    type: trellis.core.log.Log
    message: done
"""


@pytest.fixture
def client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def flow():
    return flow_deploy(source=FLOW).flow


def page_url(execution: Execution) -> str:
    return reverse("admin:executions_execution_change", args=[execution.id])


def action_url(execution: Execution, action: str) -> str:
    return reverse("admin:executions_execution_action", args=[execution.id, action])


def set_state(execution: Execution, state: State) -> Execution:
    Execution.objects.filter(pk=execution.pk).update(state=state)
    execution.refresh_from_db()
    return execution


def add_run(execution: Execution, task_id: str, state: State, seq: int, **extra) -> TaskRun:
    now = timezone.now()
    return TaskRun.objects.create(
        execution=execution, task_id=task_id, state=state, seq=seq,
        started_at=now - timedelta(seconds=5), ended_at=now, **extra,
    )  # fmt: skip


# --- the list ------------------------------------------------------------------------------


def test_changelist_filters_by_state_namespace_flow_label_trigger_and_date(client, flow):
    flow_deploy(source=FLOW.replace("company.team", "company.teamb"))
    a = execution_create(flow=flow, labels={"env": "prod"})
    b = set_state(execution_create(flow=flow), State.FAILED)
    other = execution_create(
        flow=flow_deploy(source=FLOW.replace("company.team", "company.teamb")).flow
    )
    triggered = execution_create(
        flow=flow, trigger={"id": "daily", "type": "io.kestra.plugin.core.trigger.Schedule"}
    )
    Execution.objects.filter(pk=b.pk).update(created_at=timezone.now() - timedelta(days=3))
    url = reverse("admin:executions_execution_changelist")

    def listed(query: str) -> set[str]:
        page = client.get(f"{url}?{query}")
        assert page.status_code == 200, page.content[:500]
        return {e.id for e in page.context["cl"].result_list}

    assert listed("") == {a.id, b.id, other.id, triggered.id}
    assert listed("state__exact=FAILED") == {b.id}
    assert listed("namespace=company.team") == {a.id, b.id, triggered.id}
    assert listed("flow=company.teamb/report") == {other.id}
    assert listed("label=env%3Dprod") == {a.id}
    assert listed("trigger=manual") == {a.id, b.id, other.id}
    assert listed("trigger=Schedule") == {triggered.id}
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert listed(f"created_from={since}") == {a.id, other.id, triggered.id}
    assert listed(f"created_to={since}") == {b.id}
    assert listed(f"q={a.id[:10]}") == {a.id}


def test_changelist_shows_badges_durations_and_an_ignored_bad_date(client, flow):
    execution = execution_create(flow=flow)
    Execution.objects.filter(pk=execution.pk).update(
        state=State.SUCCESS,
        started_at=timezone.now() - timedelta(seconds=75),
        ended_at=timezone.now(),
    )
    html = client.get(
        reverse("admin:executions_execution_changelist") + "?created_from=nope"
    ).content.decode()

    assert '<span class="trellis-badge state-SUCCESS">SUCCESS</span>' in html
    assert "1m 15s" in html
    assert "not a date: created_from" in html


def test_bulk_kill_and_restart_call_the_services(client, flow):
    running = set_state(execution_create(flow=flow), State.RUNNING)
    done = set_state(execution_create(flow=flow), State.SUCCESS)
    url = reverse("admin:executions_execution_changelist")

    client.post(url, {"action": "kill_executions", "_selected_action": [running.id, done.id]})

    assert Execution.objects.get(pk=running.pk).state == State.KILLING
    assert Execution.objects.get(pk=done.pk).state == State.SUCCESS

    response = client.post(
        url, {"action": "restart_executions", "_selected_action": [done.id]}, follow=True
    )
    assert "only a FAILED, KILLED or WARNING execution restarts" in response.content.decode()
    assert Execution.objects.get(pk=done.pk).state == State.SUCCESS


def test_bulk_delete_removes_finished_executions_and_protects_running_ones(client, flow):
    running = set_state(execution_create(flow=flow), State.RUNNING)
    done = set_state(execution_create(flow=flow), State.SUCCESS)
    LogEntry.objects.create(execution=done, timestamp=timezone.now(), message="x")
    url = reverse("admin:executions_execution_changelist")

    confirm = client.post(
        url, {"action": "delete_selected", "_selected_action": [running.id, done.id]}
    )
    assert "kill it first" in confirm.content.decode()

    client.post(url, {"action": "delete_selected", "_selected_action": [done.id], "post": "yes"})

    assert list(Execution.objects.values_list("id", flat=True)) == [running.id]
    assert LogEntry.objects.count() == 0


# --- the execution page ---------------------------------------------------------------------


def test_execution_page_shows_overview_gantt_topology_outputs_and_file_links(client, flow):
    execution = execution_create(
        flow=flow, inputs={"name": "Ada"}, files={"upload": SimpleUploadedFile("in.csv", b"a,b\n")}
    )
    set_state(execution, State.RUNNING)
    hello = add_run(execution, "hello", State.SUCCESS, 1, outputs={"n": 1})
    TaskRunAttempt.objects.create(
        task_run=hello, execution=execution, number=1, state=State.FAILED,
        started_at=hello.started_at, ended_at=hello.started_at + timedelta(seconds=1),
    )  # fmt: skip
    each = add_run(execution, "each", State.RUNNING, 2)
    add_run(execution, "inner", State.SUCCESS, 3, parent_id=each.id, value="1")
    add_run(execution, "inner", State.FAILED, 4, parent_id=each.id, value="2")

    page = client.get(page_url(execution))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="trellis-gantt"' in html
    assert 'class="gantt-attempt"' in html
    assert 'data-task="hello" data-state="SUCCESS"' in html  # topology node coloured
    assert 'data-task="inner" data-state="RUNNING"' not in html
    assert "ForEach · 2 iterations" in html
    assert "in.csv" in html
    assert reverse("admin:executions_execution_file", args=[execution.id]) in html
    assert 'id="action-kill"' in html


def test_file_download_serves_this_executions_files_only(client, flow):
    execution = execution_create(
        flow=flow, files={"upload": SimpleUploadedFile("in.csv", b"a,b\n")}
    )
    other = execution_create(flow=flow, files={"upload": SimpleUploadedFile("x.csv", b"secret")})
    url = reverse("admin:executions_execution_file", args=[execution.id])

    response = client.get(url, {"uri": execution.inputs["upload"]})

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"a,b\n"
    assert 'filename="in.csv"' in response["Content-Disposition"]
    assert client.get(url, {"uri": other.inputs["upload"]}).status_code == 404
    assert client.get(url, {"uri": "kestra:///../../etc/passwd"}).status_code == 404


def test_logs_json_pages_by_id_and_filters_by_level(client, flow):
    execution = set_state(execution_create(flow=flow), State.RUNNING)
    now = timezone.now()
    LogEntry.objects.bulk_create(
        LogEntry(execution=execution, timestamp=now, level="ERROR" if i % 100 == 0 else "INFO",
                 message=f"line {i}", task_id="hello")
        for i in range(1200)
    )  # fmt: skip
    url = reverse("admin:executions_execution_logs", args=[execution.id])

    tail = client.get(url).json()
    assert [line["message"] for line in tail["lines"]][-1] == "line 1199"
    assert len(tail["lines"]) == 500
    assert tail["moreBefore"] is True
    assert tail["done"] is False

    older = client.get(url, {"before": tail["lines"][0]["id"]}).json()
    assert older["lines"][-1]["message"] == "line 699"

    first_id = LogEntry.objects.order_by("id").first().id
    after = client.get(url, {"after": first_id}).json()
    assert after["lines"][0]["message"] == "line 1"
    assert after["moreAfter"] is True

    errors = client.get(url, {"level": "WARN"}).json()
    assert [line["message"] for line in errors["lines"]] == [
        f"line {i}" for i in range(0, 1200, 100)
    ]

    set_state(execution, State.SUCCESS)
    assert client.get(url, {"after": tail["lines"][-1]["id"]}).json() == {
        "lines": [],
        "moreBefore": False,
        "moreAfter": False,
        "state": "SUCCESS",
        "done": True,
    }
    state = client.get(reverse("admin:executions_execution_state", args=[execution.id])).json()
    assert state["state"] == "SUCCESS"
    assert state["terminal"] is True


def test_kill_action_calls_the_service_and_get_changes_nothing(client, flow):
    execution = set_state(execution_create(flow=flow), State.RUNNING)

    client.get(action_url(execution, "kill"))
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING

    response = client.post(action_url(execution, "kill"))
    assert response.status_code == 302
    assert Execution.objects.get(pk=execution.pk).state == State.KILLING


def test_refused_actions_show_the_message_and_change_nothing(client, flow):
    execution = set_state(execution_create(flow=flow), State.RUNNING)
    run = add_run(execution, "hello", State.RUNNING, 1)

    for action, data, message in [
        ("restart", {}, "only a FAILED, KILLED or WARNING execution restarts"),
        ("replay", {}, "replay a finished one"),
        ("set-state", {"task_run": run.id, "state": "SUCCESS"}, "wait until it ends"),
        ("set-state", {"task_run": run.id, "state": "BOGUS"}, "unknown state"),
        ("resume", {}, "not PAUSED"),
    ]:
        response = client.post(action_url(execution, action), data, follow=True)
        assert message in response.content.decode(), action

    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING
    assert TaskRun.objects.get(pk=run.pk).state == State.RUNNING
    assert Execution.objects.count() == 1
    assert client.post(action_url(execution, "explode")).status_code == 404


def test_replay_from_a_task_run_opens_the_new_execution(client, flow):
    execution = set_state(execution_create(flow=flow), State.FAILED)
    first = add_run(execution, "hello", State.SUCCESS, 1)
    second = add_run(execution, "each", State.FAILED, 2)

    response = client.post(action_url(execution, "replay"), {"task_run": second.id})

    replay = Execution.objects.exclude(pk=execution.pk).get()
    assert response["Location"] == page_url(replay)
    assert replay.original_id == execution.id
    assert list(replay.task_runs.values_list("task_id", flat=True)) == [first.task_id]


def test_set_state_of_an_ended_task_run(client, flow):
    execution = set_state(execution_create(flow=flow), State.FAILED)
    run = add_run(execution, "hello", State.FAILED, 1)

    client.post(action_url(execution, "set-state"), {"task_run": run.id, "state": "SUCCESS"})

    assert TaskRun.objects.get(pk=run.pk).state == State.SUCCESS
    assert Execution.objects.get(pk=execution.pk).state == State.RESTARTED


def test_resume_asks_for_on_resume_inputs_and_shows_errors_beside_them(client):
    paused_flow = flow_deploy(source=PAUSING).flow
    execution = set_state(execution_create(flow=paused_flow), State.PAUSED)
    run = add_run(execution, "wait", State.PAUSED, 1)

    page = client.get(page_url(execution)).content.decode()
    assert 'id="resume-form"' in page
    assert 'name="input-approved"' in page

    bad = client.post(action_url(execution, "resume"), {"input-approved": "maybe"})
    assert bad.status_code == 400
    assert "Invalid input for `approved`" in bad.content.decode()
    assert Execution.objects.get(pk=execution.pk).state == State.PAUSED

    client.post(action_url(execution, "resume"), {"input-approved": "true"})
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING
    assert TaskRun.objects.get(pk=run.pk).outputs == {
        "onResume": {"approved": True, "reason": None}
    }


# --- the dashboard -----------------------------------------------------------------------------


def test_admin_index_is_the_dashboard(client, flow):
    set_state(execution_create(flow=flow), State.FAILED)
    execution_create(flow=flow)

    html = client.get(reverse("admin:index")).content.decode()

    assert 'class="trellis-chart"' in html
    assert 'data-state="FAILED"' in html
    assert "company.team.report" in html  # failing flows
    assert "<code>executor</code>" in html
    assert "<code>default</code>" in html
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert "filesystem broker has no remote control" in html
    else:  # Redis, RabbitMQ: Celery's inspect is asked (no worker runs in this test)
        assert "No worker answered within a second." in html
    panel = client.get(reverse("admin:executions_dashboard_panel"))
    assert panel.status_code == 200
    assert 'id="dashboard-queues"' in panel.content.decode()


# --- the flow page and its Execute form ------------------------------------------------------


def test_flow_page_has_execute_button_topology_executions_and_triggers(client, flow):
    with_trigger = flow_deploy(
        source=FLOW.replace("id: report", "id: nightly")
        + "triggers:\n  - id: nightly\n    type: trellis.core.trigger.Schedule\n    cron: '0 2 * * *'\n"
    ).flow
    execution_create(flow=with_trigger)

    html = client.get(reverse("admin:flows_flow_change", args=[with_trigger.pk])).content.decode()

    assert 'id="execute-button"' in html
    assert 'class="trellis-topology"' in html
    assert 'data-task="each"' in html
    assert 'id="flow-executions"' in html
    assert "state-CREATED" in html
    assert 'id="flow-triggers"' in html
    assert "Schedule" in html
    assert 'id="revisions"' in html


def test_execute_form_has_typed_widgets_and_defaults(client, flow):
    html = client.get(reverse("admin:flows_flow_execute", args=[flow.pk])).content.decode()

    assert 'name="input-name" value="World"' in html
    assert 'type="number" name="input-times" value="2"' in html
    assert 'min="1"' in html
    assert 'type="file" name="input-upload"' in html
    assert 'enctype="multipart/form-data"' in html


def test_execute_with_bad_input_shows_the_error_beside_the_field_and_runs_nothing(client, flow):
    response = client.post(
        reverse("admin:flows_flow_execute", args=[flow.pk]), {"input-times": "9"}
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["times"]
    assert form.errors["times"] == [
        "Invalid input for `times`, it must be less than `5`, but received `9`"
    ]
    assert Execution.objects.count() == 0


def test_execute_with_a_file_creates_the_execution_and_opens_it(client, flow):
    response = client.post(
        reverse("admin:flows_flow_execute", args=[flow.pk]),
        {"input-name": "Ada", "input-upload": SimpleUploadedFile("data.txt", b"payload"),
         "input-_labels": "env=test"},
    )  # fmt: skip

    execution = Execution.objects.get()
    assert response["Location"] == page_url(execution)
    assert execution.inputs["name"] == "Ada"
    assert execution.inputs["times"] == 2
    assert execution.labels["env"] == "test"
    with default_storage().open(execution.inputs["upload"]) as stored:
        assert stored.read() == b"payload"


def test_bad_label_line_is_shown_and_runs_nothing(client, flow):
    response = client.post(
        reverse("admin:flows_flow_execute", args=[flow.pk]), {"input-_labels": "no equals sign"}
    )

    assert response.status_code == 400
    assert "expected key=value" in response.content.decode()
    assert Execution.objects.count() == 0
