"""The realtime triggers role killed with SIGKILL between receiving a message and committing
its execution, and between the commit and the acknowledgement: after a restart the message
has started exactly one execution (no loss, no duplicate). The pauses come from the
test-only hook ``TRELLIS_TEST_REALTIME_PAUSE`` (triggers/realtime.py)."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.integration.conftest import wait_for
from tests.integration.test_messaging_integration import (
    deploy_amqp_realtime,
    executions_of,
    finished,
    publish,
    queue,  # noqa: F401 - the fixture
    queue_depth,
    start_role,
    stop_role,
)
from triggers.models import TriggerFire
from triggers.realtime import PAUSE_ENV

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("moment", "committed_before_kill"), [("receipt", 0), ("commit", 1)])
def test_sigkill_of_the_realtime_role_loses_nothing_and_duplicates_nothing(
    workers,
    queue: str,  # noqa: F811 - the fixture imported above
    tmp_path,
    moment: str,
    committed_before_kill: int,  # noqa: F811
) -> None:
    flow_id = f"crash_{moment}"
    deploy_amqp_realtime(queue, flow_id, "it.crash")
    role = f"triggers-{uuid.uuid4().hex[:6]}"
    start_role(workers, role, {PAUSE_ENV: f"{moment}:60"})
    wait_for(lambda: "listening" in workers.log_text(role), timeout=30)
    publish(queue, ["precious"], tmp_path)
    wait_for(lambda: f"after {moment}" in workers.log_text(role), timeout=30)
    workers.kill(role, signal.SIGKILL)  # the whole process group, at once
    assert len(executions_of("it.crash", flow_id)) == committed_before_kill

    restarted = f"{role}-again"
    start_role(workers, restarted)
    try:
        done = wait_for(lambda: finished("it.crash", flow_id, 1), timeout=90)
        wait_for(lambda: queue_depth(queue) == 0, timeout=30)  # redelivered, then acked
        time.sleep(2)  # a duplicate, if any, would have been created by now
    finally:
        stop_role(workers, restarted)
    assert len(executions_of("it.crash", flow_id)) == 1
    assert TriggerFire.objects.filter(flow_id=flow_id).count() == 1
    assert done[0].trigger["variables"]["data"] == "precious"
