"""Messaging flows for real: tasks on the Celery workers, realtime triggers in their own
``server triggers`` process, batch triggers polled on the task worker, all written with
Kestra's type names against the machine's RabbitMQ and Redis (skipped when unreachable)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from executions.models import Execution
from executions.services import execution_create, execution_wait
from flows.models import Flow
from flows.services import flow_deploy, flow_set_disabled
from kernel.states import State
from plugins.messaging import amqp
from plugins.messaging import redis as redis_plugin
from plugins.messaging.amqp.client import connect
from plugins.messaging.nats.client import Session
from plugins.messaging.redis.client import client as redis_client
from tests.integration.conftest import wait_for
from tests.integration.runs import run_source
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_messaging.conftest import AMQP_CONN as CONN
from tests.unit.plugins_messaging.conftest import delete_queue, need, queue_depth
from triggers.models import TriggerFire
from triggers.polling import polls_due

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

AMQP_YAML = """  host: 127.0.0.1
    port: 5672
    username: guest
    password: guest"""
REDIS_URL = "redis://127.0.0.1:6379/9"
NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
def queue() -> Iterator[str]:
    need("amqp")
    name = f"trellis-it-{uuid.uuid4().hex[:10]}"
    connection = connect(CONN)
    connection.channel().queue_declare(queue=name, durable=True)
    connection.close()
    yield name
    delete_queue(name)


def publish(name: str, values: list, tmp_path) -> None:
    amqp.Publish().run({**CONN, "routingKey": name, "from": values}, FakeContext(tmp_path))


def start_role(workers, name: str, env: dict[str, str] | None = None) -> None:
    """A ``server triggers`` process of this test's own (``env`` added to the fleet's)."""
    saved = dict(workers.env)
    workers.env.update(env or {})
    try:
        workers.start_triggers(name)
    finally:
        workers.env.clear()
        workers.env.update(saved)
    wait_for(lambda: "realtime triggers role started" in workers.log_text(name), timeout=60)


def stop_role(workers, name: str) -> None:
    workers.kill(name, signal.SIGTERM)


@contextmanager
def listening_role(workers) -> Iterator[str]:
    """A ``server triggers`` process of the test's own, once it listens; stopped after."""
    role = f"triggers-{uuid.uuid4().hex[:6]}"
    start_role(workers, role)
    try:
        wait_for(lambda: "listening" in workers.log_text(role), timeout=30)
        yield role
    finally:
        stop_role(workers, role)


def deploy_amqp_realtime(queue_name: str, flow_id: str, namespace: str) -> None:
    """A flow started by each message of ``queue_name`` (Kestra's AMQP RealtimeTrigger)."""
    flow_deploy(
        source=f"""id: {flow_id}
namespace: {namespace}
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "got {{{{ trigger.data }}}} via {{{{ trigger.routingKey }}}}"
triggers:
  - id: realtime_trigger
    type: io.kestra.plugin.amqp.RealtimeTrigger
  {AMQP_YAML}
    queue: {queue_name}
"""
    )


def executions_of(namespace: str, flow_id: str) -> list[Execution]:
    return list(Execution.objects.filter(namespace=namespace, flow_id=flow_id))


def finished(namespace: str, flow_id: str, count: int) -> list[Execution] | None:
    found = executions_of(namespace, flow_id)
    done = [e for e in found if e.state in (State.SUCCESS, State.FAILED)]
    return done if len(done) >= count else None


def test_amqp_tasks_publish_and_consume_on_workers(workers, queue: str) -> None:
    done = run_source(
        f"""id: amqp_tasks
namespace: it.messaging
tasks:
  - id: publish
    type: io.kestra.plugin.amqp.Publish
  {AMQP_YAML}
    routingKey: {queue}
    serdeType: JSON
    from:
      - {{"order": 1}}
      - {{"order": 2}}
  - id: consume
    type: io.kestra.plugin.amqp.Consume
  {AMQP_YAML}
    queue: {queue}
    serdeType: JSON
    maxRecords: 2
    maxDuration: PT10S
  - id: count
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.consume.count }}}} {{{{ outputs.publish.messagesCount }}}}"
""",
        timeout=90,
    )
    assert done.state == State.SUCCESS
    runs = {r.task_id: r.outputs for r in done.task_runs.all()}
    assert runs["count"] == {"value": "2 2"}
    assert runs["consume"]["uri"].startswith("kestra://")
    assert queue_depth(queue) == 0


def test_amqp_realtime_trigger_starts_one_execution_per_message(
    workers, queue: str, tmp_path
) -> None:
    deploy_amqp_realtime(queue, "amqp_realtime", "it.messaging")
    with listening_role(workers) as role:
        publish(queue, ["m1", "m2", "m3"], tmp_path)
        done = wait_for(lambda: finished("it.messaging", "amqp_realtime", 3), timeout=90)
        # Disabling the flow stops its listener within a reload.
        flow_set_disabled(flow=Flow.objects.get(flow_id="amqp_realtime"), disabled=True)
        wait_for(lambda: "stopped" in workers.log_text(role), timeout=30)
    assert {e.state for e in done} == {State.SUCCESS}
    assert sorted(e.trigger["variables"]["data"] for e in done) == ["m1", "m2", "m3"]
    assert len(executions_of("it.messaging", "amqp_realtime")) == 3
    assert TriggerFire.objects.filter(flow_id="amqp_realtime").count() == 3
    assert queue_depth(queue) == 0


def test_amqp_batch_trigger_polls_on_the_worker(workers, queue: str, tmp_path) -> None:
    flow_deploy(
        source=f"""id: amqp_batch
namespace: it.messaging
tasks:
  - id: count
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.count }}}}"
triggers:
  - id: batch
    type: io.kestra.plugin.amqp.Trigger
  {AMQP_YAML}
    queue: {queue}
    maxRecords: 10
    maxDuration: PT2S
    interval: PT1S
"""
    )
    publish(queue, ["a", "b", "c"], tmp_path)

    def one_done() -> list[Execution] | None:
        polls_due()  # beat's sweep, sent from here: the poll itself runs on the worker
        return finished("it.messaging", "amqp_batch", 1)

    done = wait_for(one_done, timeout=90, poll=1.0)
    assert done[0].state == State.SUCCESS
    assert done[0].trigger["variables"]["count"] == 3
    assert done[0].trigger["variables"]["uri"].startswith("kestra://")
    wait_for(lambda: queue_depth(queue) == 0, timeout=30)


def test_redis_realtime_trigger_and_list_tasks(workers, tmp_path) -> None:
    need("redis")
    key = f"trellis-it-{uuid.uuid4().hex[:10]}"
    flow_deploy(
        source=f"""id: redis_realtime
namespace: it.messaging
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.value }}}}"
  - id: forward
    type: io.kestra.plugin.redis.list.ListPush
    url: {REDIS_URL}
    key: {key}-out
    from: ["{{{{ trigger.value }}}}"]
triggers:
  - id: watch
    type: io.kestra.plugin.redis.list.RealtimeTrigger
    url: {REDIS_URL}
    key: {key}
"""
    )
    try:
        with listening_role(workers):
            redis_plugin.ListPush().run(
                {"url": REDIS_URL, "key": key, "from": ["r1", "r2"]}, FakeContext(tmp_path)
            )
            done = wait_for(lambda: finished("it.messaging", "redis_realtime", 2), timeout=90)
    finally:
        with redis_client({"url": REDIS_URL}) as client:
            forwarded = sorted(v.decode() for v in client.lrange(f"{key}-out", 0, -1))
            leftovers = list(client.scan_iter(f"{key}*"))
            if leftovers:
                client.delete(*leftovers)
    assert {e.state for e in done} == {State.SUCCESS}
    assert sorted(e.trigger["variables"]["value"] for e in done) == ["r1", "r2"]
    assert forwarded == ["r1", "r2"]


def test_nats_realtime_trigger_and_produce_task(workers, tmp_path) -> None:
    need("nats")
    stream = f"trellis_it_{uuid.uuid4().hex[:10]}"
    session = Session({"url": NATS_URL})
    session.run(session.js.add_stream(name=stream, subjects=[f"{stream}.>"]))
    session.close()
    flow_deploy(
        source=f"""id: nats_realtime
namespace: it.messaging
tasks:
  - id: echo
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.subject }}}} {{{{ trigger.data }}}}"
triggers:
  - id: watch
    type: io.kestra.plugin.nats.RealtimeTrigger
    url: {NATS_URL}
    subject: {stream}.in
    durableId: it_realtime
    deliverPolicy: All
"""
    )
    producer = flow_deploy(
        source=f"""id: nats_produce
namespace: it.messaging
tasks:
  - id: produce
    type: io.kestra.plugin.nats.Produce
    url: {NATS_URL}
    subject: {stream}.in
    from:
      - headers:
          origin: it
        data: n1
      - n2
"""
    ).flow
    try:
        with listening_role(workers):
            produced = execution_wait(execution_create(flow=producer).id, timeout=90)
            assert produced.state == State.SUCCESS
            done = wait_for(lambda: finished("it.messaging", "nats_realtime", 2), timeout=90)
    finally:
        session = Session({"url": NATS_URL})
        session.run(session.js.delete_stream(stream))
        session.close()
    assert {e.state for e in done} == {State.SUCCESS}
    assert sorted(e.trigger["variables"]["data"] for e in done) == ["n1", "n2"]
    keys = set(
        TriggerFire.objects.filter(flow_id="nats_realtime").values_list("event_key", flat=True)
    )
    assert keys == {f"nats:{stream}:1", f"nats:{stream}:2"}
