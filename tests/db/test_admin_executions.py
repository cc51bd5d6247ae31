"""The executions admin: pages render, actions call the services, bad input changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.services import execution_create, execution_replay
from flows.services import flow_deploy
from kernel.states import State
from orchestrator.storage import default_storage

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


PAUSING_FILE = """
id: evidence
namespace: company.team
tasks:
  - id: both
    type: trellis.core.flow.Parallel
    tasks:
      - id: left
        type: trellis.core.flow.Pause
        onResume:
          - id: proof
            type: FILE
          - id: approved
            type: BOOLEAN
      - id: right
        type: trellis.core.flow.Pause
        onResume:
          - id: proof
            type: FILE
          - id: approved
            type: BOOLEAN
"""

WIDGETS = """
id: widgets
namespace: company.team
inputs:
  - id: colour
    type: SELECT
    values: [red, green]
    defaults: green
  - id: loud
    type: BOOLEAN
    defaults: true
  - id: when
    type: DATETIME
    defaults: "2025-01-06T09:30:00Z"
  - id: tags
    type: MULTISELECT
    values: [a, b, c]
    defaults: [b, c]
tasks:
  - id: say
    type: trellis.core.log.Log
    message: hi
"""


@pytest.fixture
def client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def flow():
    return flow_deploy(source=FLOW).flow


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "storage"
    return settings.MEDIA_ROOT


def stored_files(root) -> list[str]:
    """Every file under the storage root, relative to it."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


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


def test_trigger_filter_tells_every_trigger_kind_apart_by_name(client, flow):
    def started_by(trigger_id: str, type_name: str) -> Execution:
        return execution_create(flow=flow, trigger={"id": trigger_id, "type": type_name})

    http = started_by("poll", "io.kestra.plugin.core.http.Trigger")
    local = started_by("watch", "io.kestra.plugin.fs.local.Trigger")
    schedule = started_by("daily", "io.kestra.plugin.core.trigger.Schedule")
    items = started_by("each", "io.kestra.plugin.core.flow.ForEachItem$ForEachItemExecutable")
    url = reverse("admin:executions_execution_changelist")

    def listed(query: str) -> set[str]:
        return {e.id for e in client.get(f"{url}?{query}").context["cl"].result_list}

    page = client.get(url)
    changelist = page.context["cl"]
    trigger_filter = next(f for f in changelist.filter_specs if f.title == "trigger")
    assert [c["display"] for c in trigger_filter.choices(changelist)] == [
        "All", "manual", "Schedule", "Flow", "Webhook", "HTTP poll", "Local file", "Subflow",
        "ForEachItem",
    ]  # fmt: skip
    assert listed("trigger=HTTP") == {http.id}
    assert listed("trigger=LocalFile") == {local.id}
    assert listed("trigger=Schedule") == {schedule.id}
    assert listed("trigger=ForEachItem") == {items.id}
    assert listed("trigger=Trigger") == set()  # no kind of that name: nothing, not everything
    html = page.content.decode()
    assert "HTTP poll (poll)" in html
    assert "Local file (watch)" in html
    assert "HTTP poll <code>poll</code>" in client.get(page_url(http)).content.decode()


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


def test_bulk_restart_restarts_failed_and_killed_executions(client, flow):
    failed = set_state(execution_create(flow=flow), State.FAILED)
    failed_run = add_run(failed, "hello", State.FAILED, 1)
    killed = set_state(execution_create(flow=flow), State.KILLED)
    killed_run = add_run(killed, "hello", State.KILLED, 1)

    response = client.post(
        reverse("admin:executions_execution_changelist"),
        {"action": "restart_executions", "_selected_action": [failed.id, killed.id]},
        follow=True,
    )

    assert "2 execution(s) restarted." in response.content.decode()
    assert Execution.objects.get(pk=failed.pk).state == State.RESTARTED
    assert Execution.objects.get(pk=killed.pk).state == State.RESTARTED
    assert TaskRun.objects.get(pk=failed_run.pk).state == State.RESTARTED
    assert TaskRun.objects.get(pk=killed_run.pk).state == State.RESTARTED


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


def test_execution_page_shows_labels_revision_link_and_related_executions(client, flow):
    execution = set_state(execution_create(flow=flow, labels={"env": "prod"}), State.FAILED)
    run = add_run(execution, "each", State.FAILED, 1)
    child = execution_create(flow=flow, parent=(execution, run.id))
    replay = execution_replay(execution)

    html = client.get(page_url(execution)).content.decode()

    assert '<span class="trellis-label">env: prod</span>' in html
    assert '<span class="trellis-label">team: data</span>' in html  # the flow's own label
    revision = reverse("admin:flows_flow_revision", args=[flow.pk, execution.flow_revision])
    assert f'<a href="{revision}">1</a>' in html
    assert f'<a href="{page_url(child)}">company.team.report</a>' in html  # subflows
    assert f'<a href="{page_url(replay)}">{replay.id[:11]}…</a>' in html  # replays
    assert '<th>trigger</th><td id="trigger">manual' in html
    assert 'id="trigger-variables"' not in html

    child_html = client.get(page_url(child)).content.decode()
    assert f'<th>parent</th><td><a href="{page_url(execution)}">' in child_html
    replay_html = client.get(page_url(replay)).content.decode()
    assert f'<th>replay of</th><td><a href="{page_url(execution)}">{execution.id}</a>' in (
        replay_html
    )


def test_overview_shows_the_trigger_and_its_variables_escaped_and_short(client, flow):
    schedule = execution_create(
        flow=flow,
        trigger={"id": "daily", "type": "io.kestra.plugin.core.trigger.Schedule",
                 "variables": {"date": "2025-01-06T09:00:00Z", "next": "2025-01-07T09:00:00Z"}},
    )  # fmt: skip
    body = {"msg": "<script>alert(1)</script>", "blob": "x" * 500}
    webhook = execution_create(
        flow=flow,
        trigger={"id": "hook", "type": "io.kestra.plugin.core.trigger.Webhook",
                 "variables": {"body": body, "parameters": {"q": ["1"]}}},
    )  # fmt: skip
    upstream = set_state(execution_create(flow=flow), State.SUCCESS)
    downstream = execution_create(
        flow=flow,
        trigger={"id": "after", "type": "io.kestra.plugin.core.trigger.Flow",
                 "variables": {"executionId": upstream.id, "state": "SUCCESS"}},
    )  # fmt: skip

    html = client.get(page_url(schedule)).content.decode()
    assert "Schedule <code>daily</code>" in html
    assert "<tr><th>date</th><td><code>2025-01-06T09:00:00Z</code></td></tr>" in html
    assert "<tr><th>next</th><td><code>2025-01-07T09:00:00Z</code></td></tr>" in html

    html = client.get(page_url(webhook)).content.decode()
    assert "Webhook <code>hook</code>" in html
    shown_body = json.dumps(body)[:119] + "…"  # 120 characters at most
    assert f"<tr><th>body</th><td><code>{escape(shown_body)}</code></td></tr>" in html
    assert "<script>alert(1)</script>" not in html
    assert "<tr><th>parameters</th><td><code>{&quot;q&quot;: [&quot;1&quot;]}</code>" in html

    html = client.get(page_url(downstream)).content.decode()
    assert (
        f'<th>executionId</th><td><a href="{page_url(upstream)}" id="trigger-upstream">'
        f"{upstream.id}</a> company.team.report</td>"
    ) in html
    assert "<tr><th>state</th><td><code>SUCCESS</code></td></tr>" in html


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
    # what came before is kept; the chosen run is there again, started anew (a flowable)
    assert list(replay.task_runs.order_by("seq").values_list("task_id", "state")) == [
        (first.task_id, State.SUCCESS),
        (second.task_id, State.RUNNING),
    ]


def test_restart_button_restarts_the_failed_task_runs(client, flow):
    execution = set_state(execution_create(flow=flow), State.FAILED)
    done = add_run(execution, "hello", State.SUCCESS, 1)
    failed = add_run(execution, "inner", State.FAILED, 2)
    assert 'id="action-restart"' in client.get(page_url(execution)).content.decode()

    response = client.post(action_url(execution, "restart"), follow=True)

    assert "Restarted from its failed task runs." in response.content.decode()
    assert Execution.objects.get(pk=execution.pk).state == State.RESTARTED
    assert TaskRun.objects.get(pk=failed.pk).state == State.RESTARTED
    assert TaskRun.objects.get(pk=done.pk).state == State.SUCCESS


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


def paused_twice(flow_source: str = PAUSING_FILE) -> tuple[Execution, TaskRun, TaskRun]:
    """An execution whose two parallel Pause tasks both wait for ``proof`` and ``approved``."""
    execution = set_state(execution_create(flow=flow_deploy(source=flow_source).flow),
                          State.PAUSED)  # fmt: skip
    both = add_run(execution, "both", State.RUNNING, 1)
    left = add_run(execution, "left", State.PAUSED, 2, parent_id=both.id)
    right = add_run(execution, "right", State.PAUSED, 3, parent_id=both.id)
    return execution, left, right


def test_resume_uploads_file_inputs_once_and_links_them(client, storage_root):
    execution, left, right = paused_twice()
    page = client.get(page_url(execution)).content.decode()
    assert 'enctype="multipart/form-data" class="trellis-form" id="resume-form"' in page
    assert 'type="file" name="input-proof"' in page

    response = client.post(
        action_url(execution, "resume"),
        {"input-proof": SimpleUploadedFile("proof.txt", b"signed"), "input-approved": "true"},
    )

    assert response.status_code == 302
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING
    prefix = default_storage().execution_prefix("company.team", "evidence", execution.id)
    uri = f"{prefix}inputs/proof/proof.txt"  # where execution_create keeps FILE inputs
    for run in (left, right):  # both pauses answered by the same stored file
        assert TaskRun.objects.get(pk=run.pk).outputs == {
            "onResume": {"proof": uri, "approved": True}
        }
    with default_storage().open(uri) as stored:
        assert stored.read() == b"signed"
    assert stored_files(storage_root) == [
        f"company/team/evidence/executions/{execution.id}/inputs/proof/proof.txt"
    ]
    assert "download>⤓ proof.txt</a>" in client.get(page_url(execution)).content.decode()


def test_refused_resume_keeps_no_file_and_changes_nothing(client, storage_root):
    execution, left, right = paused_twice()

    bad = client.post(
        action_url(execution, "resume"),
        {"input-proof": SimpleUploadedFile("proof.txt", b"signed"), "input-approved": "maybe"},
    )

    assert bad.status_code == 400
    assert "Invalid input for `approved`" in bad.content.decode()
    assert stored_files(storage_root) == []  # stored for `proof`, then deleted again
    missing = client.post(action_url(execution, "resume"), {"input-approved": "true"})
    assert missing.status_code == 400
    assert "Invalid input for `proof`, missing required input" in missing.content.decode()
    assert Execution.objects.get(pk=execution.pk).state == State.PAUSED
    for run in (left, right):
        assert (TaskRun.objects.get(pk=run.pk).state, TaskRun.objects.get(pk=run.pk).outputs) == (
            State.PAUSED, {},
        )  # fmt: skip


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


def test_execute_form_widgets_for_select_boolean_datetime_and_multiselect(client):
    flow = flow_deploy(source=WIDGETS).flow
    url = reverse("admin:flows_flow_execute", args=[flow.pk])

    html = client.get(url).content.decode()

    assert '<option value="green" selected>green</option>' in html
    assert '<option value="red">red</option>' in html
    assert '<option value="true" selected>true</option>' in html
    assert '<option value="false">false</option>' in html
    assert 'type="datetime-local" name="input-when" value="2025-01-06T09:30:00"' in html
    assert 'type="checkbox" name="input-tags" value="a"' in html
    assert 'type="checkbox" name="input-tags" value="b"' in html
    assert html.count('name="input-tags"') == 3
    assert html.count("checked") == 2  # the default b and c

    client.post(url, {"input-colour": "red", "input-loud": "false",
                      "input-when": "2025-02-01T08:00:00", "input-tags": ["a", "c"]})  # fmt: skip

    inputs = Execution.objects.get().inputs
    assert (inputs["colour"], inputs["loud"], inputs["tags"]) == ("red", False, ["a", "c"])
    assert inputs["when"].startswith("2025-02-01T08:00:00")


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
