"""The Redis triggers: the batch Trigger (polled on a worker) and the RealtimeTrigger."""

from __future__ import annotations

import hashlib
import time
import uuid
from functools import partial
from typing import Any, ClassVar

from kernel.plugin import (
    Output,
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    RealtimeContext,
    RealtimeTrigger,
)
from plugins.messaging._common import STORED_OUTPUTS, Budget, checked, decode
from plugins.messaging._triggers import (
    Received,
    batch_event,
    batch_properties,
    realtime_properties,
    received,
    relay,
    scratch_ion,
)
from plugins.messaging.redis.client import KEY, SERDE, URL, aliases_of, client, validate_props

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

    outputs: ClassVar = STORED_OUTPUTS

    type = "trellis.redis.list.Trigger"
    aliases = aliases_of("list.Trigger", "TriggerList")
    properties: ClassVar = batch_properties(URL, KEY, SERDE, Prop("count", "integer", default=100))
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

    validate = checked(validate_props, limits=True)

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
        ion = scratch_ion("redis")
        for item in items:
            ion.write(decode(item, props.get("serdeType"), strict=False))
        path = ion.close()
        event = batch_event(
            f"redis:{claim_id}", path, ion.count, settle=partial(claims.release, claim_id),
            close=redis.close,
        )  # fmt: skip
        return [event]


class RedisRealtimeTrigger(RealtimeTrigger):
    """One execution per list item, as it arrives (``trigger.value``, ``trigger.key``)."""

    outputs: ClassVar = (
        Output("value", "The popped value, decoded per serdeType.", "any"),
        Output("data", "The value again, under the name other triggers use.", "any"),
        Output("key", "The list it came from.", "string"),
    )

    type = "trellis.redis.list.RealtimeTrigger"
    aliases = aliases_of("list.RealtimeTrigger")
    properties: ClassVar = realtime_properties(URL, KEY, SERDE)
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

    validate = checked(validate_props)

    def listen(self, props: dict[str, Any], ctx: RealtimeContext) -> None:
        key, serde = str(props["key"]), props.get("serdeType")
        redis = client(props)
        try:
            claims = Claims(redis, key, _scope(ctx.namespace, ctx.flow_id, ctx.trigger_id))

            def receive() -> tuple[str, list[bytes]] | None:
                claimed = claims.claim(1)
                if claimed is None:
                    time.sleep(IDLE_SECONDS)
                return claimed

            def deliver(claimed: tuple[str, list[bytes]]) -> Received:
                claim_id, items = claimed
                value = decode(items[0], serde, strict=False)
                variables = {"value": value, "data": value, "key": key}
                return f"redis:{key}:{claim_id}", variables, partial(claims.release, claim_id)

            relay(ctx, received(receive, deliver))
        finally:
            redis.close()
