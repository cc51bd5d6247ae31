"""The AMQP tasks."""

from __future__ import annotations

import uuid
from contextlib import closing
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, RunnableTask
from plugins.messaging._common import (
    FROM,
    MESSAGES_COUNT,
    STORED_OUTPUTS,
    Budget,
    checked,
    encode,
    limit_props,
    source_values,
    store_records,
)
from plugins.messaging.amqp.client import (
    CONNECTION,
    CONSUMER,
    SERDE,
    aliases_of,
    connect,
    drain,
    validate_props,
)


class Publish(RunnableTask):
    """Publish messages to an exchange (the default exchange routes by queue name)."""

    outputs: ClassVar = (MESSAGES_COUNT,)

    type = "trellis.amqp.Publish"
    aliases = aliases_of("Publish")
    properties: ClassVar = (
        *CONNECTION,
        Prop("exchange", "string", default="", description="Empty: the default exchange."),
        Prop("routingKey", "string", default=""),
        FROM,
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

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        import pika  # optional dependency (trellis[amqp])

        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        with closing(connect(props)) as connection:
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
        ctx.logger.info(f"published {len(values)} messages")
        return {"messagesCount": len(values)}


class Consume(RunnableTask):
    """Consume messages from a queue into an Ion file (``uri``) of ``count`` messages."""

    outputs: ClassVar = STORED_OUTPUTS

    type = "trellis.amqp.Consume"
    aliases = aliases_of("Consume")
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

    validate = checked(validate_props, limits=True)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        with closing(connect(props)) as connection:
            channel = connection.channel()
            last = drain(channel, props, Budget.of(props), records.append, ctx.should_stop)
            outputs = store_records(ctx, records)
            if last and props.get("autoAck") is not True:
                channel.basic_ack(delivery_tag=last, multiple=True)  # stored: safe to ack
            channel.cancel()  # prefetched, unread messages go back to the queue
        ctx.logger.info(f"consumed {outputs['count']} messages from {props['queue']}")
        return outputs


class CreateQueue(RunnableTask):
    """Declare a queue (idempotent when it exists with the same settings)."""

    outputs: ClassVar = (
        Output("queue", "The queue's name (the broker's when it picked one).", "string"),
    )

    type = "trellis.amqp.CreateQueue"
    aliases = aliases_of("CreateQueue")
    properties: ClassVar = (
        *CONNECTION,
        Prop("name", "string", required=True),
        Prop("durability", "boolean", default=True),
        Prop("exclusive", "boolean", default=False),
        Prop("autoDelete", "boolean", default=False),
        Prop("args", "map"),
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(connect(props)) as connection:
            result = connection.channel().queue_declare(
                queue=str(props["name"]), durable=props.get("durability") is not False,
                exclusive=props.get("exclusive") is True,
                auto_delete=props.get("autoDelete") is True, arguments=props.get("args") or None,
            )  # fmt: skip
        return {"queue": result.method.queue}


class DeclareExchange(RunnableTask):
    """Declare an exchange (DIRECT, FANOUT, TOPIC or HEADERS)."""

    outputs: ClassVar = (Output("exchange", "The exchange's name.", "string"),)

    type = "trellis.amqp.DeclareExchange"
    aliases = aliases_of("DeclareExchange")
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

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(connect(props)) as connection:
            connection.channel().exchange_declare(
                exchange=str(props["name"]),
                exchange_type=str(props.get("exchangeType") or "DIRECT").lower(),
                durable=props.get("durability") is not False,
                auto_delete=props.get("autoDelete") is True,
                internal=props.get("internal") is True, arguments=props.get("args") or None,
            )  # fmt: skip
        return {"exchange": props["name"]}


class QueueBind(RunnableTask):
    """Bind a queue to an exchange with a routing key."""

    outputs: ClassVar = (
        Output("queue", "The bound queue.", "string"),
        Output("exchange", "The exchange it is bound to.", "string"),
    )

    type = "trellis.amqp.QueueBind"
    aliases = aliases_of("QueueBind")
    properties: ClassVar = (
        *CONNECTION,
        Prop("exchange", "string", required=True),
        Prop("queue", "string", required=True),
        Prop("routingKey", "string", default=""),
        Prop("args", "map"),
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(connect(props)) as connection:
            connection.channel().queue_bind(
                queue=str(props["queue"]), exchange=str(props["exchange"]),
                routing_key=str(props.get("routingKey") or ""), arguments=props.get("args") or None,
            )  # fmt: skip
        return {"queue": props["queue"], "exchange": props["exchange"]}
