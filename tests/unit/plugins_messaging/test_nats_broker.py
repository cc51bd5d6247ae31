"""NATS plugins against the real NATS JetStream on 127.0.0.1:4222; skipped without it."""

from __future__ import annotations

import pytest

from plugins.messaging import nats as plugin
from plugins.messaging._common import read_ion
from plugins.messaging.nats.client import Session
from tests.unit.fake_context import FakeContext
from tests.unit.plugins_messaging.conftest import FakePoll, FakeRealtime, listen_in_thread, need

URL = "nats://127.0.0.1:4222"


@pytest.fixture
def subject(unique: str):
    need("nats")
    stream = unique.replace("-", "_")
    session = Session({"url": URL})
    try:
        session.run(session.js.add_stream(name=stream, subjects=[f"{stream}.>"]))
    finally:
        session.close()
    yield f"{stream}.events"
    session = Session({"url": URL})
    try:
        session.run(session.js.delete_stream(stream))
    finally:
        session.close()


def test_produce_then_consume_writes_ion_and_acks(subject: str, tmp_path) -> None:
    ctx = FakeContext(tmp_path)
    out = plugin.Produce().run(
        {"url": URL, "subject": subject,
         "from": [{"headers": {"h": "1"}, "data": "one"}, "two"]}, ctx,
    )  # fmt: skip
    assert out == {"messagesCount": 2}
    props = {"url": URL, "subject": subject, "durableId": "c1", "maxRecords": 5,
             "pollDuration": "PT1S"}  # fmt: skip
    out = plugin.Consume().run(dict(props), ctx)
    assert out["messagesCount"] == 2
    records = list(read_ion(ctx.open_uri(out["uri"])))
    assert [r["data"] for r in records] == ["one", "two"]
    assert records[0]["headers"] == {"h": ["1"]}
    assert records[0]["sequence"] == 1
    assert plugin.Consume().run(dict(props), ctx)["messagesCount"] == 0  # all acknowledged


def test_trigger_acks_when_done(subject: str, tmp_path) -> None:
    plugin.Produce().run({"url": URL, "subject": subject, "from": ["a"]}, FakeContext(tmp_path))
    props = {"url": URL, "subject": subject, "durableId": "t1", "maxRecords": 5,
             "pollDuration": "PT1S"}  # fmt: skip
    events = plugin.Trigger().evaluate(dict(props), FakePoll())
    assert events[0].attach(lambda path, name: "kestra:///x")["messagesCount"] == 1
    events[0].done()
    assert plugin.Trigger().evaluate(dict(props), FakePoll()) == []


def test_realtime_keys_by_stream_sequence(subject: str, tmp_path) -> None:
    plugin.Produce().run({"url": URL, "subject": subject, "from": ["a", "b"]},
                         FakeContext(tmp_path))  # fmt: skip
    ctx = FakeRealtime(stop_after=2)
    thread = listen_in_thread(
        plugin.NatsRealtimeTrigger(), {"url": URL, "subject": subject, "durableId": "rt"}, ctx
    )
    thread.join(timeout=20)
    assert not thread.errors
    stream = subject.split(".")[0]
    assert [d.key for d in ctx.deliveries] == [f"nats:{stream}:1", f"nats:{stream}:2"]
    assert [d.variables["data"] for d in ctx.deliveries] == ["a", "b"]


def test_kv_put_get_delete(unique: str, tmp_path) -> None:
    need("nats")
    bucket = unique.replace("-", "_")
    session = Session({"url": URL})
    session.run(session.js.create_key_value(bucket=bucket))
    session.close()
    ctx = FakeContext(tmp_path)
    try:
        base = {"url": URL, "bucketName": bucket}
        assert plugin.KvPut().run({**base, "values": {"k": "v"}}, ctx)["revisions"] == {"k": 1}
        assert plugin.KvGet().run({**base, "keys": ["k", "none"]}, ctx) == {"output": {"k": "v"}}
        plugin.KvDelete().run({**base, "keys": ["k"]}, ctx)
        assert plugin.KvGet().run({**base, "keys": ["k"]}, ctx) == {"output": {}}
    finally:
        session = Session({"url": URL})
        session.run(session.js.delete_key_value(bucket))
        session.close()


def test_a_caller_whose_thread_runs_an_event_loop_still_reaches_nats(subject: str) -> None:
    # A thread that already runs a loop (an async host, a test tool left one) refused
    # run_until_complete ("Cannot run the event loop while another loop is running").
    import asyncio

    outer = asyncio.new_event_loop()
    asyncio.events._set_running_loop(outer)
    try:
        session = Session({"url": URL})
        try:
            assert session.run(session.js.stream_info(subject.split(".")[0])).config.name
        finally:
            session.close()
    finally:
        asyncio.events._set_running_loop(None)
        outer.close()
