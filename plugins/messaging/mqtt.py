"""MQTT (3.1.1 and 5): ``io.kestra.plugin.mqtt.*`` -- Publish, Subscribe, the batch Trigger
and the RealtimeTrigger.

Consumers acknowledge QoS 1 and 2 messages by hand (paho's ``manual_ack``) only once it is
safe: Subscribe after its file is stored, the Trigger after its execution is committed, the
RealtimeTrigger after the message's execution is committed. The triggers connect with a
persistent session under their ``clientId`` (MQTT 5: no clean start and a session that
outlives the connection by an hour; 3.1.1: ``clean_session`` false), so a message the
trigger received but never acknowledged is delivered again when it reconnects. MQTT gives a
message no identity: the RealtimeTrigger's key is the MQTT 5 user property ``messageId``,
which Publish sets on every message; without it the trigger is at-least-once (a crash after
the commit, before the acknowledgement, may start a second execution).
"""

from __future__ import annotations

import queue
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
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

EXTRA = "mqtt"
SCHEMES = ("tcp", "ssl", "mqtt", "mqtts")
MESSAGE_ID = "messageId"
#: How long a persistent MQTT 5 session outlives its connection (s).
SESSION_EXPIRY_SECONDS = 3600
CONNECTION: tuple[Prop, ...] = (
    Prop("server", "string", required=True, description="tcp://host:1883 or ssl://host:8883"),
    Prop("clientId", "string", required=True, description="Unique on the broker."),
    Prop("mqttVersion", "string", default="V5", choices=("V3", "V5")),
    Prop("username", "string"),
    Prop("password", "string"),
    Prop("connectionTimeout", "duration"),
    Prop("crt", "string", description="A CA certificate file for ssl://."),
    Prop("httpsHostnameVerificationEnabled", "boolean"),
    Prop("authMethod", "string"),
)
SUBSCRIBER: tuple[Prop, ...] = (
    Prop("topic", "any", required=True, description="A topic filter or a list of them."),
    Prop("qos", "integer", default=1, choices=(0, 1, 2)),
    Prop("serdeType", "string", default="JSON", choices=SERDE_TYPES),
)


def _aliases(name: str) -> tuple[str, ...]:
    return (f"io.kestra.plugin.mqtt.{name}",)


def _validate(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = missing_library("paho", EXTRA)
    server = props.get("server")
    scheme = urlsplit(server).scheme if isinstance(server, str) else ""
    if isinstance(server, str) and "{{" not in server and scheme not in SCHEMES:
        problems.append(("server", "`server` must look like tcp://host:1883 or ssl://host:8883"))
    return problems


def _topics(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(t) for t in value]
    return [str(value)]


class Session:
    """A connected paho client whose received messages wait in ``inbox``."""

    def __init__(self, props: Mapping[str, Any], *, persistent: bool, manual_ack: bool) -> None:
        import paho.mqtt.client as mqtt  # optional dependency (trellis[mqtt])
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.v5 = str(props.get("mqttVersion") or "V5") == "V5"
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.failure: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=str(props["clientId"]),
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else not persistent,
            manual_ack=manual_ack,
            reconnect_on_failure=False,
        )
        if props.get("username"):
            self.client.username_pw_set(str(props["username"]), props.get("password"))
        where = urlsplit(str(props["server"]))
        if where.scheme in ("ssl", "mqtts"):
            context = ssl.create_default_context(cafile=props.get("crt") or None)
            if props.get("httpsHostnameVerificationEnabled") is False:
                context.check_hostname = False
            self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda client, userdata, message: self.inbox.put(message)
        connect_properties = None
        if self.v5 and persistent:
            connect_properties = Properties(PacketTypes.CONNECT)
            connect_properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        timeout = props.get("connectionTimeout")
        seconds = parse_duration(timeout).total_seconds() if timeout else 10.0
        default_port = 8883 if where.scheme in ("ssl", "mqtts") else 1883
        try:
            self.client.connect(
                where.hostname or "localhost", where.port or default_port, keepalive=30,
                clean_start=not persistent if self.v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=connect_properties,
            )  # fmt: skip
        except OSError as exc:
            raise TaskFailed(f"cannot connect to MQTT broker {where.hostname}: {exc}") from exc
        self.client.loop_start()
        if not self.connected.wait(seconds) or self.failure:
            self.close()
            raise TaskFailed(f"MQTT broker {where.hostname} refused: {self.failure or 'timeout'}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            self.failure = str(reason)
        self.connected.set()

    def subscribe(self, topics: list[str], qos: int) -> None:
        result, _mid = self.client.subscribe([(topic, qos) for topic in topics])
        if result != 0:
            raise TaskFailed(f"MQTT subscribe failed ({result})")

    def ack(self, messages: list[Any]) -> None:
        for message in messages:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def next(self, timeout: float) -> Any:
        try:
            return self.inbox.get(timeout=max(0.01, timeout))
        except queue.Empty:
            return None

    def close(self) -> None:
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


def message_variables(message: Any, serde: str | None, *, strict: bool = True) -> dict[str, Any]:
    """One message as the flow sees it (Kestra's ``topic``, ``payload``...; ``data`` too)."""
    properties: dict[str, Any] = {}
    user = getattr(message.properties, "UserProperty", None) if message.properties else None
    for name, value in user or []:
        properties[name] = value
    payload = decode(message.payload, serde, strict=strict)
    return {
        "id": message.mid,
        "topic": message.topic,
        "qos": message.qos,
        "retain": bool(message.retain),
        "properties": properties,
        "payload": payload,
        "data": payload,
    }


def _collect(session: Session, budget: Budget, stop: Any) -> list[Any]:
    received: list[Any] = []
    while not (budget.full(len(received)) or budget.expired() or stop()):
        message = session.next(budget.wait())
        if message is not None:
            received.append(message)
    return received


class Publish(RunnableTask):
    """Publish messages on a topic; ``messagesCount``. Each carries the MQTT 5 user property
    ``messageId`` (the realtime trigger's deduplication key)."""

    type = "trellis.mqtt.Publish"
    aliases = _aliases("Publish")
    properties: ClassVar = (
        *CONNECTION,
        Prop("topic", "string", required=True),
        Prop("from", "any", required=True, description="A message, a list, or an Ion URI."),
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        from paho.mqtt.packettypes import PacketTypes  # optional dependency (trellis[mqtt])
        from paho.mqtt.properties import Properties

        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        session = Session(props, persistent=False, manual_ack=False)
        try:
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
        finally:
            session.close()
        return {"messagesCount": len(values)}


class Subscribe(RunnableTask):
    """Receive messages from topics until ``maxRecords`` / ``maxDuration`` into an Ion file
    (``uri``, ``messagesCount``)."""

    type = "trellis.mqtt.Subscribe"
    aliases = _aliases("Subscribe")
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props) + limit_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        session = Session(props, persistent=False, manual_ack=True)
        try:
            session.subscribe(_topics(props["topic"]), int(props.get("qos") or 1))
            messages = _collect(session, Budget.of(props), ctx.should_stop)
            serde = props.get("serdeType")
            outputs = store_records(ctx, [message_variables(m, serde) for m in messages])
            session.ack(messages)
        finally:
            session.close()
        return {"uri": outputs["uri"], "messagesCount": outputs["count"], "count": outputs["count"]}


class Trigger(PollingTrigger):
    """Every ``interval``, receive a batch and start one execution with ``trigger.uri`` and
    ``trigger.messagesCount``; acknowledged once the execution is committed."""

    type = "trellis.mqtt.Trigger"
    aliases = _aliases("Trigger")
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
        return _validate(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        session = Session(props, persistent=True, manual_ack=True)
        try:
            session.subscribe(_topics(props["topic"]), int(props.get("qos") or 1))
            messages = _collect(session, Budget.of(props), lambda: False)
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
    aliases = _aliases("RealtimeTrigger")
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
        return _validate(props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        session = Session(props, persistent=True, manual_ack=True)
        try:
            session.subscribe(_topics(props["topic"]), int(props.get("qos") or 1))
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


PLUGINS = [Publish, Subscribe, Trigger, MqttRealtimeTrigger]
