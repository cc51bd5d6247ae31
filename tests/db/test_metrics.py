"""``/metrics`` (issue 18): counters pushed by processes through the database, gauges read from
it at scrape time, the optional token; executions whose flow cannot be loaded; the ``--wait``
warning when nothing consumes a queue; JSON log lines."""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from executions.cli.stall import StallWatch, stall_message
from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.runtime import advance as runtime
from executions.runtime import dispatch, loading
from executions.runtime.advance import advance_execution
from executions.runtime.states import set_execution_state
from executions.services import execution_create
from executions.worker.attempt import run_attempt
from flows.models import FlowRevision
from flows.services import flow_deploy
from kernel.states import State
from orchestrator.models import MetricSample
from orchestrator.observability import metrics
from orchestrator.observability.logs import (
    JsonFormatter,
    RunContextFilter,
    current,
    log_context,
)

pytestmark = pytest.mark.django_db

FLOW = """
id: counted
namespace: t.metrics
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def scrape(client: Client | None = None, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


@pytest.fixture(autouse=True)
def _no_broker_and_empty_buffer():
    metrics._buffer.take()
    with override_settings(TRELLIS_METRICS_BROKER=False, TRELLIS_METRICS_TOKEN=""):
        yield
    metrics._buffer.take()


def test_execution_state_changes_count_once_committed(django_capture_on_commit_callbacks) -> None:
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})
    labels = (("flow", "counted"), ("namespace", "t.metrics"))

    with django_capture_on_commit_callbacks(execute=True):
        set_execution_state(execution, State.RUNNING, timezone.now())
        set_execution_state(execution, State.FAILED, timezone.now())
        execution.save()
    metrics.flush()

    samples = scrape()
    assert samples[("trellis_executions_started_total", labels)] == 1
    assert (
        samples[("trellis_executions_ended_total", (*labels[:1], labels[1], ("state", "FAILED")))]
        == 1
    )


def test_a_change_rolled_back_counts_nothing(django_capture_on_commit_callbacks) -> None:
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        set_execution_state(execution, State.RUNNING, timezone.now())
    # never committed: the callbacks are dropped, as a rollback drops them
    assert len(callbacks) >= 1
    assert metrics.flush() == 0


def test_processes_add_to_the_same_rows() -> None:
    """Two flushes (two processes, or one process twice) add up; nothing is overwritten."""
    metrics.inc(metrics.ATTEMPTS_RESENT, queue="default")
    metrics.flush()
    metrics.inc(metrics.ATTEMPTS_RESENT, 2, queue="default")
    metrics.inc(metrics.ATTEMPTS_RESENT, queue="wg.gpu")
    metrics.flush()

    samples = scrape()
    assert samples[("trellis_attempts_resent_total", (("queue", "default"),))] == 3
    assert samples[("trellis_attempts_resent_total", (("queue", "wg.gpu"),))] == 1
    assert MetricSample.objects.count() == 2


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    for seconds in (0.003, 0.2, 7.0):
        metrics.observe(metrics.TASK_RUN_DURATION, seconds, type="trellis.core.log.Log",
                        state="SUCCESS")  # fmt: skip
    metrics.flush()

    samples = scrape()
    key = (("state", "SUCCESS"), ("type", "trellis.core.log.Log"))

    def bucket(le: str) -> float:
        return samples[
            ("trellis_task_run_duration_seconds_bucket", tuple(sorted((*key, ("le", le)))))
        ]

    assert bucket("0.01") == 1
    assert bucket("0.1") == 1
    assert bucket("0.25") == 2
    assert bucket("5.0") == 2
    assert bucket("10.0") == 3
    assert bucket("+Inf") == 3
    assert samples[("trellis_task_run_duration_seconds_count", key)] == 3
    assert samples[("trellis_task_run_duration_seconds_sum", key)] == pytest.approx(7.203)


def test_wrong_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="takes labels"):
        metrics.inc(metrics.ATTEMPTS_RESENT, queue="default", flow="x")


def test_a_forked_child_does_not_flush_its_parents_counts() -> None:
    metrics.inc(metrics.ATTEMPTS_RESENT, queue="default")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its buffer starts empty
        os.write(write, str(len(metrics._buffer.deltas)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"0"
    assert len(metrics._buffer.deltas) == 1


def test_queue_depth_and_oldest_queued_attempt_come_from_the_database() -> None:
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})
    run = TaskRun.objects.create(execution=execution, task_id="a", queue="wg.gpu")
    for number in (1, 2):
        TaskRunAttempt.objects.create(task_run=TaskRun.objects.create(
            execution=execution, task_id=f"b{number}", queue="wg.gpu"),
            execution=execution, number=1, queue="wg.gpu")  # fmt: skip
    old = TaskRunAttempt.objects.create(task_run=run, execution=execution, number=1,
                                        queue="wg.gpu")  # fmt: skip
    TaskRunAttempt.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(seconds=90)
    )

    samples = scrape()
    assert samples[("trellis_queue_depth", (("queue", "wg.gpu"),))] == 3
    age = samples[("trellis_queued_attempt_oldest_age_seconds", (("queue", "wg.gpu"),))]
    assert 89 <= age < 120
    active = ("trellis_executions_active",
              (("flow", "counted"), ("namespace", "t.metrics"), ("state", "CREATED")))  # fmt: skip
    assert samples[active] == 1


def test_every_metric_is_served_even_before_anything_counted() -> None:
    names = {name for name, _ in scrape()} | {
        f.name for f in text_string_to_metric_families(Client().get("/metrics").content.decode())
    }
    for metric in metrics.PUSHED:
        assert metric.name in names
    assert {"trellis_queue_depth", "trellis_queued_attempt_oldest_age_seconds",
            "trellis_executions_active", "trellis_worker_heartbeat_age_seconds"} <= names  # fmt: skip


def test_broker_queue_sizes_are_read_when_asked() -> None:
    with override_settings(TRELLIS_METRICS_BROKER=True):
        samples = scrape()
    assert samples[("trellis_broker_up", ())] == 1
    assert ("trellis_broker_queue_messages", (("queue", "executor"),)) in samples


def test_a_token_closes_the_endpoint() -> None:
    with override_settings(TRELLIS_METRICS_TOKEN="s3cret-token"):
        assert Client().get("/metrics").status_code == 401
        wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 401
        assert wrong["WWW-Authenticate"].startswith("Bearer")
        assert scrape(HTTP_AUTHORIZATION="Bearer s3cret-token") is not None
    assert Client().get("/metrics").status_code == 200  # no token: open


def test_the_sweeper_counts_attempts_it_resends_and_attempts_it_finds_lost(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        dispatch, "send", lambda *args, **kwargs: None
    )  # no messages: nothing consumes them here
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})
    long_ago = timezone.now() - timedelta(hours=1)
    waiting = TaskRun.objects.create(execution=execution, task_id="a", queue="wg.gpu")
    TaskRunAttempt.objects.create(task_run=waiting, execution=execution, number=1,
                                  queue="wg.gpu", sent_at=long_ago)  # fmt: skip
    running = TaskRun.objects.create(execution=execution, task_id="b", state=State.RUNNING,
                                     attempts=1)  # fmt: skip
    TaskRunAttempt.objects.create(task_run=running, execution=execution, number=1,
                                  state=State.RUNNING, owner="gone:1", lease_expires_at=long_ago)  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        counts = runtime.sweep()
    metrics.flush()

    assert (counts["resent"], counts["lost"]) == (1, 1)
    samples = scrape()
    assert samples[("trellis_attempts_resent_total", (("queue", "wg.gpu"),))] == 1
    assert samples[("trellis_attempts_lost_total", (("queue", "default"),))] == 1


def test_triggers_count_what_they_fired_and_what_they_skipped(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triggers import sync
    from triggers.models import TriggerState
    from triggers.schedules import schedule_fire

    start = timezone.now().replace(minute=30, second=0, microsecond=0) - timedelta(hours=3)
    monkeypatch.setattr(sync, "clock", lambda: start)
    flow_deploy(source=FLOW + 'triggers:\n  - id: hourly\n    type: '
                'io.kestra.plugin.core.trigger.Schedule\n    cron: "0 * * * *"\n'
                '    recoverMissedSchedules: LAST\n')  # fmt: skip
    moment = start + timedelta(hours=2, minutes=31)  # ticks at +30 min, +1 h 30, +2 h 30

    def fire() -> list:
        with django_capture_on_commit_callbacks(execute=True):
            return schedule_fire(namespace="t.metrics", flow_id="counted", trigger_id="hourly",
                                 now=moment)  # fmt: skip

    assert len(fire()) == 1  # LAST: only the latest tick
    TriggerState.objects.update(cursor=start)  # a second beat that has not seen the first
    assert fire() == []
    metrics.flush()

    samples = scrape()
    key = (("flow", "counted"), ("namespace", "t.metrics"), ("trigger", "hourly"))
    assert samples[("trellis_triggers_fired_total", key)] == 1

    def skipped(reason: str) -> float:
        labels = tuple(sorted((*key, ("reason", reason))))
        return samples.get(("trellis_triggers_skipped_total", labels), 0.0)

    assert skipped("missed") == 4  # two older ticks, each of the two fires
    assert skipped("duplicate") == 1


# -- executions whose flow cannot be loaded ------------------------------------------------------

MISSING = FLOW.replace("io.kestra.plugin.core.log.Log", "com.example.NotInstalled")


def _unloadable() -> Execution:
    """A deployed flow whose stored revision names a plugin this host does not have."""
    flow = flow_deploy(source=FLOW).flow
    FlowRevision.objects.filter(flow=flow).update(source=MISSING)
    return execution_create(flow=flow, inputs={})


@override_settings(TRELLIS_LOAD_TRIES=3, TRELLIS_LOAD_RETRY_SECONDS=60)
def test_an_unloadable_flow_fails_after_the_last_try_with_the_reason() -> None:
    execution = _unloadable()

    assert advance_execution(execution.id) == State.CREATED
    execution.refresh_from_db()
    assert execution.due_at > timezone.now() + timedelta(seconds=50)  # the next try is due later
    Execution.objects.filter(pk=execution.pk).update(due_at=None)
    assert advance_execution(execution.id) == State.CREATED
    Execution.objects.filter(pk=execution.pk).update(due_at=None)
    assert advance_execution(execution.id) == State.FAILED

    execution.refresh_from_db()
    assert execution.ended_at is not None
    lines = list(LogEntry.objects.filter(execution=execution).values_list("level", "message"))
    assert [level for level, _ in lines] == ["WARN", "WARN", "ERROR"]
    assert "try 1 of 3" in lines[0][1]
    assert "unknown type 'com.example.NotInstalled'" in lines[2][1]
    assert lines[2][1].endswith("The execution failed.")
    out = StringIO()
    call_command("execution", "show", execution.id, stdout=out)
    shown = out.getvalue()
    assert "state     FAILED" in shown
    assert "problem   The flow of this execution cannot be loaded (try 3 of 3)" in shown
    assert "com.example.NotInstalled" in shown


@override_settings(TRELLIS_LOAD_TRIES=2, TRELLIS_LOAD_RETRY_SECONDS=60)
def test_the_executors_log_line_names_the_execution_and_its_flow() -> None:
    execution = _unloadable()
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RunContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("executions.runtime.unloadable")
    logger.addHandler(handler)
    try:
        advance_execution(execution.id)
    finally:
        logger.removeHandler(handler)

    line = json.loads(stream.getvalue().splitlines()[0])
    assert line["level"] == "WARNING"
    assert line["execution_id"] == execution.id
    assert (line["namespace"], line["flow_id"]) == ("t.metrics", "counted")
    assert "unknown type 'com.example.NotInstalled'" in line["message"]
    assert current() == {}  # the context ends with the call: nothing leaks to later lines


@override_settings(TRELLIS_LOAD_TRIES=2, TRELLIS_LOAD_RETRY_SECONDS=60)
def test_a_wake_up_before_the_next_try_changes_nothing() -> None:
    execution = _unloadable()
    advance_execution(execution.id)
    assert advance_execution(execution.id) == State.CREATED  # early: refused, no try
    assert LogEntry.objects.filter(execution=execution).count() == 1


@pytest.mark.django_db(transaction=True)  # the worker closes old connections, as in a pool
def test_a_worker_that_cannot_load_the_flow_fails_the_task_run_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        dispatch, "send", lambda *args, **kwargs: None
    )  # this process plays both roles: no messages
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})
    advance_execution(execution.id)  # the executor could load it: an attempt is QUEUED
    attempt = TaskRunAttempt.objects.get(execution=execution)
    # ...but this worker has no such plugin
    FlowRevision.objects.filter(flow=flow).update(source=MISSING)
    loading._specs.clear()

    assert run_attempt(attempt.pk) == State.FAILED

    attempt.refresh_from_db()
    assert attempt.state == State.FAILED  # not left RUNNING for the sweeper to resend forever
    line = LogEntry.objects.get(execution=execution, task_run_id=attempt.task_run_id)
    assert line.level == "ERROR"
    assert "The flow cannot be loaded on worker" in line.message
    assert "unknown type 'com.example.NotInstalled'" in line.message


# -- the --wait warning --------------------------------------------------------------------------


def test_wait_warns_that_no_executor_consumes_its_queue_and_keeps_waiting() -> None:
    flow_deploy(source=FLOW)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="still CREATED after 1.5s"):
        call_command("flow", "run", "t.metrics", "counted", "--wait", "--timeout", "1.5",
                     "--warn-after", "0.5", stdout=out, stderr=err)  # fmt: skip

    warnings = [line for line in err.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1  # once per quiet spell
    assert "is still CREATED" in warnings[0]
    assert "No executor seems to be consuming queue 'executor'" in warnings[0]
    assert "Still waiting." in warnings[0]


def test_stall_message_names_the_queue_of_queued_attempts() -> None:
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})
    Execution.objects.filter(pk=execution.pk).update(state=State.RUNNING)
    execution.refresh_from_db()
    run = TaskRun.objects.create(execution=execution, task_id="a", queue="wg.nobody")
    TaskRunAttempt.objects.create(task_run=run, execution=execution, number=1, queue="wg.nobody")

    message = stall_message(execution, 31, timezone.now())

    assert message is not None
    assert "QUEUED on queue 'wg.nobody' (a)" in message
    assert "No worker seems to be consuming it" in message
    assert "--queues wg.nobody" in message


def test_no_warning_for_what_waits_for_a_good_reason() -> None:
    flow = flow_deploy(source=FLOW).flow
    later = execution_create(flow=flow, inputs={})
    Execution.objects.filter(pk=later.pk).update(due_at=timezone.now() + timedelta(hours=1))
    later.refresh_from_db()
    assert stall_message(later, 60, timezone.now()) is None  # scheduled for later
    running = execution_create(flow=flow, inputs={})
    Execution.objects.filter(pk=running.pk).update(state=State.RUNNING)
    running.refresh_from_db()
    assert stall_message(running, 60, timezone.now()) is None  # running tasks: no queue to blame


def test_the_stall_watch_warns_once_and_rearms_after_a_change() -> None:
    flow = flow_deploy(source=FLOW).flow
    execution = execution_create(flow=flow, inputs={})
    watch = StallWatch(warn_after=0.0001)
    watch.last_change -= 1
    moment = timezone.now()
    assert watch.check(execution, moved=False, moment=moment) is not None
    assert watch.check(execution, moved=False, moment=moment) is None
    assert watch.check(execution, moved=True, moment=moment) is None
    watch.last_change -= 1
    assert watch.check(execution, moved=False, moment=moment) is not None
    assert StallWatch(warn_after=0).check(execution, moved=False, moment=moment) is None


# -- JSON log lines ------------------------------------------------------------------------------


def test_json_lines_carry_the_run_they_are_about() -> None:
    record = logging.LogRecord("executions.runtime.advance", logging.WARNING, __file__, 1,
                               "went %s", ("wrong",), None)  # fmt: skip
    with log_context(execution_id="e1", task_run_id="r1", namespace="a.b", flow_id="f"):
        RunContextFilter().filter(record)
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", (), None)
    RunContextFilter().filter(outside)

    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "went wrong"
    assert line["level"] == "WARNING"
    assert line["logger"] == "executions.runtime.advance"
    assert line["timestamp"].endswith("+00:00")
    assert (line["execution_id"], line["task_run_id"], line["namespace"], line["flow_id"]) == (
        "e1", "r1", "a.b", "f",
    )  # fmt: skip
    assert "execution_id" not in json.loads(JsonFormatter().format(outside))
