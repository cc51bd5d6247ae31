"""The AMQP triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any, ClassVar

from kernel.plugin import (
    Output,
    PollContext,
    PollEvent,
    PollingTrigger,
    RealtimeContext,
    RealtimeTrigger,
)
from plugins.messaging._common import STORED_OUTPUTS, Budget, checked
from plugins.messaging._triggers import (
    Received,
    batch_event,
    batch_properties,
    delivery_key,
    realtime_properties,
    received,
    relay,
    scratch_ion,
)
from plugins.messaging.amqp.client import (
    CONNECTION,
    CONSUMER,
    aliases_of,
    connect,
    drain,
    message_variables,
    validate_props,
)


class Trigger(PollingTrigger):
    """Every ``interval``, consume a batch (``maxRecords`` / ``maxDuration``) and start one
    execution with ``trigger.uri`` (an Ion file) and ``trigger.count``; the batch is
    acknowledged once that execution is committed, given back to the queue otherwise."""

    outputs: ClassVar = STORED_OUTPUTS

    type = "trellis.amqp.Trigger"
    aliases = aliases_of("Trigger")
    properties: ClassVar = batch_properties(*CONNECTION, *CONSUMER)
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

    validate = checked(validate_props, limits=True)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        connection = connect(props)
        try:
            channel = connection.channel()
            ion = scratch_ion("amqp")
            last = drain(channel, props, Budget.of(props), ion.write, lambda: False, False)
            path = ion.close()
        except BaseException:
            connection.close()
            raise
        if not ion.count:
            connection.close()
            return []
        acking = props.get("autoAck") is not True

        def settle() -> None:
            if acking:
                channel.basic_ack(delivery_tag=last, multiple=True)
            channel.cancel()

        event = batch_event(
            f"poll:{ctx.poll_id}", path, ion.count, settle=settle, close=connection.close,
            when_dropped=lambda: connection.is_open and connection.close(),
        )  # fmt: skip
        return [event]


class AmqpRealtimeTrigger(RealtimeTrigger):
    """One execution per message, as it arrives (``trigger.data``, ``trigger.routingKey``,
    ``trigger.headers``, ``trigger.messageId``...)."""

    outputs: ClassVar = (
        Output("data", "The message body, decoded per serdeType.", "any"),
        Output("routingKey", "The routing key.", "any"),
        Output("exchange", "The exchange it came through.", "any"),
        Output("deliveryTag", "The broker's delivery tag.", "any"),
        Output("redelivered", "Whether the broker delivered it before.", "any"),
        Output("headers", "The message headers.", "any"),
        Output("contentType", "The content type.", "any"),
        Output("contentEncoding", "The content encoding.", "any"),
        Output("messageId", "The message id (the delivery key).", "any"),
        Output("correlationId", "The correlation id.", "any"),
        Output("replyTo", "The reply-to queue.", "any"),
        Output("type", "The message type.", "any"),
        Output("timestamp", "The message timestamp, when set.", "any"),
    )

    type = "trellis.amqp.RealtimeTrigger"
    aliases = aliases_of("RealtimeTrigger")
    properties: ClassVar = realtime_properties(*CONNECTION, *CONSUMER)
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

    validate = checked(validate_props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        auto_ack = props.get("autoAck") is True
        serde = str(props.get("serdeType") or "STRING")
        connection = connect(props)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=1)  # one in flight: a crash risks one message
            tag = f"{props.get('consumerTag') or 'Kestra'}-{uuid.uuid4().hex[:8]}"
            consumed = channel.consume(
                str(props["queue"]), auto_ack=auto_ack, inactivity_timeout=0.5, consumer_tag=tag
            )

            def receive() -> tuple[Any, Any, Any] | None:
                method, properties, body = next(consumed)  # pika's generator ends: so do we
                return None if method is None else (method, properties, body)

            def deliver(delivery: tuple[Any, Any, Any]) -> Received:
                method, properties, body = delivery
                variables = message_variables(method, properties, body, serde, strict=False)
                key = delivery_key("amqp", properties.message_id)
                ack = partial(channel.basic_ack, delivery_tag=method.delivery_tag)
                return key, variables, _nothing if auto_ack else ack

            # Stopping drops what was received unacknowledged: back to the queue on close.
            relay(ctx, received(receive, deliver, stopped=ctx.should_stop))
        finally:
            if connection.is_open:
                connection.close()


def _nothing() -> None:  # autoAck: the broker took the acknowledgement on delivery
    return None
