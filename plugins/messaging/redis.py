"""Redis: ``io.kestra.plugin.redis.*`` -- list.ListPush / ListPop, pubsub.Publish, the list
Trigger (a batch per poll) and RealtimeTrigger (one execution per item), string Get / Set /
Delete.

A Redis list has no acknowledgement, so the triggers never pop an item outright. They
*claim* it: a Lua script (atomic in Redis) moves items from the list into the trigger's own
in-flight list and stores, beside it, a fresh random id; the id is the event's key.
Once the execution is committed the in-flight list is deleted. A trigger that died in
between finds its in-flight list on its next claim and offers the same items with the same
id again, which the key turns into nothing if the execution was committed.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

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
    decode,
    encode,
    limit_problems,
    limit_props,
    missing_library,
    source_values,
    store_records,
)

EXTRA = "redis"
URL = Prop("url", "string", required=True, description="redis://[:password@]host:port/db")
SERDE = Prop("serdeType", "string", default="STRING", choices=SERDE_TYPES[:2])
#: How often a realtime trigger looks at an empty list (s).
IDLE_SECONDS = 0.2

# KEYS: list, in-flight list, in-flight id; ARGV: how many items at most, a fresh id.
# Returns {id, items...}: the in-flight batch left by a previous claim, else a new one.
_CLAIM = """
local held = redis.call('LRANGE', KEYS[2], 0, -1)
if #held > 0 then
  return {redis.call('GET', KEYS[3]) or '0', unpack(held)}
end
local items = {}
for i = 1, tonumber(ARGV[1]) do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not item then break end
  items[#items + 1] = item
end
if #items == 0 then return {} end
redis.call('SET', KEYS[3], ARGV[2])
return {ARGV[2], unpack(items)}
"""
# KEYS: in-flight list, in-flight id; ARGV: the id. Drops the batch once it is handled.
_RELEASE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""


def _aliases(*names: str) -> tuple[str, ...]:
    return tuple(f"io.kestra.plugin.redis.{name}" for name in names)


def client(props: Mapping[str, Any]) -> Any:
    import redis  # optional dependency (trellis[redis])

    try:
        return redis.Redis.from_url(str(props["url"]), socket_timeout=10, socket_connect_timeout=10)
    except ValueError as exc:
        raise TaskFailed(f"invalid Redis url: {exc}") from exc


def _validate(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = missing_library("redis", EXTRA)
    url = props.get("url")
    if (
        isinstance(url, str)
        and "{{" not in url
        and not url.startswith(("redis://", "rediss://", "unix://"))
    ):
        problems.append(("url", "`url` must start with redis://, rediss:// or unix://"))
    return problems


class ListPush(RunnableTask):
    """Append values to the tail of a list (RPUSH)."""

    type = "trellis.redis.list.ListPush"
    aliases = _aliases("list.ListPush", "ListPush")
    properties: ClassVar = (
        URL,
        Prop("key", "string", required=True),
        Prop("from", "any", required=True, description="A value, a list, or an Ion URI."),
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        with client(props) as redis:
            if values:
                redis.rpush(str(props["key"]), *(encode(v, serde) for v in values))
        return {"count": len(values)}


class ListPop(RunnableTask):
    """Pop values from the head of a list into an Ion file (``uri``, ``count``)."""

    type = "trellis.redis.list.ListPop"
    aliases = _aliases("list.ListPop", "ListPop")
    properties: ClassVar = (
        URL,
        Prop("key", "string", required=True),
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

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props) + limit_problems(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        budget = Budget.of(props)
        serde = str(props.get("serdeType") or "STRING")
        step = max(1, int(props.get("count") or 100))
        values: list[Any] = []
        with client(props) as redis:
            while not (budget.full(len(values)) or budget.expired() or ctx.should_stop()):
                left = budget.left(len(values))
                popped = redis.lpop(str(props["key"]), min(step, left) if left else step) or []
                values.extend(decode(item, serde) for item in popped)
                if not popped:
                    if budget.max_seconds is None:
                        break  # maxRecords alone: stop once the list is empty
                    time.sleep(budget.wait())
        return store_records(ctx, values)


class Publish(RunnableTask):
    """Publish values on a pub/sub channel; ``count`` is how many were sent."""

    type = "trellis.redis.pubsub.Publish"
    aliases = _aliases("pubsub.Publish", "Publish")
    properties: ClassVar = (
        URL,
        Prop("channel", "string", required=True),
        Prop("from", "any", required=True, description="A value, a list, or an Ion URI."),
        SERDE,
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        values = source_values(props.get("from"), ctx)
        serde = str(props.get("serdeType") or "STRING")
        with client(props) as redis:
            for value in values:
                redis.publish(str(props["channel"]), encode(value, serde))
        return {"count": len(values)}


class Get(RunnableTask):
    """Read a string key (``data``; null when the key does not exist)."""

    type = "trellis.redis.string.Get"
    aliases = _aliases("string.Get", "Get")
    properties: ClassVar = (
        URL,
        Prop("key", "string", required=True),
        SERDE,
        Prop("failedOnMissing", "boolean", default=False),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        with client(props) as redis:
            raw = redis.get(str(props["key"]))
        if raw is None and props.get("failedOnMissing") is True:
            raise TaskFailed(f"Redis key {props['key']!r} does not exist")
        return {"data": decode(raw, props.get("serdeType")), "key": props["key"]}


class Set(RunnableTask):
    """Write a string key; ``options`` (``expirationDuration``, ``mustExist``,
    ``mustNotExist``, ``keepTtl``) as Kestra's; ``get: true`` returns ``oldValue``."""

    type = "trellis.redis.string.Set"
    aliases = _aliases("string.Set", "Set")
    properties: ClassVar = (
        URL,
        Prop("key", "string", required=True),
        Prop("value", "any", required=True),
        SERDE,
        Prop("options", "map"),
        Prop("get", "boolean", default=False),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        from executions.durations import parse_duration

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

    type = "trellis.redis.string.Delete"
    aliases = _aliases("string.Delete", "Delete")
    properties: ClassVar = (
        URL,
        Prop("keys", "list", required=True, items="string"),
        Prop("failedOnMissing", "boolean", default=False),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        keys = [str(k) for k in props.get("keys") or []]
        with client(props) as redis:
            count = int(redis.delete(*keys)) if keys else 0
        if props.get("failedOnMissing") is True and count < len(keys):
            raise TaskFailed(f"{len(keys) - count} of the keys did not exist")
        return {"count": count}


class Claims:
    """A trigger's in-flight list in Redis (see the module docstring)."""

    def __init__(self, redis: Any, key: str, scope: str) -> None:
        tag = hashlib.sha256(scope.encode()).hexdigest()[:16]
        base = f"{key}:trellis-inflight:{tag}"
        self.redis, self.keys = redis, [key, base, f"{base}:id"]
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def claim(self, limit: int) -> tuple[str, list[bytes]] | None:
        found = self._claim(keys=self.keys, args=[limit, uuid.uuid4().hex])
        if not found:
            return None
        claimed = found[0]
        return (claimed.decode() if isinstance(claimed, bytes) else str(claimed)), found[1:]

    def release(self, claim_id: str) -> None:
        self._release(keys=self.keys[1:], args=[claim_id])


def _scope(namespace: str, flow_id: str, trigger_id: str) -> str:
    return f"{namespace}/{flow_id}/{trigger_id}"


class Trigger(PollingTrigger):
    """Every ``interval``, claim up to ``maxRecords`` items of a list and start one execution
    with ``trigger.uri`` (an Ion file) and ``trigger.count``."""

    type = "trellis.redis.list.Trigger"
    aliases = _aliases("list.Trigger", "TriggerList")
    default_interval = "PT60S"
    properties: ClassVar = (
        URL,
        Prop("key", "string", required=True),
        SERDE,
        Prop("count", "integer", default=100),
        *limit_props(),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    examples = (
        """id: list_listen
namespace: company.team
tasks:
  - id: echo
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.uri }} containing {{ trigger.count }} lines"
triggers:
  - id: watch
    type: io.kestra.plugin.redis.list.Trigger
    url: redis://localhost:6379/0
    key: mytriggerkey
    maxRecords: 2
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props) + limit_problems(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        budget = Budget.of(props)
        limit = budget.max_records or 10_000
        redis = client(props)
        claims = Claims(
            redis, str(props["key"]), _scope(ctx.namespace, ctx.flow_id, ctx.trigger_id)
        )
        claimed = claims.claim(limit)
        while claimed is None and budget.max_seconds and not budget.expired():
            time.sleep(budget.wait())
            claimed = claims.claim(limit)
        if claimed is None:
            redis.close()
            return []
        claim_id, items = claimed
        folder = Path(tempfile.mkdtemp(prefix="trellis-redis-"))
        ion = IonFile(folder)
        for item in items:
            ion.write(decode(item, props.get("serdeType"), strict=False))
        path = ion.close()

        def attach(store: StoreFile) -> Mapping[str, Any]:
            return {"uri": store(path, path.name), "count": ion.count}

        def done() -> None:
            try:
                claims.release(claim_id)
            finally:
                redis.close()
                path.unlink(missing_ok=True)

        return [
            PollEvent(
                key=f"redis:{claim_id}", variables={"count": ion.count},
                attach=attach, done=done, decline=done,
            )
        ]  # fmt: skip


class RedisRealtimeTrigger(RealtimeTrigger):
    """One execution per list item, as it arrives (``trigger.value``, ``trigger.key``)."""

    type = "trellis.redis.list.RealtimeTrigger"
    aliases = _aliases("list.RealtimeTrigger")
    properties: ClassVar = (
        URL,
        Prop("key", "string", required=True),
        SERDE,
        *RealtimeTrigger.shared_properties,
    )
    examples = (
        """id: list_realtime
namespace: company.team
tasks:
  - id: echo
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.value }}"
triggers:
  - id: watch
    type: io.kestra.plugin.redis.list.RealtimeTrigger
    url: redis://localhost:6379/0
    key: mytriggerkey
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _validate(props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        key = str(props["key"])
        redis = client(props)
        try:
            claims = Claims(redis, key, _scope(ctx.namespace, ctx.flow_id, ctx.trigger_id))
            while not ctx.should_stop():
                claimed = claims.claim(1)
                if claimed is None:
                    time.sleep(IDLE_SECONDS)
                    continue
                claim_id, items = claimed
                value = decode(items[0], props.get("serdeType"), strict=False)
                variables = {"value": value, "data": value, "key": key}
                ctx.fire(Delivery(key=f"redis:{key}:{claim_id}", variables=variables))
                claims.release(claim_id)  # after the commit
        finally:
            redis.close()


PLUGINS = [ListPush, ListPop, Publish, Get, Set, Delete, Trigger, RedisRealtimeTrigger]
