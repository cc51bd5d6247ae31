"""AMQP plugins against the real RabbitMQ on 127.0.0.1:5672 (guest/guest); skipped without it."""

from __future__ import annotations

import pytest

from plugins.messaging import amqp
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_messaging.conftest import AMQP_CONN as CONN
from tests.unit.plugins_messaging.conftest import (
    FakePoll,
    FakeRealtime,
    delete_queue,
    listen_in_thread,
    need,
)
from tests.unit.plugins_messaging.conftest import queue_depth as _depth


@pytest.fixture
def queue(unique: str, tmp_path):
    need("amqp")
    amqp.CreateQueue().run({**CONN, "name": unique, "durability": False}, FakeContext(tmp_path))
    yield unique
    delete_queue(unique)


def _publish(queue: str, values, tmp_path, serde: str = "STRING") -> None:
    out = amqp.Publish().run(
        {**CONN, "routingKey": queue, "from": values, "serdeType": serde}, FakeContext(tmp_path)
    )
    assert out == {"messagesCount": len(values)}


def test_publish_then_consume_writes_ion_and_acks(queue: str, tmp_path) -> None:
    _publish(queue, [{"id": 1}, {"id": 2}, {"id": 3}], tmp_path, serde="JSON")
    ctx = FakeContext(tmp_path)
    out = amqp.Consume().run(
        {**CONN, "queue": queue, "serdeType": "JSON", "maxRecords": 2, "maxDuration": "PT5S"},
        ctx,
    )
    assert out["count"] == 2
    from plugins.messaging._common import read_ion

    records = list(read_ion(ctx.open_uri(out["uri"])))
    assert [r["data"] for r in records] == [{"id": 1}, {"id": 2}]
    assert records[0]["routingKey"] == queue
    assert records[0]["messageId"]
    assert _depth(queue) == 1  # the third went back to the queue


def test_exchange_and_binding_route_messages(queue: str, unique: str, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    exchange = f"{unique}-x"
    amqp.DeclareExchange().run({**CONN, "name": exchange, "exchangeType": "DIRECT",
                                "durability": False, "autoDelete": True}, ctx)  # fmt: skip
    amqp.QueueBind().run({**CONN, "exchange": exchange, "queue": queue, "routingKey": "k"}, ctx)
    amqp.Publish().run({**CONN, "exchange": exchange, "routingKey": "k", "from": "hi"}, ctx)
    out = amqp.Consume().run({**CONN, "queue": queue, "maxRecords": 1, "maxDuration": "PT5S"}, ctx)
    assert out["count"] == 1


def test_trigger_acks_the_batch_only_when_done(queue: str, tmp_path) -> None:
    _publish(queue, ["a", "b"], tmp_path)
    props = {**CONN, "queue": queue, "serdeType": "STRING", "maxRecords": 5, "maxDuration": "PT1S"}
    events = amqp.Trigger().evaluate(dict(props), FakePoll())
    assert len(events) == 1
    stored: list = []
    variables = events[0].attach(
        lambda path, name: stored.append(path.read_text()) or "kestra:///x"
    )
    assert variables == {"uri": "kestra:///x", "count": 2}
    assert stored[0].splitlines()[0].startswith('{data:"a"')
    events[0].done()
    assert _depth(queue) == 0
    assert amqp.Trigger().evaluate(dict(props), FakePoll()) == []


def test_trigger_that_never_finished_gives_the_batch_back(queue: str, tmp_path) -> None:
    _publish(queue, ["a"], tmp_path)
    props = {**CONN, "queue": queue, "maxRecords": 5, "maxDuration": "PT1S"}
    events = amqp.Trigger().evaluate(dict(props), FakePoll())
    assert len(events) == 1
    del events  # the execution could not be committed: the dropped event closes its
    # connection at once, and the message is back in the queue for the next poll
    again = amqp.Trigger().evaluate(dict(props), FakePoll())
    assert len(again) == 1
    again[0].done()


def test_realtime_fires_one_delivery_per_message_keyed_by_message_id(queue: str, tmp_path) -> None:
    _publish(queue, ["one", "two"], tmp_path)
    ctx = FakeRealtime(stop_after=2)
    thread = listen_in_thread(amqp.AmqpRealtimeTrigger(), {**CONN, "queue": queue}, ctx)
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert not thread.errors
    assert [d.variables["data"] for d in ctx.deliveries] == ["one", "two"]
    assert all(d.key.startswith("amqp:") and len(d.key) > 10 for d in ctx.deliveries)
    assert _depth(queue) == 0


def test_realtime_does_not_ack_a_message_whose_execution_failed(queue: str, tmp_path) -> None:
    _publish(queue, ["once"], tmp_path)
    ctx = FakeRealtime(stop_after=1, fail_on=1)
    thread = listen_in_thread(amqp.AmqpRealtimeTrigger(), {**CONN, "queue": queue}, ctx)
    thread.join(timeout=20)
    assert isinstance(thread.errors[0], RuntimeError)  # listen ended, message not acked
    thread = listen_in_thread(amqp.AmqpRealtimeTrigger(), {**CONN, "queue": queue}, ctx)
    thread.join(timeout=20)
    assert [d.variables["data"] for d in ctx.deliveries] == ["once"]
    assert ctx.deliveries[0].variables["redelivered"] is True
    assert _depth(queue) == 0
