"""Redis's visibility timeout shorter than a retry delay and than a task: redelivered
messages change nothing, the retry runs exactly once, the long task exactly once.

Trellis never holds work in the broker: a retry delay is a due time in the database that the
sweeper turns into a message when due, and a worker claims an attempt with a conditional
UPDATE, so a message Redis hands out again (its visibility timeout passed while a task ran)
finds the attempt taken. Here the timeout is 2 s (production: one hour)."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from django.conf import settings

from executions.models import TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State
from tests.chaos.common import duplicates, lost, wait_all_terminal
from tests.chaos.conftest import TASK_WORKERS, start_fleet
from tests.chaos.report import Row, record
from tests.integration.harness import purge_broker

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
VISIBILITY = 2


@pytest.fixture
def short_visibility(django_db_setup, django_db_blocker, transactional_db, tmp_path):  # noqa: ANN201
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("Redis's visibility timeout: run with CELERY_BROKER_URL=redis://...")
    with django_db_blocker.unblock():
        purge_broker()
    procs = start_fleet(tmp_path, TRELLIS_CHAOS_VISIBILITY_TIMEOUT=str(VISIBILITY))
    try:
        yield procs
    finally:
        procs.stop()


def deliveries(fleet) -> Counter[str]:  # noqa: ANN001
    seen: Counter[str] = Counter()
    for name in TASK_WORKERS:
        seen.update(
            re.findall(r"executions\.worker\.run_attempt\[([0-9a-f-]+)\] received",
                       fleet.log_text(name))
        )  # fmt: skip
    return seen


def test_retry_delay_and_task_longer_than_the_visibility_timeout(
    short_visibility, tmp_path
) -> None:
    fleet = short_visibility
    flaky_effects, long_effects = tmp_path / "flaky.txt", tmp_path / "long.txt"
    marker = tmp_path / "failed-once"
    flaky = flow_deploy(
        source=f"""
id: flaky
namespace: chaos.visibility
tasks:
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    retry:
      type: constant
      interval: PT{3 * VISIBILITY}S
      maxAttempt: 5
    commands:
      - echo "{{{{ taskrun.attemptsCount }}}}" >> {flaky_effects}
      - test -f {marker} || (touch {marker}; exit 1)
"""
    ).flow
    long = flow_deploy(
        source=f"""
id: long
namespace: chaos.visibility
tasks:
  - id: long
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep {3 * VISIBILITY + 1}
      - echo "{{{{ taskrun.id }}}}:{{{{ taskrun.attemptsCount }}}}" >> {long_effects}
"""
    ).flow
    ids = [execution_create(flow=flaky).id, execution_create(flow=long).id]
    began = time.monotonic()
    done = wait_all_terminal(ids, timeout=90)
    time.sleep(3 * VISIBILITY)  # anything Redis would hand out again has had time to come back
    retried = TaskRun.objects.get(execution_id=ids[0])
    long_run = TaskRun.objects.get(execution_id=ids[1])
    redelivered = sum(1 for n in deliveries(fleet).values() if n > 1)
    row = record(
        Row(
            "retry delay and task longer than Redis's visibility timeout",
            f"1 retried task (delay {3 * VISIBILITY} s), 1 task of {3 * VISIBILITY + 1} s",
            f"visibility timeout {VISIBILITY} s",
            lost(ids), duplicates(ids, long_effects), None,
            f"{redelivered} message(s) redelivered by Redis and ignored; flaky task ran "
            f"{len(flaky_effects.read_text().split())} times, long task once; "
            f"both done in {done - began:.1f} s",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert flaky_effects.read_text().split() == ["0", "1"]  # failed once, ran once more
    assert (retried.state, retried.attempts) == (State.SUCCESS, 2)
    assert (long_run.state, long_run.attempts) == (State.SUCCESS, 1)
    assert redelivered >= 1  # Redis really did hand the long task's message out again
