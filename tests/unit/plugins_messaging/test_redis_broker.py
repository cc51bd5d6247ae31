"""Redis plugins against the real Redis on 127.0.0.1:6379, database 9; skipped without it."""

from __future__ import annotations

import pytest

from plugins.messaging import redis as plugin
from plugins.messaging._common import read_ion
from plugins.messaging.redis.client import client
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_messaging.conftest import FakePoll, FakeRealtime, listen_in_thread, need

URL = "redis://127.0.0.1:6379/9"


@pytest.fixture
def key(unique: str):
    need("redis")
    yield unique
    with client({"url": URL}) as redis:
        leftovers = list(redis.scan_iter(f"{unique}*"))
        if leftovers:
            redis.delete(*leftovers)


def test_push_then_pop_writes_ion(key: str, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    pushed = plugin.ListPush().run(
        {"url": URL, "key": key, "from": [{"a": 1}, {"a": 2}], "serdeType": "JSON"}, ctx
    )
    assert pushed == {"count": 2}
    out = plugin.ListPop().run({"url": URL, "key": key, "serdeType": "JSON", "maxRecords": 5}, ctx)
    assert out["count"] == 2
    assert list(read_ion(ctx.open_uri(out["uri"]))) == [{"a": 1}, {"a": 2}]


def test_string_set_get_delete(key: str, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    assert plugin.Set().run({"url": URL, "key": key, "value": "v1"}, ctx) == {}
    assert plugin.Set().run({"url": URL, "key": key, "value": "v2", "get": True}, ctx) == {
        "oldValue": "v1"
    }
    assert plugin.Get().run({"url": URL, "key": key}, ctx)["data"] == "v2"
    assert plugin.Delete().run({"url": URL, "keys": [key, f"{key}-none"]}, ctx) == {"count": 1}


def test_publish_reaches_a_subscriber(key: str, tmp_path) -> None:
    with client({"url": URL}) as redis:
        pubsub = redis.pubsub()
        pubsub.subscribe(key)
        pubsub.get_message(timeout=1)  # the subscription confirmation
        out = plugin.Publish().run({"url": URL, "channel": key, "from": ["hello"]},
                                   FakeContext(tmp_path))  # fmt: skip
        message = pubsub.get_message(timeout=2)
        pubsub.close()
    assert out == {"count": 1}
    assert message["data"] == b"hello"


def test_trigger_claims_a_batch_and_offers_it_again_until_done(key: str, tmp_path) -> None:
    plugin.ListPush().run({"url": URL, "key": key, "from": ["a", "b", "c"]}, FakeContext(tmp_path))
    props = {"url": URL, "key": key, "maxRecords": 2}
    first = plugin.Trigger().evaluate(dict(props), FakePoll())
    assert first[0].variables == {"count": 2}
    # The poller died before the commit: the next poll offers the same claim, same key.
    second = plugin.Trigger().evaluate(dict(props), FakePoll())
    assert second[0].key == first[0].key
    second[0].done()
    third = plugin.Trigger().evaluate(dict(props), FakePoll())
    assert third[0].key != first[0].key
    assert third[0].variables == {"count": 1}
    third[0].done()
    assert plugin.Trigger().evaluate(dict(props), FakePoll()) == []


def test_realtime_redelivers_with_the_same_key_after_a_failed_fire(key: str, tmp_path) -> None:
    plugin.ListPush().run({"url": URL, "key": key, "from": ["x", "y"]}, FakeContext(tmp_path))
    ctx = FakeRealtime(stop_after=2, fail_on=1)
    props = {"url": URL, "key": key}
    thread = listen_in_thread(plugin.RedisRealtimeTrigger(), props, ctx)
    thread.join(timeout=10)
    assert isinstance(thread.errors[0], RuntimeError)
    thread = listen_in_thread(plugin.RedisRealtimeTrigger(), props, ctx)
    thread.join(timeout=10)
    assert not thread.errors
    assert [d.variables["value"] for d in ctx.deliveries] == ["x", "y"]
    with client({"url": URL}) as redis:
        assert redis.llen(key) == 0
        assert not list(redis.scan_iter(f"{key}:trellis-inflight*"))
