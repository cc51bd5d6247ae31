"""The MQTT triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import time
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
from plugins.messaging._common import MESSAGES_OUTPUTS, Budget, checked
from plugins.messaging._triggers import (
    Received,
    batch_properties,
    delivery_key,
    realtime_properties,
    received,
    relay,
    session_batch,
)
from plugins.messaging.mqtt.client import (
    CONNECTION,
    MESSAGE_ID,
    SUBSCRIBER,
    Session,
    aliases_of,
    collect,
    message_variables,
    topics_of,
    validate_props,
)


class Trigger(PollingTrigger):
    """Every ``interval``, receive a batch and start one execution with ``trigger.uri`` and
    ``trigger.messagesCount``; acknowledged once the execution is committed."""

    outputs: ClassVar = MESSAGES_OUTPUTS

    type = "trellis.mqtt.Trigger"
    aliases = aliases_of("Trigger")
    properties: ClassVar = batch_properties(*CONNECTION, *SUBSCRIBER)
    validate = checked(validate_props, limits=True)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        session = Session(props, persistent=True, manual_ack=True)

        def receive() -> list[Any]:
            session.subscribe(topics_of(props["topic"]), int(props.get("qos") or 1))
            return collect(session, Budget.of(props), lambda: False)

        def settle(messages: list[Any]) -> None:
            session.ack(messages)
            time.sleep(0.1)  # let the network thread send the acknowledgements

        return session_batch(
            "mqtt", f"poll:{ctx.poll_id}", session, receive,
            lambda message: message_variables(message, props.get("serdeType"), strict=False),
            settle,
        )  # fmt: skip


class MqttRealtimeTrigger(RealtimeTrigger):
    """One execution per message (``trigger.topic``, ``trigger.payload``/``trigger.data``,
    ``trigger.qos``, ``trigger.properties``)."""

    outputs: ClassVar = (
        Output("id", "The packet id.", "any"),
        Output("topic", "The topic.", "any"),
        Output("qos", "The quality of service.", "any"),
        Output("retain", "Whether it is a retained message.", "any"),
        Output("properties", "The MQTT 5 properties.", "any"),
        Output("payload", "The payload, decoded per serdeType.", "any"),
        Output("data", "The payload again, under the name other triggers use.", "any"),
    )

    type = "trellis.mqtt.RealtimeTrigger"
    aliases = aliases_of("RealtimeTrigger")
    properties: ClassVar = realtime_properties(*CONNECTION, *SUBSCRIBER)
    examples = (
        """id: mqtt_realtime
namespace: company.team
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.payload }}"
triggers:
  - id: realtime_trigger
    type: io.kestra.plugin.mqtt.RealtimeTrigger
    server: tcp://localhost:1883
    clientId: kestraRealtime
    topic: kestra/sensors/#
    serdeType: JSON
""",
    )

    validate = checked(validate_props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        session = Session(props, persistent=True, manual_ack=True)
        serde = props.get("serdeType")

        def receive() -> Any:
            if not session.client.is_connected():
                raise ConnectionError("the MQTT connection was lost")
            return session.next(0.5)

        def deliver(message: Any) -> Received:
            variables = message_variables(message, serde, strict=False)
            key = delivery_key("mqtt", variables["properties"].get(MESSAGE_ID))
            return key, variables, partial(session.ack, [message])

        try:
            session.subscribe(topics_of(props["topic"]), int(props.get("qos") or 1))
            relay(ctx, received(receive, deliver))
        finally:
            session.close()
