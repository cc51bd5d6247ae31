"""Polling triggers in the database: the deploy hook arms them, beat's sweep claims each due
poll once, and a poll turns events into executions exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask

from executions.models import Execution
from flows.services import flow_deploy, flow_set_disabled
from kernel.states import State
from orchestrator.storage import default_storage
from triggers import polling, sync
from triggers.models import TriggerFire, TriggerState
from triggers.polling import poll_run, polls_due
from triggers.services import stop_after_check, trigger_set_disabled
from triggers.task_names import POLL_TRIGGERS

pytestmark = pytest.mark.django_db

NS, FLOW, TRIGGER = "t.poll", "inbox", "watch"
T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


def file_flow(inbox: Path, done: Path, extra: str = "") -> str:
    return (
        f"id: {FLOW}\nnamespace: {NS}\n"
        "inputs:\n  - id: name\n    type: STRING\n    defaults: none\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        f"triggers:\n  - id: {TRIGGER}\n    type: io.kestra.plugin.fs.local.Trigger\n"
        f"    from: {inbox}\n    action: MOVE\n    moveDirectory: {done}\n    interval: PT10S\n"
        '    inputs:\n      name: "{{ trigger.file.name }}"\n'
        f"{extra}"
    )


def state() -> TriggerState:
    return TriggerState.objects.get(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER)


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    """The poll messages the sweep sends (nothing reaches a broker)."""
    messages: list[tuple] = []
    monkeypatch.setattr(polling, "send", lambda name, args, queue: messages.append((*args, queue)))
    monkeypatch.setattr(sync, "clock", lambda: T0)
    return messages


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    return inbox, done


def claim(moment: datetime, sent: list[tuple]) -> str:
    """Run the sweep at ``moment``; the token of the one poll it must send."""
    assert polls_due(moment) == 1
    return sent[-1][3]


def test_deploy_arms_the_trigger_and_creates_the_poll_entry(folders, sent) -> None:
    flow_deploy(source=file_flow(*folders))
    st = state()
    assert (st.armed, st.next_evaluation_date, st.interval) == (True, T0, timedelta(seconds=10))
    entry = PeriodicTask.objects.get(name=polling.POLL_ENTRY)
    assert (entry.task, entry.interval.every, entry.queue) == (POLL_TRIGGERS, 1, "executor")
    assert not PeriodicTask.objects.filter(name=f"trellis:{NS}:{FLOW}:{TRIGGER}").exists()


def test_the_sweep_claims_a_due_poll_once_until_its_lease_ends(folders, sent) -> None:
    flow_deploy(source=file_flow(*folders))
    assert polls_due(T0 - timedelta(seconds=1)) == 0  # not due yet
    token = claim(T0, sent)
    assert sent == [(NS, FLOW, TRIGGER, token, "default")]
    st = state()
    assert (st.poll_token, st.evaluation_started) == (token, T0)
    assert st.next_evaluation_date == T0 + timedelta(seconds=10)
    later = T0 + timedelta(seconds=20)
    assert polls_due(later) == 0  # a poll is running: no second one
    assert polls_due(T0 + polling.poll_lease() + timedelta(seconds=1)) == 1  # it vanished


def test_a_poll_starts_one_execution_per_file_and_records_itself(folders, sent) -> None:
    inbox, done = folders
    flow_deploy(source=file_flow(inbox, done))
    for name in ("a.csv", "b.csv"):
        (inbox / name).write_text(f"content of {name}")
    token = claim(T0, sent)

    outcome = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=token)

    assert [e.inputs for e in outcome.started] == [{"name": "a.csv"}, {"name": "b.csv"}]
    execution = Execution.objects.get(pk=outcome.started[0].id)
    assert execution.trigger["type"] == "io.kestra.plugin.fs.local.Trigger"
    file = execution.trigger["variables"]["file"]
    assert (file["name"], file["path"], file["localPath"]) == (
        "a.csv", str(inbox / "a.csv"), str(done / "a.csv"),
    )  # fmt: skip
    assert execution.trigger["variables"]["files"] == [file]
    assert file["uri"].endswith(f"/executions/{execution.id}/trigger/{TRIGGER}/a.csv")
    with default_storage().open(file["uri"]) as stream:
        assert stream.read() == b"content of a.csv"
    assert sorted(p.name for p in done.iterdir()) == ["a.csv", "b.csv"]
    assert TriggerFire.objects.filter(event_key__startswith="claim:").count() == 2
    st = state()
    assert (st.last_evaluation_date, st.evaluation_started, st.last_error) == (T0, None, "")
    assert st.last_execution_id == outcome.started[1].id


def test_a_duplicated_or_superseded_poll_starts_nothing_more(folders, sent) -> None:
    inbox, done = folders
    flow_deploy(source=file_flow(inbox, done))
    (inbox / "a.csv").write_text("a")
    token = claim(T0, sent)
    assert len(poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=token).started) == 1
    again = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=token)
    assert again.started == []
    (inbox / "b.csv").write_text("b")
    assert poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token="stale").started == []
    assert Execution.objects.count() == 1


def test_an_event_already_fired_only_finishes_its_action(folders, sent, monkeypatch) -> None:
    """A poller died after committing the execution but before moving the file: the next
    poll takes the claim over, finds its key used, and only moves the file."""
    from plugins.core import fs_trigger

    inbox, done = folders
    flow_deploy(source=file_flow(inbox, done))
    (inbox / "a.csv").write_text("a")
    monkeypatch.setattr(polling, "_callback", lambda callback, trigger: None)  # "dies"
    first = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=claim(T0, sent))
    assert len(first.started) == 1
    assert not done.exists()
    monkeypatch.undo()
    monkeypatch.setattr(fs_trigger, "ORPHAN_SECONDS", -1.0)
    monkeypatch.setattr(polling, "send", lambda name, args, queue: sent.append((*args, queue)))
    later = T0 + timedelta(seconds=11)
    second = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=claim(later, sent))
    assert (second.started, second.already) == ([], 1)
    assert [p.name for p in done.iterdir()] == ["a.csv"]
    assert Execution.objects.count() == 1


def test_false_conditions_leave_the_file_where_it_was(folders, sent) -> None:
    inbox, done = folders
    condition = (
        "    conditions:\n      - type: io.kestra.plugin.core.condition.Expression\n"
        "        expression: \"{{ trigger.file.name != 'skip.csv' }}\"\n"
    )
    flow_deploy(source=file_flow(inbox, done, condition))
    (inbox / "skip.csv").write_text("no")
    (inbox / "take.csv").write_text("yes")
    outcome = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=claim(T0, sent))
    assert ([e.inputs["name"] for e in outcome.started], outcome.declined) == (["take.csv"], 1)
    assert (inbox / "skip.csv").read_text() == "no"


def test_a_failed_poll_is_visible_and_polls_again(folders, sent) -> None:
    inbox, done = folders
    flow_deploy(source=file_flow(inbox / "missing", done))
    outcome = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=claim(T0, sent))
    assert outcome.error.startswith("FileNotFoundError: `from`")
    st = state()
    assert st.last_error == outcome.error
    assert st.next_evaluation_date == T0 + timedelta(seconds=10)
    assert polls_due(T0 + timedelta(seconds=10)) == 1


def test_silencing_stops_polling_and_rearming_polls_from_now(folders, sent, monkeypatch) -> None:
    flow = flow_deploy(source=file_flow(*folders)).flow
    flow_set_disabled(flow=flow, disabled=True)
    assert (state().armed, state().next_evaluation_date) == (False, None)
    assert polls_due(T0 + timedelta(hours=1)) == 0
    later = T0 + timedelta(hours=2)
    monkeypatch.setattr(sync, "clock", lambda: later)
    flow_set_disabled(flow=flow, disabled=False)
    assert state().next_evaluation_date == later
    trigger_set_disabled(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, disabled=True)
    assert state().next_evaluation_date is None


def test_a_poll_running_while_the_trigger_is_disabled_records_nothing(
    folders, sent, monkeypatch
) -> None:
    inbox, done = folders
    flow_deploy(source=file_flow(inbox, done))
    (inbox / "a.csv").write_text("a")
    token = claim(T0, sent)
    trigger_set_disabled(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, disabled=True)
    assert poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=token).started == []
    assert state().next_evaluation_date is None
    later = T0 + timedelta(seconds=30)
    monkeypatch.setattr(sync, "clock", lambda: later)
    trigger_set_disabled(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, disabled=False)
    assert polls_due(later) == 1  # at once, not after the old poll's lease
    outcome = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=sent[-1][3])
    assert [e.inputs["name"] for e in outcome.started] == ["a.csv"]


def test_redeploy_keeps_the_next_evaluation_and_a_shorter_interval_brings_it_forward(
    folders, sent, monkeypatch
) -> None:
    inbox, done = folders
    flow_deploy(source=file_flow(inbox, done))
    claim(T0, sent)
    monkeypatch.setattr(sync, "clock", lambda: T0 + timedelta(seconds=1))
    flow_deploy(source=file_flow(inbox, done, "    description: changed\n"))
    assert state().next_evaluation_date == T0 + timedelta(seconds=10)
    flow_deploy(source=file_flow(inbox, done).replace("PT10S", "PT2S"))
    assert state().next_evaluation_date == T0 + timedelta(seconds=3)
    assert state().interval == timedelta(seconds=2)


# -- HTTP --------------------------------------------------------------------------------


class _Stock(BaseHTTPRequestHandler):
    stock = 0

    def do_GET(self) -> None:  # noqa: N802
        payload = json.dumps({"stock": self.stock}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # noqa: ANN002
        return


@pytest.fixture
def stock_server(settings) -> Iterator[str]:
    settings.TRELLIS_HTTP_ALLOW = "loopback"  # the HTTP task's host policy applies here too
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stock)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/stock"
    finally:
        httpd.shutdown()
        httpd.server_close()


def http_flow(uri: str) -> str:
    return (
        f"id: {FLOW}\nnamespace: {NS}\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        f"triggers:\n  - id: {TRIGGER}\n    type: io.kestra.plugin.core.http.Trigger\n"
        f"    uri: {uri}\n    interval: PT5S\n    stopAfter: [SUCCESS]\n"
        '    responseCondition: "{{ json(response.body).stock > 0 }}"\n'
    )


def test_http_trigger_starts_an_execution_once_the_condition_holds(stock_server, sent) -> None:
    flow_deploy(source=http_flow(stock_server))
    _Stock.stock = 0
    first = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=claim(T0, sent))
    assert first.started == []
    assert state().last_evaluation_date == T0
    _Stock.stock = 3
    token = claim(T0 + timedelta(seconds=5), sent)
    [execution] = poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=token).started
    variables = execution.trigger["variables"]
    assert (variables["code"], json.loads(variables["body"])) == (200, {"stock": 3})
    assert variables["headers"]["content-type"] == ["application/json"]
    assert execution.trigger["type"] == "io.kestra.plugin.core.http.Trigger"
    assert poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=token).started == []
    execution.state = State.SUCCESS
    assert stop_after_check(execution) is True  # stopAfter: SUCCESS stops the polling
    assert (state().disabled, state().next_evaluation_date) == (True, None)


def test_admin_and_cli_show_polls_and_the_admin_disables(folders, sent, client, superuser) -> None:
    from io import StringIO

    from django.core.management import call_command

    inbox, done = folders
    flow_deploy(source=file_flow(inbox / "missing", done))
    poll_run(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, token=claim(T0, sent))
    client.force_login(superuser)
    page = client.get("/admin/triggers/triggerstate/").content.decode()
    assert "FileNotFoundError" in page
    out = StringIO()
    call_command("trigger", "list", "--type", "Polling", stdout=out)
    line = out.getvalue()
    assert line.startswith(f"{NS}.{FLOW}:{TRIGGER}  Trigger  armed  next 2025-01-06T09:30:10Z")
    assert "polled 2025-01-06T09:30:00Z" in line
    assert "error: FileNotFoundError" in line
    client.post(
        "/admin/triggers/triggerstate/", {"action": "disable", "_selected_action": [state().pk]}
    )
    assert (state().disabled, state().next_evaluation_date) == (True, None)
