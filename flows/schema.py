"""JSON Schema of a whole flow document, for editors (VS Code's YAML extension, the admin's
editor): built at request time from the flow parser's own key lists and the plugin registry,
so a new plugin or flow key appears in it without anyone editing a schema file.

Shape: every plugin's schema (``kernel.plugin_schema.json_schema``) sits under ``$defs`` by
canonical type name; ``$defs/task`` and ``$defs/trigger`` pick one by ``type`` with
``if``/``then`` (one branch per type, so an editor reports the errors of the chosen type only,
not those of a hundred alternatives). Nested task lists in flowable schemas point back at
``$defs/task``. Unknown keys are not forbidden: the spec parser reports them with a line, and
Kestra-only keys must not turn a working flow red in an editor.
"""

from __future__ import annotations

import copy
from typing import Any

from kernel.conditions import ConditionType
from kernel.plugin_schema import _TASK_REF, JSON_SCHEMA_DRAFT, json_schema, plugin_kind
from kernel.registry import registry
from kernel.spec.common import FLOW_ID, NAMESPACE
from kernel.spec.inputs import INPUT_TYPES
from kernel.spec.parse import FLOW_KEYS
from kernel.spec.parts import CONCURRENCY_BEHAVIORS

SCHEMA_ID = "urn:trellis:flow"
_TASK = {"$ref": "#/$defs/task"}
_TASKS = {"type": "array", "items": _TASK}


def flow_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one flow document."""
    plugins = registry.all()
    defs: dict[str, Any] = {}
    branches: dict[str, list[dict[str, Any]]] = {"task": [], "trigger": [], "condition": []}
    names: dict[str, list[str]] = {"task": [], "trigger": [], "condition": []}
    for name, cls in sorted(plugins.items()):
        schema = _linked(json_schema(cls))
        schema.pop("$schema", None)
        schema.pop("$id", None)  # an $id inside $defs would move the base of every $ref
        schema.pop("examples", None)
        defs[name] = schema
        group = _group(cls)
        spelled = [cls.type, *cls.aliases]
        names[group].extend(spelled)
        branches[group].append({
            "if": {"properties": {"type": {"enum": spelled}}, "required": ["type"]},
            "then": {"$ref": f"#/$defs/{name}"},
        })  # fmt: skip
    for group in ("task", "trigger", "condition"):
        defs[group] = {
            "type": "object",
            "required": ["type"] if group == "condition" else ["id", "type"],
            "properties": {"type": {"enum": sorted(names[group])}},
            "allOf": branches[group],
        }
    defs["input"] = {
        "type": "object",
        "required": ["type"],
        "anyOf": [{"required": ["id"]}, {"required": ["name"]}],  # name: Kestra's old key
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string", "deprecated": True},
            "type": {"enum": list(INPUT_TYPES)},
            "description": {"type": "string"},
            "required": {"type": "boolean"},
        },
    }
    return {
        "$schema": JSON_SCHEMA_DRAFT,
        "$id": SCHEMA_ID,
        "title": "Trellis flow",
        "type": "object",
        "required": ["id", "namespace", "tasks"],
        "properties": _flow_properties(),
        "propertyNames": {"enum": list(FLOW_KEYS)},
        "$defs": defs,
    }


def _flow_properties() -> dict[str, Any]:
    known: dict[str, Any] = {
        "id": {"type": "string", "pattern": f"^{FLOW_ID.pattern}$"},
        "namespace": {"type": "string", "pattern": f"^{NAMESPACE.pattern}$"},
        "revision": {"type": "integer"},
        "description": {"type": "string"},
        "labels": {
            "anyOf": [
                {"type": "object"},
                {"type": "array", "items": {"type": "object", "required": ["key", "value"]}},
            ]
        },  # fmt: skip
        "inputs": {"type": "array", "items": {"$ref": "#/$defs/input"}},
        "variables": {"type": ["object", "null"]},
        "tasks": {**_TASKS, "minItems": 1},
        "errors": _TASKS,
        "finally": _TASKS,
        "afterExecution": _TASKS,
        "listeners": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"tasks": _TASKS, "conditions": {"type": "array"}},
            },
        },  # fmt: skip
        "triggers": {"type": "array", "items": {"$ref": "#/$defs/trigger"}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["id"]}},
        "concurrency": {
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "minimum": 0},
                "behavior": {"enum": list(CONCURRENCY_BEHAVIORS)},
            },
        },  # fmt: skip
        "retry": {"type": "object"},
        "disabled": {"type": "boolean"},
        "deleted": {"type": "boolean"},
        "pluginDefaults": {"type": "array", "items": {"type": "object", "required": ["type"]}},
        "taskDefaults": {"type": "array", "items": {"type": "object", "required": ["type"]}},
    }
    missing = set(FLOW_KEYS) - set(known)
    if missing:  # a key the parser learnt: described loosely until someone says more
        known.update({key: {} for key in sorted(missing)})
    return {key: known[key] for key in FLOW_KEYS}


def _group(cls: type) -> str:
    if plugin_kind(cls) == "trigger":
        return "trigger"

    if issubclass(cls, ConditionType):
        return "condition"
    return "task"


def _linked(schema: dict[str, Any]) -> dict[str, Any]:
    """A plugin schema whose nested task references validate as whole tasks."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node == _TASK_REF:
                return dict(_TASK)
            if node.get("type") == "array" and node.get("items") == _TASK_REF:
                return {**node, "type": ["array", "null"], "items": dict(_TASK)}  # Kestra: null
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(copy.deepcopy(schema))
