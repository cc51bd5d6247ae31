"""Trigger types: what a flow's ``triggers:`` may declare (Schedule, Flow, Webhook).

These classes are declarations (their properties drive validation and the JSON schema); the
triggers app does the firing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from plugins.base import Prop, TriggerType


def _trigger_aliases(name: str) -> tuple[str, ...]:
    return (
        f"io.kestra.plugin.core.trigger.{name}",
        f"io.kestra.core.models.triggers.types.{name}",
        f"org.kestra.core.models.triggers.types.{name}",
    )


class Schedule(TriggerType):
    type = "trellis.core.trigger.Schedule"
    aliases = _trigger_aliases("Schedule")
    properties: ClassVar = (
        Prop("cron", "string", required=True, dynamic=False, description="5 fields, or 6"),
        Prop("withSeconds", "boolean", default=False, dynamic=False),
        Prop("timezone", "string", default="Etc/UTC", dynamic=False),
        Prop("inputs", "map", default={}),
        Prop("labels", "any", default={}),
        Prop("lateMaximumDelay", "duration", dynamic=False),
        Prop(
            "recoverMissedSchedules", "string", choices=("LAST", "NONE", "ALL"), dynamic=False
        ),  # fmt: skip
        Prop("backfill", "map", deprecated="use `trigger backfill`", dynamic=False),
        Prop("scheduleConditions", "list", deprecated="use conditions", dynamic=False),
        Prop("interval", "duration", dynamic=False),
    )


class Flow(TriggerType):
    type = "trellis.core.trigger.Flow"
    aliases = _trigger_aliases("Flow")
    properties: ClassVar = (
        Prop("inputs", "map", default={}),
        Prop("preconditions", "map", dynamic=False),
        Prop("states", "list", dynamic=False),
    )


class Webhook(TriggerType):
    type = "trellis.core.trigger.Webhook"
    aliases = _trigger_aliases("Webhook")
    properties: ClassVar = (
        Prop("key", "string", required=True, dynamic=False, description="Secret URL part."),
        Prop("wait", "boolean", default=False, dynamic=False),
        Prop("returnOutputs", "boolean", default=False, dynamic=False),
        Prop("inputs", "map", default={}),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        key = props.get("key")
        if isinstance(key, str) and len(key) > 256:
            return [("key", "a webhook key is at most 256 characters")]
        return []


PLUGINS = [Schedule, Flow, Webhook]
