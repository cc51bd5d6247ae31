"""The AMQP triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import (
    Delivery,
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    RealtimeContext,
    RealtimeTrigger,
    StoreFile,
)
from plugins.messaging._common import (
    Budget,
    IonFile,
    close_when_dropped,
    limit_problems,
    limit_props,
    missing_library,
)
from plugins.messaging.amqp.client import (
    CONNECTION,
    CONSUMER,
    EXTRA,
    aliases_of,
    connect,
    connection_problems,
    drain,
    message_variables,
)


class Trigger(PollingTrigger):
    """Every ``interval``, consume a batch (``maxRecords`` / ``maxDuration``) and start one
    execution with ``trigger.uri`` (an Ion file) and ``trigger.count``; the batch is
    acknowledged once that execution is committed, given back to the queue otherwise."""

    type = "trellis.amqp.Trigger"
    aliases = aliases_of("Trigger")
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
        return missing_library("pika", EXTRA) + connection_problems(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        connection = connect(props)
        try:
            channel = connection.channel()
            folder = Path(tempfile.mkdtemp(prefix="trellis-amqp-"))
            ion = IonFile(folder)
            last = drain(channel, props, Budget.of(props), ion.write, lambda: False, False)
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
    aliases = aliases_of("RealtimeTrigger")
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
        return missing_library("pika", EXTRA) + connection_problems(props)

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
