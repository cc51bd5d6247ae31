"""The Redis tasks."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from kernel.durations import parse_duration
from kernel.plugin import Output, Prop, RunContext, RunnableTask, TaskFailed
from plugins.messaging._common import (
    STORED_OUTPUTS,
    Budget,
    checked,
    decode,
    encode,
    gather,
    limit_props,
    source_values,
    store_records,
)
from plugins.messaging.redis.client import (
    FROM,
    KEY,
    SERDE,
    URL,
    aliases_of,
    client,
    validate_props,
)


class ListPush(RunnableTask):
    """Append values to the tail of a list (RPUSH)."""

    outputs: ClassVar = (Output("count", "How many values were pushed.", "integer"),)

    type = "trellis.redis.list.ListPush"
    aliases = aliases_of("list.ListPush", "ListPush")
    properties: ClassVar = (
        URL,
        KEY,
        FROM,
        SERDE,
    )
    examples = (
        """id: redis_list_push
namespace: company.team
tasks:
  - id: list_push
    type: io.kestra.plugin.redis.list.ListPush
    url: redis://localhost:6379/0
    key: mykey
    from:
      - value1
      - value2
""",
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        with client(props) as redis:
            if values:
                redis.rpush(str(props["key"]), *(encode(v, serde) for v in values))
        return {"count": len(values)}


class ListPop(RunnableTask):
    """Pop values from the head of a list into an Ion file (``uri``, ``count``)."""

    outputs: ClassVar = STORED_OUTPUTS

    type = "trellis.redis.list.ListPop"
    aliases = aliases_of("list.ListPop", "ListPop")
    properties: ClassVar = (
        URL,
        KEY,
        SERDE,
        Prop("count", "integer", default=100, description="Items popped at once."),
        *limit_props(),
    )
    examples = (
        """id: redis_list_pop
namespace: company.team
tasks:
  - id: list_pop
    type: io.kestra.plugin.redis.list.ListPop
    url: redis://localhost:6379/0
    key: mypopkeyjson
    serdeType: JSON
    maxRecords: 10
""",
    )

    validate = checked(validate_props, limits=True)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        budget = Budget.of(props)
        serde = str(props.get("serdeType") or "STRING")
        step = max(1, int(props.get("count") or 100))
        with client(props) as redis:

            def receive(left: int | None) -> list[Any] | None:
                popped = redis.lpop(str(props["key"]), min(step, left) if left else step) or []
                if not popped:
                    if budget.max_seconds is None:
                        return None  # maxRecords alone: stop once the list is empty
                    time.sleep(budget.wait())
                return [decode(item, serde) for item in popped]

            values = gather(budget, ctx.should_stop, receive)
        return store_records(ctx, values)


class Publish(RunnableTask):
    """Publish values on a pub/sub channel; ``count`` is how many were sent."""

    outputs: ClassVar = (Output("count", "How many messages were published.", "integer"),)

    type = "trellis.redis.pubsub.Publish"
    aliases = aliases_of("pubsub.Publish", "Publish")
    properties: ClassVar = (
        URL,
        Prop("channel", "string", required=True),
        FROM,
        SERDE,
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        with client(props) as redis:
            for value in values:
                redis.publish(str(props["channel"]), encode(value, serde))
        return {"count": len(values)}


class Get(RunnableTask):
    """Read a string key (``data``; null when the key does not exist)."""

    outputs: ClassVar = (
        Output("data", "The value, decoded per serdeType.", "any"),
        Output("key", "The key read.", "string"),
    )

    type = "trellis.redis.string.Get"
    aliases = aliases_of("string.Get", "Get")
    properties: ClassVar = (
        URL,
        KEY,
        SERDE,
        Prop("failedOnMissing", "boolean", default=False),
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with client(props) as redis:
            raw = redis.get(str(props["key"]))
        if raw is None and props.get("failedOnMissing") is True:
            raise TaskFailed(f"Redis key {props['key']!r} does not exist")
        return {"data": decode(raw, props.get("serdeType")), "key": props["key"]}


class Set(RunnableTask):
    """Write a string key; ``options`` (``expirationDuration``, ``mustExist``,
    ``mustNotExist``, ``keepTtl``) as Kestra's; ``get: true`` returns ``oldValue``."""

    outputs: ClassVar = (Output("oldValue", "The previous value, when `get` is true.", "any"),)

    type = "trellis.redis.string.Set"
    aliases = aliases_of("string.Set", "Set")
    properties: ClassVar = (
        URL,
        KEY,
        Prop("value", "any", required=True),
        SERDE,
        Prop("options", "map"),
        Prop("get", "boolean", default=False),
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        options = dict(props.get("options") or {})
        expire = options.get("expirationDuration")
        serde = props.get("serdeType")
        with client(props) as redis:
            old = redis.set(
                str(props["key"]), encode(props.get("value"), serde),
                px=int(parse_duration(expire).total_seconds() * 1000) if expire else None,
                xx=options.get("mustExist") is True, nx=options.get("mustNotExist") is True,
                keepttl=options.get("keepTtl") is True, get=props.get("get") is True,
            )  # fmt: skip
        if props.get("get") is True:
            return {"oldValue": decode(old, serde) if isinstance(old, bytes) else None}
        return {}


class Delete(RunnableTask):
    """Delete keys; ``count`` is how many existed."""

    outputs: ClassVar = (Output("count", "How many keys were deleted.", "integer"),)

    type = "trellis.redis.string.Delete"
    aliases = aliases_of("string.Delete", "Delete")
    properties: ClassVar = (
        URL,
        Prop("keys", "list", required=True, items="string"),
        Prop("failedOnMissing", "boolean", default=False),
    )

    validate = checked(validate_props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        keys = [str(k) for k in props.get("keys") or []]
        with client(props) as redis:
            count = int(redis.delete(*keys)) if keys else 0
        if props.get("failedOnMissing") is True and count < len(keys):
            raise TaskFailed(f"{len(keys) - count} of the keys did not exist")
        return {"count": count}
