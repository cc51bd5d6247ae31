"""Fixtures for the messaging plugins: reachability of the real brokers, and stand-ins for
the poll and realtime contexts (no database)."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from kernel.plugin import Delivery
from plugins.messaging.amqp.client import connect
from tests.unit.fake_context import FakeLogger

BROKERS = {
    "amqp": ("127.0.0.1", 5672),
    "mqtt": ("127.0.0.1", 1883),
    "nats": ("127.0.0.1", 4222),
    "redis": ("127.0.0.1", 6379),
}


def reachable(name: str) -> bool:
    try:
        socket.create_connection(BROKERS[name], timeout=1).close()
    except OSError:
        return False
    return True


def need(name: str) -> None:
    if not reachable(name):
        host, port = BROKERS[name]
        pytest.skip(f"{name} broker not reachable on {host}:{port}")


#: The machine's RabbitMQ, as the AMQP tasks' properties.
AMQP_CONN = {"host": "127.0.0.1", "port": "5672", "username": "guest", "password": "guest"}


def queue_depth(name: str) -> int:
    """How many messages wait in an AMQP queue."""
    connection = connect(AMQP_CONN)
    try:
        return connection.channel().queue_declare(queue=name, passive=True).method.message_count
    finally:
        connection.close()


def delete_queue(name: str) -> None:
    connection = connect(AMQP_CONN)
    try:
        connection.channel().queue_delete(queue=name)
    finally:
        connection.close()


@pytest.fixture
def unique() -> str:
    return f"trellis-test-{uuid.uuid4().hex[:10]}"


class FakePoll:
    """Satisfies ``kernel.plugin.PollContext``."""

    namespace = "test"
    flow_id = "flow"
    trigger_id = "watch"

    def __init__(self) -> None:
        self.poll_id = uuid.uuid4().hex
        self.now = datetime.now(tz=UTC)
        self.logger = FakeLogger()
        self.state: dict[str, Any] = {}

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        return value


class FakeRealtime:
    """Satisfies ``kernel.plugin.RealtimeContext``: keeps deliveries, refuses a key twice
    (as the TriggerFire row does), stops after ``stop_after`` deliveries or when told."""

    namespace = "test"
    flow_id = "flow"
    trigger_id = "realtime"

    def __init__(self, stop_after: int | None = None, fail_on: int | None = None) -> None:
        self.logger = FakeLogger()
        self.deliveries: list[Delivery] = []
        self.keys: set[str] = set()
        self.stop_after = stop_after
        self.fail_on = fail_on
        self.stopped = threading.Event()

    def fire(self, delivery: Delivery) -> bool:
        if self.fail_on is not None and len(self.deliveries) + 1 == self.fail_on:
            self.fail_on = None
            raise RuntimeError("the database is away")
        if delivery.key in self.keys:
            return False
        self.keys.add(delivery.key)
        self.deliveries.append(delivery)
        if self.stop_after is not None and len(self.deliveries) >= self.stop_after:
            self.stopped.set()
        return True

    def should_stop(self) -> bool:
        return self.stopped.is_set()


def listen_in_thread(trigger: Any, props: dict[str, Any], ctx: FakeRealtime) -> threading.Thread:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            trigger.listen(props, ctx)
        except BaseException as exc:  # kept for the test to see
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread
