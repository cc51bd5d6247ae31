"""NATS with JetStream: ``io.kestra.plugin.nats.*`` -- Produce, Consume, the batch Trigger,
the RealtimeTrigger, and the KV tasks (kv.Put, kv.Get, kv.Delete).

Consumers read through a JetStream pull consumer (``durableId`` makes it durable, so a
later run resumes where the last one acknowledged) and acknowledge each message only once
it is safe: Consume after its file is stored, the Trigger after the batch's execution is
committed, the RealtimeTrigger after the message's execution is committed. The realtime key
is the message's stream and sequence, which a redelivery keeps, so a redelivered message
starts nothing twice. An unacknowledged message comes back after the consumer's ack wait
(JetStream's default, 30 s).

nats-py is asyncio: each task owns one event loop and drives it with ``run_until_complete``
step by step, so the database work of a trigger (``fire``) never runs inside the loop.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from executions.durations import parse_duration
from plugins.base import (
    Delivery,
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    RealtimeContext,
    RealtimeTrigger,
    RunContext,
    RunnableTask,
    StoreFile,
    TaskFailed,
)
from plugins.messaging._common import (
    Budget,
    IonFile,
    close_when_dropped,
    decode,
    encode,
    limit_problems,
    limit_props,
    missing_library,
    source_values,
    store_records,
)

EXTRA = "nats"
POLICIES = ("All", "Last", "New", "ByStartSequence", "ByStartTime", "LastPerSubject")
CONNECTION: tuple[Prop, ...] = (
    Prop("url", "string", required=True, description="nats://host:4222 (or nats://token@host)"),
    Prop("username", "string"),
    Prop("password", "string"),
    Prop("token", "string"),
    Prop("creds", "string", description="The content of a credentials file."),
)
CONSUMER: tuple[Prop, ...] = (
    Prop("subject", "string", required=True),
    Prop("durableId", "string", description="A durable consumer's name (resumes)."),
    Prop("deliverPolicy", "string", default="All", choices=POLICIES),
    Prop("since", "string", description="ByStartTime: an ISO date-time."),
    Prop("batchSize", "integer", default=10),
    Prop("pollDuration", "duration", default="PT2S"),
)


def _aliases(name: str) -> tuple[str, ...]:
    return (f"io.kestra.plugin.nats.{name}", f"io.kestra.plugin.nats.core.{name}")


def _validate(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    return missing_library("nats", EXTRA)


class Session:
    """One NATS connection and the event loop that drives it, step by step."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.props = props
        try:
            self.nc = self.run(self._connect())
        except Exception as exc:
            self.loop.close()
            # The host only: the url may carry a token or a password.
            host = urlsplit(str(props.get("url") or "")).hostname
            raise TaskFailed(f"cannot connect to NATS {host}: {type(exc).__name__}") from exc
        self.js = self.nc.jetstream()

    async def _connect(self) -> Any:
        import nats  # optional dependency (trellis[nats])

        async def quiet(exc: Exception) -> None:  # the failure is raised to the caller
            return None

        # max_reconnect_attempts: 0 means "for ever" to nats-py; one attempt, then fail.
        options: dict[str, Any] = {
            "servers": [str(self.props["url"])], "connect_timeout": 5, "error_cb": quiet,
            "allow_reconnect": False, "max_reconnect_attempts": 1,
        }  # fmt: skip
        if self.props.get("username"):
            options["user"] = str(self.props["username"])
            options["password"] = str(self.props.get("password") or "")
        if self.props.get("token"):
            options["token"] = str(self.props["token"])
        if self.props.get("creds"):
            folder = Path(tempfile.mkdtemp(prefix="trellis-nats-"))
            (folder / "user.creds").write_text(str(self.props["creds"]))
            options["user_credentials"] = str(folder / "user.creds")
        return await nats.connect(**options)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def subscribe(self) -> Any:
        from nats.js.api import ConsumerConfig, DeliverPolicy  # optional dependency

        policy = str(self.props.get("deliverPolicy") or "All")
        names = {"All": "ALL", "Last": "LAST", "New": "NEW", "ByStartSequence":
                 "BY_START_SEQUENCE", "ByStartTime": "BY_START_TIME",
                 "LastPerSubject": "LAST_PER_SUBJECT"}  # fmt: skip
        config = ConsumerConfig(deliver_policy=getattr(DeliverPolicy, names[policy]))
        if policy == "ByStartTime":
            since = self.props.get("since")
            if not since:
                raise TaskFailed("`deliverPolicy: ByStartTime` needs `since`")
            config.opt_start_time = str(since)
        if policy == "ByStartSequence":
            config.opt_start_seq = 1
        durable = self.props.get("durableId") or None
        subject = str(self.props["subject"])
        return self.run(self.js.pull_subscribe(subject, durable=durable, config=config))

    def fetch(self, sub: Any, batch: int, timeout: float) -> list[Any]:
        import nats.errors  # optional dependency

        try:
            return self.run(sub.fetch(batch=max(1, batch), timeout=max(0.1, timeout)))
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    def ack(self, messages: list[Any]) -> None:
        async def ack_all() -> None:
            for message in messages:
                await message.ack()

        self.run(ack_all())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(self.nc.drain())
        except Exception:  # closing after an error: the server forgets the connection anyway
            pass
        finally:
            self.loop.close()


def message_variables(message: Any, serde: str | None) -> dict[str, Any]:
    """One message as the flow sees it (Kestra's names, plus the stream and sequence)."""
    headers = {
        k: [v] if isinstance(v, str) else list(v) for k, v in (message.headers or {}).items()
    }
    variables: dict[str, Any] = {
        "subject": message.subject,
        "headers": headers,
        "data": decode(message.data, serde),
    }
    try:
        meta = message.metadata
    except Exception:  # a core NATS message (no JetStream metadata)
        return variables
    stamp = meta.timestamp
    variables["timestamp"] = (
        stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(stamp, datetime) else None
    )  # fmt: skip
    variables["stream"] = meta.stream
    variables["sequence"] = meta.sequence.stream
    return variables


def _consume(session: Session, props: Mapping[str, Any], budget: Budget, stop: Any) -> list[Any]:
    """Fetch until the budget, ``stop()`` or a poll that found nothing; not acknowledged."""
    sub = session.subscribe()
    poll = parse_duration(props.get("pollDuration") or "PT2S").total_seconds()
    batch = int(props.get("batchSize") or 10)
    received: list[Any] = []
    while not (budget.full(len(received)) or budget.expired() or stop()):
        left = budget.left(len(received))
        wait = poll if budget.max_seconds is None else min(poll, budget.wait(poll))
        found = session.fetch(sub, min(batch, left) if left else batch, wait)
        if not found:
            break
        received.extend(found)
    return received


class Produce(RunnableTask):
    """Publish messages on a subject (through JetStream when a stream holds the subject, so
    the call returns once the stream has them); ``messagesCount``."""

    type = "trellis.nats.Produce"
    aliases = _aliases("Produce")
    properties: ClassVar = (
        *CONNECTION,
        Prop("subject", "string", required=True),
        Prop("from", "any", required=True,
             description="A message ({headers, data}), a list of them, or an Ion URI."),
    )  # fmt: skip
    examples = (
        """id: nats_produce
namespace: company.team
tasks:
  - id: produce
    type: io.kestra.plugin.nats.Produce
    url: nats://localhost:4222
    subject: kestra.publish
    from:
      headers:
        someHeaderKey: someHeaderValue
      data: Some message
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        import nats.errors  # optional dependency (trellis[nats])
        import nats.js.errors

        values = source_values(props.get("from"), ctx)
        subject = str(props["subject"])
        session = Session(props)
        try:
            for value in values:
                message = (
                    value if isinstance(value, Mapping) and "data" in value else {"data": value}
                )
                headers = {str(k): _header(v) for k, v in (message.get("headers") or {}).items()}
                payload = encode(message.get("data"), "STRING")
                try:
                    session.run(session.js.publish(subject, payload, headers=headers or None))
                except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
                    session.run(session.nc.publish(subject, payload, headers=headers or None))
            session.run(session.nc.flush())
        finally:
            session.close()
        return {"messagesCount": len(values)}


def _header(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


class Consume(RunnableTask):
    """Consume messages from a JetStream subject into an Ion file (``uri``,
    ``messagesCount``)."""

    type = "trellis.nats.Consume"
    aliases = _aliases("Consume")
    properties: ClassVar = (*CONNECTION, *CONSUMER, *limit_props())
    examples = (
        """id: nats_consume
namespace: company.team
tasks:
  - id: consume
    type: io.kestra.plugin.nats.Consume
    url: nats://localhost:4222
    subject: kestra.>
    durableId: someDurableId
    pollDuration: PT5S
    maxRecords: 100
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        session = Session(props)
        try:
            messages = _consume(session, props, Budget.of(props), ctx.should_stop)
            outputs = store_records(ctx, [message_variables(m, None) for m in messages])
            session.ack(messages)  # stored: safe to acknowledge
        finally:
            session.close()
        return {"uri": outputs["uri"], "messagesCount": outputs["count"], "count": outputs["count"]}


class Trigger(PollingTrigger):
    """Every ``interval``, consume a batch and start one execution with ``trigger.uri`` and
    ``trigger.messagesCount``; acknowledged once the execution is committed."""

    type = "trellis.nats.Trigger"
    aliases = _aliases("Trigger")
    default_interval = "PT60S"
    properties: ClassVar = (
        *CONNECTION,
        *CONSUMER,
        *limit_props(),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        session = Session(props)
        try:
            messages = _consume(session, props, Budget.of(props), lambda: False)
        except BaseException:
            session.close()
            raise
        if not messages:
            session.close()
            return []
        folder = Path(tempfile.mkdtemp(prefix="trellis-nats-"))
        ion = IonFile(folder)
        for message in messages:
            ion.write(message_variables(message, None))
        path = ion.close()

        def attach(store: StoreFile) -> Mapping[str, Any]:
            return {"uri": store(path, path.name), "messagesCount": ion.count, "count": ion.count}

        def done() -> None:
            try:
                session.ack(messages)
            finally:
                session.close()
                path.unlink(missing_ok=True)

        event = PollEvent(
            key=f"poll:{ctx.poll_id}", variables={"messagesCount": ion.count},
            attach=attach, done=done, decline=done,
        )  # fmt: skip
        return [close_when_dropped(event, session.close)]


class NatsRealtimeTrigger(RealtimeTrigger):
    """One execution per message (``trigger.subject``, ``trigger.headers``, ``trigger.data``,
    ``trigger.timestamp``)."""

    type = "trellis.nats.RealtimeTrigger"
    aliases = _aliases("RealtimeTrigger")
    properties: ClassVar = (*CONNECTION, *CONSUMER, *RealtimeTrigger.shared_properties)
    examples = (
        """id: nats_realtime
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.data }}"
triggers:
  - id: watch
    type: io.kestra.plugin.nats.RealtimeTrigger
    url: nats://localhost:4222
    subject: kestra.trigger
    durableId: natsTrigger
    deliverPolicy: All
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        session = Session(props)
        try:
            sub = session.subscribe()
            while not ctx.should_stop():
                for message in session.fetch(sub, 1, 0.5):
                    variables = message_variables(message, None)
                    key = f"nats:{variables.get('stream')}:{variables.get('sequence')}"
                    ctx.fire(Delivery(key=key, variables=variables))
                    session.ack([message])  # after the commit
        finally:
            session.close()


class KvPut(RunnableTask):
    """Put values in a JetStream key-value bucket (``values``: key -> value); ``revisions``."""

    type = "trellis.nats.kv.Put"
    aliases = _aliases("kv.Put")
    properties: ClassVar = (
        *CONNECTION,
        Prop("bucketName", "string", required=True),
        Prop("values", "map", required=True),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        session = Session(props)
        try:
            kv = session.run(session.js.key_value(str(props["bucketName"])))
            revisions = {
                str(k): session.run(kv.put(str(k), encode(v, "STRING")))
                for k, v in (props.get("values") or {}).items()
            }
        finally:
            session.close()
        return {"revisions": revisions}


class KvGet(RunnableTask):
    """Read keys of a key-value bucket (``output``: key -> value; missing keys left out)."""

    type = "trellis.nats.kv.Get"
    aliases = _aliases("kv.Get")
    properties: ClassVar = (
        *CONNECTION,
        Prop("bucketName", "string", required=True),
        Prop("keys", "list", required=True, items="string"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        import nats.js.errors  # optional dependency (trellis[nats])

        session = Session(props)
        found: dict[str, Any] = {}
        try:
            kv = session.run(session.js.key_value(str(props["bucketName"])))
            for key in props.get("keys") or []:
                try:
                    entry = session.run(kv.get(str(key)))
                except nats.js.errors.KeyNotFoundError:
                    continue
                found[str(key)] = decode(entry.value, "STRING")
        finally:
            session.close()
        return {"output": found}


class KvDelete(RunnableTask):
    """Delete keys of a key-value bucket."""

    type = "trellis.nats.kv.Delete"
    aliases = _aliases("kv.Delete")
    properties: ClassVar = (
        *CONNECTION,
        Prop("bucketName", "string", required=True),
        Prop("keys", "list", required=True, items="string"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        session = Session(props)
        try:
            kv = session.run(session.js.key_value(str(props["bucketName"])))
            for key in props.get("keys") or []:
                session.run(kv.delete(str(key)))
        finally:
            session.close()
        return {}


PLUGINS = [Produce, Consume, Trigger, NatsRealtimeTrigger, KvPut, KvGet, KvDelete]
