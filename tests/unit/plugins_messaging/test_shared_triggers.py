"""The pieces every messaging trigger shares (plugins/messaging/_triggers.py), without a
broker: the realtime loop's order (fire, then acknowledge) and the batch event's callbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins.messaging._triggers import (
    batch_event,
    delivery_key,
    received,
    relay,
    session_batch,
)
from tests.unit.plugins_messaging.conftest import FakeRealtime


def test_relay_acknowledges_after_the_fire_and_stops_before_receiving() -> None:
    ctx = FakeRealtime(stop_after=2)
    seen: list[str] = []
    pulled: list[int] = []

    def messages():
        for n in range(5):
            pulled.append(n)
            yield None if n == 1 else (f"k{n}", {"n": n}, lambda n=n: seen.append(f"ack{n}"))

    relay(ctx, messages())
    assert [d.key for d in ctx.deliveries] == ["k0", "k2"]
    assert seen == ["ack0", "ack2"]
    assert pulled == [0, 1, 2]  # stopped: nothing more received (a claim would strand)


def test_relay_returns_when_the_messages_end() -> None:
    ctx = FakeRealtime()
    relay(ctx, iter([None, ("k", {}, lambda: None)]))
    assert [d.key for d in ctx.deliveries] == ["k"]


def test_relay_does_not_acknowledge_what_could_not_be_committed() -> None:
    ctx = FakeRealtime(fail_on=1)
    acked: list[str] = []
    with pytest.raises(RuntimeError):
        relay(ctx, iter([("k", {}, lambda: acked.append("k"))]))
    assert acked == []


def test_received_turns_timeouts_into_none_and_ends_with_the_subscription() -> None:
    arrivals = iter([None, "a", None, "b"])  # then StopIteration: the broker ended it
    deliver = lambda m: (m, {"m": m}, lambda: None)  # noqa: E731
    assert [r and r[0] for r in received(lambda: next(arrivals), deliver)] == [
        None, "a", None, "b",
    ]  # fmt: skip


def test_received_leaves_what_arrives_while_stopping_unstarted() -> None:
    stopping = iter([False, True])
    messages = received(
        lambda: "a", lambda m: (m, {}, lambda: None), stopped=lambda: next(stopping)
    )
    assert [r and r[0] for r in messages] == ["a"]


def test_batch_event_settles_then_closes_and_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "messages.ion"
    path.write_text("1\n")
    calls: list[str] = []
    event = batch_event(
        "poll:1", path, 1, settle=lambda: calls.append("settle"),
        close=lambda: calls.append("close"), count_name="messagesCount",
    )  # fmt: skip
    assert event.variables == {"messagesCount": 1}
    assert event.attach(lambda p, name: f"kestra://{name}") == {
        "uri": "kestra://messages.ion", "messagesCount": 1, "count": 1,
    }  # fmt: skip
    event.decline()  # refused by conditions: consumed all the same
    assert calls == ["settle", "close"]
    assert not path.exists()


def test_session_batch_closes_the_session_when_nothing_came() -> None:
    class Session:
        closed = 0

        def close(self) -> None:
            self.closed += 1

    session = Session()
    assert session_batch("x", "poll:1", session, list, str, lambda m: None) == []
    assert session.closed == 1


def test_delivery_key_without_an_id_is_unique() -> None:
    assert delivery_key("amqp", "abc") == "amqp:abc"
    assert delivery_key("mqtt", None).startswith("mqtt:unkeyed:")
    assert delivery_key("mqtt", None) != delivery_key("mqtt", None)
