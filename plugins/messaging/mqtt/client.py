"""Connection, properties and message shape shared by the MQTT tasks and triggers."""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kernel.durations import parse_duration
from kernel.plugin import Prop, TaskFailed
from plugins.messaging._common import SERDE_TYPES, Budget, decode, gather, missing_library

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


def aliases_of(name: str) -> tuple[str, ...]:
    return (f"io.kestra.plugin.mqtt.{name}",)


def validate_props(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = missing_library("paho", EXTRA)
    server = props.get("server")
    scheme = urlsplit(server).scheme if isinstance(server, str) else ""
    if isinstance(server, str) and "{{" not in server and scheme not in SCHEMES:
        problems.append(("server", "`server` must look like tcp://host:1883 or ssl://host:8883"))
    return problems


def topics_of(value: Any) -> list[str]:
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


def collect(session: Session, budget: Budget, stop: Any) -> list[Any]:
    """Receive until the budget or ``stop()``; not acknowledged."""

    def receive(left: int | None) -> list[Any]:
        message = session.next(budget.wait())
        return [] if message is None else [message]

    return gather(budget, stop, receive)
