"""AMQP 0-9-1 (RabbitMQ): ``io.kestra.plugin.amqp.*`` -- Publish, Consume, the batch Trigger,
the RealtimeTrigger, and CreateQueue / DeclareExchange / QueueBind.

Consumers never use automatic acknowledgement unless ``autoAck: true``: Consume acknowledges
once its file is in internal storage, the Trigger once the batch's execution is committed,
the RealtimeTrigger once the message's execution is committed. A consumer that dies before
that leaves its messages with the broker, which delivers them again. The RealtimeTrigger's
key is the message's ``messageId``: Publish sets one on every message, and a publisher that
sets none gets at-least-once delivery (a crash after the commit, before the ack, may start a
second execution for that message).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

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
    SERDE_TYPES,
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

EXTRA = "amqp"
SERDE = Prop("serdeType", "string", default="STRING", choices=SERDE_TYPES[:2])
CONNECTION: tuple[Prop, ...] = (
    Prop("url", "string", deprecated="use host, port, username, password, virtualHost",
         description="amqp://user:password@host:port/vhost (Kestra's deprecated form)."),
    Prop("host", "string", description="The broker host."),
    Prop("port", "string", default="5672"),
    Prop("username", "string"),
    Prop("password", "string"),
    Prop("virtualHost", "string", default="/"),
)  # fmt: skip
CONSUMER: tuple[Prop, ...] = (
    Prop("queue", "string", required=True, description="The queue to read from."),
    Prop("consumerTag", "string", default="Kestra"),
    SERDE,
    Prop("autoAck", "boolean", default=False, description="Acknowledge on delivery (unsafe)."),
)


def _aliases(name: str) -> tuple[str, ...]:
    return (f"io.kestra.plugin.amqp.{name}",)


def _connection_problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    if not props.get("host") and not props.get("url"):
        return [("host", "set `host` (or the deprecated `url`)")]
    return []


def connect(props: Mapping[str, Any]) -> Any:
    """A blocking pika connection from Kestra's connection properties."""
    import pika  # optional dependency (trellis[amqp])

    if props.get("url") and not props.get("host"):
        parameters = pika.URLParameters(str(props["url"]))
    else:
        credentials = pika.PlainCredentials(
            str(props.get("username") or "guest"), str(props.get("password") or "guest")
        )
        parameters = pika.ConnectionParameters(
            host=str(props.get("host") or "localhost"),
            port=int(props.get("port") or 5672),
            virtual_host=str(props.get("virtualHost") or "/"),
            credentials=credentials,
        )
    parameters.socket_timeout = 10
    parameters.blocked_connection_timeout = 30
    try:
        return pika.BlockingConnection(parameters)
    except Exception as exc:  # pika's errors say little; keep the host, never the password
        where = props.get("host") or "the url's host"
        raise TaskFailed(f"cannot connect to AMQP broker {where}: {type(exc).__name__}") from exc


def message_variables(
    method: Any, properties: Any, body: bytes, serde: str, *, strict: bool = True
) -> dict[str, Any]:
    """One message as the flow sees it (Kestra's names; ``data`` is the decoded body)."""
    stamp = properties.timestamp
    return {
        "data": decode(body, serde, strict=strict),
        "routingKey": method.routing_key,
        "exchange": method.exchange,
        "deliveryTag": method.delivery_tag,
        "redelivered": bool(method.redelivered),
        "headers": dict(properties.headers or {}),
        "contentType": properties.content_type,
        "contentEncoding": properties.content_encoding,
        "messageId": properties.message_id,
        "correlationId": properties.correlation_id,
        "replyTo": properties.reply_to,
        "type": properties.type,
        "appId": properties.app_id,
        "timestamp": int(stamp) if stamp is not None else None,
    }


class Publish(RunnableTask):
    """Publish messages to an exchange (the default exchange routes by queue name)."""

    type = "trellis.amqp.Publish"
    aliases = _aliases("Publish")
    properties: ClassVar = (
        *CONNECTION,
        Prop("exchange", "string", default="", description="Empty: the default exchange."),
        Prop("routingKey", "string", default=""),
        Prop("from", "any", required=True, description="A message, a list, or an Ion URI."),
        SERDE,
        Prop("headers", "map"),
        Prop("contentType", "string"),
        Prop("deliveryMode", "integer", default=2, description="2: persistent (default)."),
        Prop("priority", "integer"),
        Prop("expiration", "string"),
    )
    examples = (
        """id: amqp_publish
namespace: company.team
tasks:
  - id: publish
    type: io.kestra.plugin.amqp.Publish
    host: localhost
    port: 5672
    username: guest
    password: "{{ secret('AMQP_PASSWORD') }}"
    exchange: kestramqp.exchange
    routingKey: orders
    from:
      - '{"id": 1}'
      - '{"id": 2}'
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        import pika  # optional dependency (trellis[amqp])

        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        connection = connect(props)
        try:
            channel = connection.channel()
            channel.confirm_delivery()  # publish returns once the broker has the message
            for value in values:
                message = pika.BasicProperties(
                    message_id=uuid.uuid4().hex,
                    headers=dict(props.get("headers") or {}) or None,
                    content_type=props.get("contentType")
                    or ("application/json" if serde == "JSON" else "text/plain"),
                    delivery_mode=int(props.get("deliveryMode") or 2),
                    priority=props.get("priority"),
                    expiration=str(props["expiration"]) if props.get("expiration") else None,
                )
                channel.basic_publish(
                    exchange=str(props.get("exchange") or ""),
                    routing_key=str(props.get("routingKey") or ""),
                    body=encode(value, serde),
                    properties=message,
                    mandatory=False,
                )
        finally:
            connection.close()
        ctx.logger.info(f"published {len(values)} messages")
        return {"messagesCount": len(values)}


def _drain(
    channel: Any,
    props: Mapping[str, Any],
    budget: Budget,
    sink: Any,
    stop: Any,
    strict: bool = True,
) -> int:
    """Receive until the budget or ``stop()``; hand each message to ``sink``. Returns the
    last delivery tag (0 if none)."""
    auto_ack = props.get("autoAck") is True
    limit = budget.max_records
    channel.basic_qos(prefetch_count=min(limit, 1000) if limit else 100)
    last, count = 0, 0
    queue = str(props["queue"])
    tag = f"{props.get('consumerTag') or 'Kestra'}-{uuid.uuid4().hex[:8]}"
    for method, properties, body in channel.consume(
        queue, auto_ack=auto_ack, inactivity_timeout=0.2, consumer_tag=tag
    ):
        if method is not None:
            serde = str(props.get("serdeType"))
            sink(message_variables(method, properties, body, serde, strict=strict))
            last, count = method.delivery_tag, count + 1
        if budget.full(count) or budget.expired() or stop():
            break
    return last


class Consume(RunnableTask):
    """Consume messages from a queue into an Ion file (``uri``) of ``count`` messages."""

    type = "trellis.amqp.Consume"
    aliases = _aliases("Consume")
    properties: ClassVar = (*CONNECTION, *CONSUMER, *limit_props())
    examples = (
        """id: amqp_consume
namespace: company.team
tasks:
  - id: consume
    type: io.kestra.plugin.amqp.Consume
    host: localhost
    username: guest
    password: "{{ secret('AMQP_PASSWORD') }}"
    queue: kestramqp.queue
    maxRecords: 1000
    maxDuration: PT30S
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props) + limit_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        connection = connect(props)
        try:
            channel = connection.channel()
            last = _drain(channel, props, Budget.of(props), records.append, ctx.should_stop)
            outputs = store_records(ctx, records)
            if last and props.get("autoAck") is not True:
                channel.basic_ack(delivery_tag=last, multiple=True)  # stored: safe to ack
            channel.cancel()  # prefetched, unread messages go back to the queue
        finally:
            connection.close()
        ctx.logger.info(f"consumed {outputs['count']} messages from {props['queue']}")
        return outputs


class Trigger(PollingTrigger):
    """Every ``interval``, consume a batch (``maxRecords`` / ``maxDuration``) and start one
    execution with ``trigger.uri`` (an Ion file) and ``trigger.count``; the batch is
    acknowledged once that execution is committed, given back to the queue otherwise."""

    type = "trellis.amqp.Trigger"
    aliases = _aliases("Trigger")
    default_interval = "PT60S"
    properties: ClassVar = (
        *CONNECTION,
        *CONSUMER,
        *limit_props(),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    examples = (
        """id: amqp_trigger
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.count }} messages in {{ trigger.uri }}"
triggers:
  - id: trigger
    type: io.kestra.plugin.amqp.Trigger
    host: localhost
    username: guest
    password: "{{ secret('AMQP_PASSWORD') }}"
    queue: amqpTrigger.queue
    maxRecords: 2
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        connection = connect(props)
        try:
            channel = connection.channel()
            folder = Path(tempfile.mkdtemp(prefix="trellis-amqp-"))
            ion = IonFile(folder)
            last = _drain(channel, props, Budget.of(props), ion.write, lambda: False, False)
            path = ion.close()
        except BaseException:
            connection.close()
            raise
        if not ion.count:
            connection.close()
            return []
        return [batch_event(ctx.poll_id, path, ion.count, connection, channel, last, props)]


def batch_event(
    poll_id: str, path: Path, count: int, connection: Any, channel: Any, last: int, props: Any
) -> PollEvent:
    acking = props.get("autoAck") is not True

    def attach(store: StoreFile) -> Mapping[str, Any]:
        return {"uri": store(path, path.name), "count": count}

    def finish(ack: bool) -> None:
        try:
            if acking and ack:
                channel.basic_ack(delivery_tag=last, multiple=True)
            elif acking:
                channel.basic_nack(delivery_tag=last, multiple=True, requeue=True)
            channel.cancel()
        finally:
            connection.close()
            path.unlink(missing_ok=True)

    event = PollEvent(
        key=f"poll:{poll_id}",
        variables={"count": count},
        attach=attach,
        done=lambda: finish(True),
        decline=lambda: finish(True),  # refused by conditions: consumed, as Kestra does
    )
    return close_when_dropped(event, lambda: connection.is_open and connection.close())


class AmqpRealtimeTrigger(RealtimeTrigger):
    """One execution per message, as it arrives (``trigger.data``, ``trigger.routingKey``,
    ``trigger.headers``, ``trigger.messageId``...)."""

    type = "trellis.amqp.RealtimeTrigger"
    aliases = _aliases("RealtimeTrigger")
    properties: ClassVar = (*CONNECTION, *CONSUMER, *RealtimeTrigger.shared_properties)
    examples = (
        """id: amqp_realtime
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.data }}"
triggers:
  - id: realtime_trigger
    type: io.kestra.plugin.amqp.RealtimeTrigger
    host: localhost
    port: 5672
    username: guest
    password: "{{ secret('AMQP_PASSWORD') }}"
    queue: amqpTrigger.queue
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        auto_ack = props.get("autoAck") is True
        serde = str(props.get("serdeType") or "STRING")
        connection = connect(props)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=1)  # one in flight: a crash risks one message
            tag = f"{props.get('consumerTag') or 'Kestra'}-{uuid.uuid4().hex[:8]}"
            for method, properties, body in channel.consume(
                str(props["queue"]), auto_ack=auto_ack, inactivity_timeout=0.5, consumer_tag=tag
            ):
                if ctx.should_stop():
                    break
                if method is None:
                    continue
                variables = message_variables(method, properties, body, serde, strict=False)
                key = properties.message_id or f"unkeyed:{uuid.uuid4().hex}"
                ctx.fire(Delivery(key=f"amqp:{key}", variables=variables))
                if not auto_ack:
                    channel.basic_ack(delivery_tag=method.delivery_tag)  # after the commit
        finally:
            if connection.is_open:
                connection.close()


class CreateQueue(RunnableTask):
    """Declare a queue (idempotent when it exists with the same settings)."""

    type = "trellis.amqp.CreateQueue"
    aliases = _aliases("CreateQueue")
    properties: ClassVar = (
        *CONNECTION,
        Prop("name", "string", required=True),
        Prop("durability", "boolean", default=True),
        Prop("exclusive", "boolean", default=False),
        Prop("autoDelete", "boolean", default=False),
        Prop("args", "map"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        connection = connect(props)
        try:
            result = connection.channel().queue_declare(
                queue=str(props["name"]), durable=props.get("durability") is not False,
                exclusive=props.get("exclusive") is True,
                auto_delete=props.get("autoDelete") is True, arguments=props.get("args") or None,
            )  # fmt: skip
        finally:
            connection.close()
        return {"queue": result.method.queue}


class DeclareExchange(RunnableTask):
    """Declare an exchange (DIRECT, FANOUT, TOPIC or HEADERS)."""

    type = "trellis.amqp.DeclareExchange"
    aliases = _aliases("DeclareExchange")
    properties: ClassVar = (
        *CONNECTION,
        Prop("name", "string", required=True),
        Prop("exchangeType", "string", default="DIRECT",
             choices=("DIRECT", "FANOUT", "TOPIC", "HEADERS")),
        Prop("durability", "boolean", default=True),
        Prop("autoDelete", "boolean", default=False),
        Prop("internal", "boolean", default=False),
        Prop("args", "map"),
    )  # fmt: skip

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        connection = connect(props)
        try:
            connection.channel().exchange_declare(
                exchange=str(props["name"]),
                exchange_type=str(props.get("exchangeType") or "DIRECT").lower(),
                durable=props.get("durability") is not False,
                auto_delete=props.get("autoDelete") is True,
                internal=props.get("internal") is True, arguments=props.get("args") or None,
            )  # fmt: skip
        finally:
            connection.close()
        return {"exchange": props["name"]}


class QueueBind(RunnableTask):
    """Bind a queue to an exchange with a routing key."""

    type = "trellis.amqp.QueueBind"
    aliases = _aliases("QueueBind")
    properties: ClassVar = (
        *CONNECTION,
        Prop("exchange", "string", required=True),
        Prop("queue", "string", required=True),
        Prop("routingKey", "string", default=""),
        Prop("args", "map"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return missing_library("pika", EXTRA) + _connection_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        connection = connect(props)
        try:
            connection.channel().queue_bind(
                queue=str(props["queue"]), exchange=str(props["exchange"]),
                routing_key=str(props.get("routingKey") or ""), arguments=props.get("args") or None,
            )  # fmt: skip
        finally:
            connection.close()
        return {"queue": props["queue"], "exchange": props["exchange"]}


PLUGINS = [
    Publish, Consume, Trigger, AmqpRealtimeTrigger, CreateQueue, DeclareExchange, QueueBind,
]  # fmt: skip
