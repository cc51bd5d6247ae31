"""Trigger and listener conditions as the kernel sees them: a contract and a lookup.

Condition types are plugins (``plugins.core.conditions`` holds Kestra's); they are found
through the registry like any other type, so the engine and the spec parser never compare
type names and a third-party package can add its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from kernel.plugin import PluginType
from kernel.registry import registry


class UnknownCondition(LookupError):
    """No condition type has this name."""


class ConditionType(PluginType):
    """A predicate over a context; ``test`` must be pure and never raise for a false case."""

    kind: ClassVar[str] = "condition"
    #: What of the upstream execution a Flow trigger's condition pins down, for the index
    #: of listeners (triggers/flow_triggers.py): ``flow`` (namespace and flowId),
    #: ``namespace`` or ``states``; "" when it narrows nothing the index can use.
    narrows: ClassVar[str] = ""

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        raise NotImplementedError


def condition_class(type_name: str) -> type[ConditionType]:
    """The condition class named ``type_name`` (any of its aliases); UnknownCondition if none."""
    try:
        cls = registry.get(str(type_name))
    except LookupError:
        cls = None
    if cls is None or not issubclass(cls, ConditionType):
        raise UnknownCondition(f"unknown condition type {type_name!r}")
    return cls


def evaluate(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether one condition mapping holds in ``context``. Unknown types raise
    UnknownCondition; expression errors propagate (callers decide: a trigger logs and skips)."""
    cls = condition_class(str(condition.get("type", "")))
    props = {k: v for k, v in condition.items() if k != "type"}
    return bool(cls().test(props, context))


def all_hold(conditions: Sequence[Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """True when every condition holds (an empty list holds)."""
    return all(evaluate(c, context) for c in conditions or ())
