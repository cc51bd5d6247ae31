"""What the messaging families' triggers share: their property lists, the batch event a
polled Trigger returns, and the loop of a RealtimeTrigger.

Every family acknowledges the same way: a batch once its execution is committed (or refused
by the trigger's conditions: consumed, as Kestra does), a realtime message once ``fire``
returned. Only how a family receives, keys and acknowledges a message is its own.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from kernel.plugin import (
    Delivery,
    PollEvent,
    PollingTrigger,
    Prop,
    RealtimeContext,
    RealtimeTrigger,
    StoreFile,
)
from plugins.messaging._common import IonFile, close_when_dropped, limit_props

#: A realtime message: its key, its ``trigger.*`` variables, how to acknowledge it.
Received = tuple[str, dict[str, Any], Callable[[], None]]
#: A family's own message object (a pika delivery, a paho message, a NATS message...).
M = TypeVar("M")


def batch_properties(*family: Prop) -> tuple[Prop, ...]:
    """A batch Trigger's properties: the family's, the limits, ``interval`` and the shared."""
    return (
        *family,
        *limit_props(),
        Prop("interval", "duration", default=PollingTrigger.default_interval, dynamic=False),
        *PollingTrigger.shared_properties,
    )


def realtime_properties(*family: Prop) -> tuple[Prop, ...]:
    return (*family, *RealtimeTrigger.shared_properties)


def scratch_ion(family: str) -> IonFile:
    """An Ion file in a folder of its own: a poll has no working folder, and the file must
    live until the execution has stored it."""
    return IonFile(Path(tempfile.mkdtemp(prefix=f"trellis-{family}-")))


def batch_event(
    key: str,
    path: Path,
    count: int,
    *,
    settle: Callable[[], None],
    close: Callable[[], None],
    count_name: str = "count",
    when_dropped: Callable[[], None] | None = None,
) -> PollEvent:
    """One execution for a consumed batch (``trigger.uri`` and ``trigger.<count_name>``,
    ``trigger.count`` too). Once it is committed, or refused by conditions, ``settle``
    acknowledges the batch, then ``close`` ends the connection and the file goes;
    ``when_dropped`` closes the connection of an event the poll drops without either."""

    def attach(store: StoreFile) -> Mapping[str, Any]:
        return {"uri": store(path, path.name), count_name: count, "count": count}

    def done() -> None:
        try:
            settle()
        finally:
            close()
            path.unlink(missing_ok=True)

    event = PollEvent(
        key=key, variables={count_name: count}, attach=attach, done=done, decline=done
    )
    return close_when_dropped(event, when_dropped) if when_dropped else event


def session_batch(
    family: str,
    key: str,
    session: Any,
    receive: Callable[[], list[Any]],
    record: Callable[[Any], Any],
    settle: Callable[[list[Any]], None],
) -> list[PollEvent]:
    """A poll over a family ``session`` (``close()``): the messages ``receive`` got, each
    written as ``record(message)``, in one batch event (``trigger.messagesCount``); none
    when nothing came. The session stays open until the batch is settled."""
    try:
        messages = receive()
    except BaseException:
        session.close()
        raise
    if not messages:
        session.close()
        return []
    ion = scratch_ion(family)
    for message in messages:
        ion.write(record(message))
    path = ion.close()
    event = batch_event(
        key, path, ion.count, settle=lambda: settle(messages), close=session.close,
        count_name="messagesCount", when_dropped=session.close,
    )  # fmt: skip
    return [event]


def delivery_key(family: str, message_id: str | None) -> str:
    """A realtime key from the message's own id; without one, a key of its own (the
    trigger is then at-least-once for that message)."""
    return f"{family}:{message_id or f'unkeyed:{uuid.uuid4().hex}'}"


def received(
    receive: Callable[[], M | None],
    deliver: Callable[[M], Received],
    *,
    stopped: Callable[[], bool] | None = None,
) -> Iterator[Received | None]:
    """A realtime trigger's messages, for :func:`relay`, from a family's two hooks:
    ``receive`` waits a short while for one message (``None``: it timed out; raising
    ``StopIteration``: the broker ended the subscription) and ``deliver`` gives its key,
    variables and acknowledgement. With ``stopped``, what arrives once the trigger is stopping
    is left unacknowledged (the broker hands it back on close) instead of being started."""
    while True:
        try:
            message = receive()
        except StopIteration:
            return
        if stopped is not None and stopped():
            return
        yield None if message is None else deliver(message)


def relay(ctx: RealtimeContext, messages: Iterable[Received | None]) -> None:
    """Start one execution per message and acknowledge it only once ``fire`` returned (the
    execution is committed); ``None`` is a receive that timed out. Returns once
    ``ctx.should_stop()``, looked at before every receive (a Redis claim made while stopping
    would strand its item), or when ``messages`` ends."""
    received = iter(messages)
    while not ctx.should_stop():
        try:
            message = next(received)
        except StopIteration:
            return
        if message is None:
            continue
        key, variables, ack = message
        ctx.fire(Delivery(key=key, variables=variables))
        ack()  # after the commit
