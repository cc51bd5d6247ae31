"""The Redis triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import hashlib
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
from plugins.messaging._common import Budget, IonFile, decode, limit_problems, limit_props
from plugins.messaging.redis.client import SERDE, URL, aliases_of, client, validate_props

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
    aliases = aliases_of("list.Trigger", "TriggerList")
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
        return validate_props(props) + limit_problems(props)

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
    aliases = aliases_of("list.RealtimeTrigger")
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
        return validate_props(props)

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
