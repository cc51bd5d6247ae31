"""JSON Schema of a task or trigger type, generated from its ``Prop`` declarations.

The same declarations validate YAML (kernel.spec.parse), so the schema an editor gets from
``GET /api/v1/plugins`` cannot drift from what deploy accepts. Pure: no Django.
"""

from __future__ import annotations

import inspect
from typing import Any

from kernel.plugin import PluginType, Prop, TriggerType, declared_outputs

JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Properties every task accepts besides its own (kernel.spec.parse handles them).
_TASK_COMMON: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "pattern": r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"},
    "description": {"type": "string"},
    "retry": {"type": "object"},
    "timeout": {"type": "string", "format": "duration"},
    "disabled": {"type": "boolean"},
    "allowFailure": {"type": "boolean"},
    "allowWarning": {"type": "boolean"},
    "runIf": {"type": "string"},
    "workerGroup": {"type": "object"},
    "logLevel": {"enum": ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]},
}
_TRIGGER_COMMON: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "pattern": r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"},
    "description": {"type": "string"},
    "disabled": {"type": "boolean"},
    "conditions": {"type": "array", "items": {"type": "object"}},
}

_TASK_REF: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
}
_TASK_LIST: dict[str, Any] = {"type": "array", "items": _TASK_REF}

_BY_KIND: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "duration": {"type": "string", "format": "duration"},
    "list": {"type": "array"},
    "map": {"type": "object"},
    "any": {},
    "tasks": _TASK_LIST,
    "task_map": {"type": "object", "additionalProperties": _TASK_LIST},
    "dag": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["task"],
            "properties": {
                "task": _TASK_REF,
                "dependsOn": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}
#: Kinds whose value may instead be an expression string rendered at run time.
_EXPRESSIBLE = {"integer", "number", "boolean", "list", "map", "duration"}


def prop_schema(prop: Prop) -> dict[str, Any]:
    """The schema of one property."""
    schema: dict[str, Any] = dict(_BY_KIND.get(prop.kind, {}))
    if prop.kind == "list" and prop.items:
        schema["items"] = dict(_BY_KIND.get(prop.items, {}))
    if prop.choices:
        schema = {"enum": list(prop.choices)}
    if prop.dynamic and prop.kind in _EXPRESSIBLE and not prop.choices:
        schema = {"anyOf": [schema, {"type": "string", "pattern": r"\{\{.*\}\}"}]}
    if prop.description:
        schema["description"] = prop.description
    if prop.default is not None:
        schema["default"] = prop.default
    if prop.deprecated:
        schema["deprecated"] = True
        schema["x-deprecation"] = prop.deprecated
    schema["x-dynamic"] = prop.dynamic
    return schema


def plugin_kind(cls: type[PluginType]) -> str:
    """``runnable``, ``flowable`` or ``trigger``."""
    if issubclass(cls, TriggerType):
        return "trigger"
    return str(getattr(cls, "kind", "runnable"))


def json_schema(cls: type[PluginType]) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for one task or trigger definition of type ``cls``.

    Property aliases are accepted names too (``x-alias-of`` says which). Unknown keys are not
    forbidden here: plugin defaults and Kestra-only keys are reported by the spec parser.
    """
    common = _TRIGGER_COMMON if plugin_kind(cls) == "trigger" else _TASK_COMMON
    properties: dict[str, Any] = {name: dict(value) for name, value in common.items()}
    properties["type"] = {"enum": [cls.type, *cls.aliases]}
    required = ["id", "type"]
    for prop in cls.properties:
        properties[prop.name] = prop_schema(prop)
        for alias in prop.aliases:
            properties[alias] = {**prop_schema(prop), "x-alias-of": prop.name}
        if prop.required:
            required.append(prop.name)
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA_DRAFT,
        "$id": cls.type,
        "title": cls.type.rsplit(".", 1)[-1],
        "type": "object",
        "properties": properties,
        "required": required,
    }
    doc = inspect.getdoc(cls)
    if doc and cls.__doc__:  # only the class's own docstring, not an inherited one
        schema["description"] = doc
    if cls.examples:
        schema["examples"] = list(cls.examples)
    outputs = declared_outputs(cls)
    if outputs:  # what the task returns (trigger variables for a trigger): not validated
        schema["x-outputs"] = [
            {"name": o.name, "kind": o.kind, "description": o.description} for o in outputs
        ]
    return schema
