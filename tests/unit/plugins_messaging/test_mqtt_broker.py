"""MQTT plugins against the real Mosquitto on 127.0.0.1:1883; skipped without it."""

from __future__ import annotations

import threading
import time

import pytest

from plugins.messaging import mqtt as plugin
from plugins.messaging._common import read_ion
from plugins.messaging.mqtt.client import Session
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_messaging.conftest import FakePoll, FakeRealtime, listen_in_thread, need

SERVER = "tcp://127.0.0.1:1883"


@pytest.fixture
def topic(unique: str):
    need("mqtt")
    return f"trellis/test/{unique}"


def _publish_later(topic: str, values, tmp_path, delay: float = 0.7) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        plugin.Publish().run(
            {"server": SERVER, "clientId": f"pub-{time.time_ns()}", "topic": topic,
             "from": values, "serdeType": "JSON"}, FakeContext(tmp_path),
        )  # fmt: skip

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_publish_then_subscribe_writes_ion(topic: str, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    publisher = _publish_later(topic, [{"v": 1}, {"v": 2}], tmp_path)
    out = plugin.Subscribe().run(
        {"server": SERVER, "clientId": f"sub-{time.time_ns()}", "topic": [topic],
         "serdeType": "JSON", "maxRecords": 2, "maxDuration": "PT10S"}, ctx,
    )  # fmt: skip
    publisher.join()
    assert out["messagesCount"] == 2
    records = list(read_ion(ctx.open_uri(out["uri"])))
    assert [r["payload"] for r in records] == [{"v": 1}, {"v": 2}]
    assert records[0]["topic"] == topic
    assert records[0]["properties"]["messageId"]


def test_trigger_collects_a_batch(topic: str, tmp_path) -> None:
    publisher = _publish_later(topic, ["a"], tmp_path)
    props = {"server": SERVER, "clientId": f"trg-{time.time_ns()}", "topic": topic,
             "serdeType": "JSON", "maxRecords": 1, "maxDuration": "PT10S"}  # fmt: skip
    events = plugin.Trigger().evaluate(props, FakePoll())
    publisher.join()
    assert events[0].attach(lambda path, name: "kestra:///x")["messagesCount"] == 1
    events[0].done()


def test_realtime_redelivers_an_unacknowledged_message(topic: str, tmp_path) -> None:
    client_id = f"rt-{time.time_ns()}"
    props = {"server": SERVER, "clientId": client_id, "topic": topic, "serdeType": "JSON"}
    ctx = FakeRealtime(stop_after=1, fail_on=1)
    thread = listen_in_thread(plugin.MqttRealtimeTrigger(), dict(props), ctx)
    time.sleep(0.5)  # subscribed: the persistent session now holds what arrives
    _publish_later(topic, ["first"], tmp_path, delay=0).join()
    thread.join(timeout=10)
    assert isinstance(thread.errors[0], RuntimeError)  # fire failed: never acknowledged
    thread = listen_in_thread(plugin.MqttRealtimeTrigger(), dict(props), ctx)
    thread.join(timeout=10)
    assert not thread.errors
    assert [d.variables["payload"] for d in ctx.deliveries] == ["first"]
    assert ctx.deliveries[0].key.startswith("mqtt:")
    # end the persistent session so the broker forgets it
    cleanup = Session({**props}, persistent=False, manual_ack=False)
    cleanup.close()
