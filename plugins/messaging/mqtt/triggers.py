"""The MQTT triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import tempfile
import time
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

    type = "trellis.mqtt.Trigger"
    aliases = aliases_of("Trigger")
    default_interval = "PT60S"
    properties: ClassVar = (
        *CONNECTION,
        *SUBSCRIBER,
        *limit_props(),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return validate_props(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        session = Session(props, persistent=True, manual_ack=True)
        try:
            session.subscribe(topics_of(props["topic"]), int(props.get("qos") or 1))
            messages = collect(session, Budget.of(props), lambda: False)
        except BaseException:
            session.close()
            raise
        if not messages:
            session.close()
            return []
        ion = IonFile(Path(tempfile.mkdtemp(prefix="trellis-mqtt-")))
        for message in messages:
            ion.write(message_variables(message, props.get("serdeType"), strict=False))
        path = ion.close()

        def attach(store: StoreFile) -> Mapping[str, Any]:
            return {"uri": store(path, path.name), "messagesCount": ion.count, "count": ion.count}

        def done() -> None:
            try:
                session.ack(messages)
                time.sleep(0.1)  # let the network thread send the acknowledgements
            finally:
                session.close()
                path.unlink(missing_ok=True)

        event = PollEvent(
            key=f"poll:{ctx.poll_id}", variables={"messagesCount": ion.count},
            attach=attach, done=done, decline=done,
        )  # fmt: skip
        return [close_when_dropped(event, session.close)]


class MqttRealtimeTrigger(RealtimeTrigger):
    """One execution per message (``trigger.topic``, ``trigger.payload``/``trigger.data``,
    ``trigger.qos``, ``trigger.properties``)."""

    type = "trellis.mqtt.RealtimeTrigger"
    aliases = aliases_of("RealtimeTrigger")
    properties: ClassVar = (*CONNECTION, *SUBSCRIBER, *RealtimeTrigger.shared_properties)
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return validate_props(props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        session = Session(props, persistent=True, manual_ack=True)
        try:
            session.subscribe(topics_of(props["topic"]), int(props.get("qos") or 1))
            while not ctx.should_stop():
                if not session.client.is_connected():
                    raise ConnectionError("the MQTT connection was lost")
                message = session.next(0.5)
                if message is None:
                    continue
                variables = message_variables(message, props.get("serdeType"), strict=False)
                key = variables["properties"].get(MESSAGE_ID) or f"unkeyed:{uuid.uuid4().hex}"
                ctx.fire(Delivery(key=f"mqtt:{key}", variables=variables))
                session.ack([message])  # after the commit
        finally:
            session.close()
