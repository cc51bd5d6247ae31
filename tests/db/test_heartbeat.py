"""One heartbeat thread serves every attempt running in a worker process: each attempt is
stopped for its own reason (its timeout, a superseded lease, a killed execution), its log
lines reach the database while it runs, and an attempt that ends quickly costs nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from executions.models import Execution, LogEntry, TaskRun, TaskRunAttempt
from executions.worker.heartbeat import Heartbeat
from executions.worker.run_context import AttemptLogger
from kernel.secrets import Masker
from kernel.states import State

pytestmark = pytest.mark.django_db(transaction=True)
OWNER = "test-host:1"


@pytest.fixture(autouse=True)
def _fast_beats(settings) -> None:  # noqa: ANN001
    settings.TRELLIS_HEARTBEAT_SECONDS = 1


def running(task_id: str, *, owner: str = OWNER, execution_state: str = "RUNNING"):  # noqa: ANN201
    execution = Execution.objects.create(
        namespace="t", flow_id=task_id, flow_revision=1, state=execution_state
    )
    run = TaskRun.objects.create(execution=execution, task_id=task_id, state="RUNNING", attempts=1)
    attempt = TaskRunAttempt.objects.create(
        task_run=run, execution=execution, number=1, state="RUNNING", owner=owner
    )
    logger = AttemptLogger(execution.id, run.id, task_id, 1, Masker([]))
    return attempt, logger


def beat_for(attempt: TaskRunAttempt, logger: AttemptLogger, deadline=None) -> Heartbeat:  # noqa: ANN001
    return Heartbeat(attempt.pk, attempt.execution_id, OWNER, logger, deadline, "PT1S")


def until(condition, timeout: float = 6.0) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_attempts_in_one_process_are_each_stopped_for_their_own_reason() -> None:
    timed, timed_log = running("timed")
    stolen, stolen_log = running("stolen", owner="another-host:2")
    killed, killed_log = running("killed", execution_state="KILLING")
    healthy, healthy_log = running("healthy")
    beats = {
        "timeout": beat_for(timed, timed_log, deadline=timezone.now() + timedelta(seconds=1)),
        "superseded": beat_for(stolen, stolen_log),
        "killed": beat_for(killed, killed_log),
        "": beat_for(healthy, healthy_log),
    }
    healthy_log.info("still going")
    lease_before = healthy.lease_expires_at
    for beat in beats.values():
        beat.start()
    try:
        until(lambda: all(b.stop.is_set() for reason, b in beats.items() if reason))
    finally:
        for beat in beats.values():
            beat.finish()
    assert {reason: b.reason for reason, b in beats.items()} == {r: r for r in beats}
    assert not beats[""].stop.is_set()
    assert ("healthy", "still going") in set(LogEntry.objects.values_list("task_id", "message"))
    timed_log.flush()  # what the record does with the last lines
    messages = set(LogEntry.objects.values_list("task_id", "message"))
    assert ("timed", "Timeout after PT1S: stopping the task") in messages
    healthy.refresh_from_db()
    assert healthy.lease_expires_at != lease_before  # its lease was extended
    assert healthy.state == State.RUNNING


def test_an_attempt_that_ends_at_once_is_never_ticked_after() -> None:
    attempt, logger = running("quick")
    beat = beat_for(attempt, logger)
    beat.start()
    beat.finish()
    logger.info("written by the record, not the heartbeat")
    time.sleep(1.3)  # past the first tick it would have had
    assert not LogEntry.objects.exists()
    assert not beat.stop.is_set()
