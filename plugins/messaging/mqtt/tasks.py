"""The MQTT tasks."""

from __future__ import annotations

import uuid
from contextlib import closing
from typing import Any, ClassVar

from kernel.plugin import Prop, RunContext, RunnableTask, TaskFailed
from plugins.messaging._common import (
    FROM,
    MESSAGES_COUNT,
    MESSAGES_OUTPUTS,
    SERDE_TYPES,
    Budget,
    checked,
    encode,
    limit_props,
    source_values,
    store_and_ack,
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


class Publish(RunnableTask):
    """Publish messages on a topic; ``messagesCount``. Each carries the MQTT 5 user property
    ``messageId`` (the realtime trigger's deduplication key)."""

    outputs: ClassVar = (MESSAGES_COUNT,)

    type = "trellis.mqtt.Publish"
    aliases = aliases_of("Publish")
    properties: ClassVar = (
        *CONNECTION,
        Prop("topic", "string", required=True),
        FROM,
        Prop("serdeType", "string", required=True, choices=SERDE_TYPES),
        Prop("retain", "boolean", default=False),
        Prop("qos", "integer", default=1, choices=(0, 1, 2)),
    )
    examples = (
        """id: mqtt_publish
namespace: company.team
tasks:
  - id: publish
    type: io.kestra.plugin.mqtt.Publish
    server: tcp://localhost:1883
    clientId: kestraProducer
    topic: kestra/sensors/cpu
    serdeType: JSON
    retain: true
    from:
      type: sensors
      value: 1.23
""",
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        from paho.mqtt.packettypes import PacketTypes  # optional dependency (trellis[mqtt])
        from paho.mqtt.properties import Properties

        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        with closing(Session(props, persistent=False, manual_ack=False)) as session:
            for value in values:
                publish_properties = None
                if session.v5:
                    publish_properties = Properties(PacketTypes.PUBLISH)
                    publish_properties.UserProperty = [(MESSAGE_ID, uuid.uuid4().hex)]
                info = session.client.publish(
                    str(props["topic"]), encode(value, serde), qos=int(props.get("qos") or 1),
                    retain=props.get("retain") is True, properties=publish_properties,
                )  # fmt: skip
                info.wait_for_publish(timeout=30)
                if not info.is_published():
                    raise TaskFailed(f"the broker did not confirm a message ({info.rc})")
        return {"messagesCount": len(values)}


class Subscribe(RunnableTask):
    """Receive messages from topics until ``maxRecords`` / ``maxDuration`` into an Ion file
    (``uri``, ``messagesCount``)."""

    outputs: ClassVar = MESSAGES_OUTPUTS

    type = "trellis.mqtt.Subscribe"
    aliases = aliases_of("Subscribe")
    properties: ClassVar = (*CONNECTION, *SUBSCRIBER, *limit_props())
    examples = (
        """id: mqtt_subscribe
namespace: company.team
tasks:
  - id: subscribe
    type: io.kestra.plugin.mqtt.Subscribe
    server: tcp://localhost:1883
    clientId: kestraProducer
    topic:
      - kestra/sensors/cpu
      - kestra/sensors/mem
    serdeType: JSON
    maxRecords: 10
    maxDuration: PT30S
""",
    )

    validate = checked(validate_props, limits=True)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with closing(Session(props, persistent=False, manual_ack=True)) as session:
            session.subscribe(topics_of(props["topic"]), int(props.get("qos") or 1))
            messages = collect(session, Budget.of(props), ctx.should_stop)
            serde = props.get("serdeType")
            return store_and_ack(ctx, messages, lambda m: message_variables(m, serde), session.ack)
