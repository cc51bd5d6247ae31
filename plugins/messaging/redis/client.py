"""Connection, properties and message shape shared by the Redis tasks and triggers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kernel.plugin import Prop, TaskFailed
from plugins.messaging._common import SERDE_TYPES, missing_library

EXTRA = "redis"


URL = Prop("url", "string", required=True, description="redis://[:password@]host:port/db")


SERDE = Prop("serdeType", "string", default="STRING", choices=SERDE_TYPES[:2])


KEY = Prop("key", "string", required=True)


FROM = Prop("from", "any", required=True, description="A value, a list, or an Ion URI.")


def aliases_of(*names: str) -> tuple[str, ...]:
    return tuple(f"io.kestra.plugin.redis.{name}" for name in names)


def client(props: Mapping[str, Any]) -> Any:
    import redis  # optional dependency (trellis[redis])

    try:
        return redis.Redis.from_url(str(props["url"]), socket_timeout=10, socket_connect_timeout=10)
    except ValueError as exc:
        raise TaskFailed(f"invalid Redis url: {exc}") from exc


def validate_props(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = missing_library("redis", EXTRA)
    url = props.get("url")
    if (
        isinstance(url, str)
        and "{{" not in url
        and not url.startswith(("redis://", "rediss://", "unix://"))
    ):
        problems.append(("url", "`url` must start with redis://, rediss:// or unix://"))
    return problems
