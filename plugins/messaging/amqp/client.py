"""Connection, properties and message shape shared by the AMQP tasks and triggers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from kernel.plugin import Prop, TaskFailed
from plugins.messaging._common import SERDE_TYPES, Budget, decode, missing_library

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


def aliases_of(name: str) -> tuple[str, ...]:
    return (f"io.kestra.plugin.amqp.{name}",)


def connection_problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    if not props.get("host") and not props.get("url"):
        return [("host", "set `host` (or the deprecated `url`)")]
    return []


def validate_props(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    return missing_library("pika", EXTRA) + connection_problems(props)


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


def drain(
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
