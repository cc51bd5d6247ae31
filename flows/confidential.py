"""Credentials written in a flow's source (a Webhook's ``key``, its signing secret) shown only
to users who may write the flow (issue 21: a read-only user read a webhook's key from the
flow source or ``triggers/search`` and then started executions with it).

A trigger type names its credential properties (``TriggerType.confidential``, dotted paths);
what the API and the admin show a reader has their values replaced by ``******``: in the
YAML text (the value on its ``key:`` line, and anywhere else once it is long enough not to be
an ordinary word) and in JSON documents (the property itself, and any string holding it).
The CLI is a trusted operator (``actor=None``) and sees everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from access.policy import Action, allows
from kernel.registry import UnknownType, registry
from kernel.secrets import MASK  # one mask for every credential shown (Kestra's)

#: A credential this long is replaced wherever it appears, not only on its own line.
ANYWHERE_FROM = 8


def _paths_of(raw_type: Any) -> tuple[str, ...]:
    if not isinstance(raw_type, str):
        return ()
    try:
        return tuple(getattr(registry.get(raw_type), "confidential", ()))
    except UnknownType:
        return ()


def _at(item: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(item, Mapping):
            return None
        item = item.get(part)
    return item


def _triggers(definition: Any) -> list[Mapping[str, Any]]:
    triggers = definition.get("triggers") if isinstance(definition, Mapping) else None
    return [t for t in triggers or () if isinstance(t, Mapping)]


def credentials(definition: Any) -> list[str]:
    """The credential values a parsed flow ``definition`` holds, longest first."""
    found = {
        value
        for trigger in _triggers(definition)
        for path in _paths_of(trigger.get("type"))
        if isinstance(value := _at(trigger, path), str) and value.strip()
    }
    return sorted(found, key=lambda v: (-len(v), v))


def credentials_of_source(source: str) -> list[str]:
    try:
        return credentials(yaml.safe_load(source))
    except yaml.YAMLError:  # stored sources were validated; an odd one hides nothing
        return []


def hide_in_text(text: str, values: Iterable[str]) -> str:
    """``text`` (YAML) with each credential replaced wherever it is a whole scalar value
    (``key: abc``, ``{key: "abc"}``, a list item: any field holding it would reveal it), and
    everywhere once it is :data:`ANYWHERE_FROM` characters or longer."""
    for value in values:
        text = re.sub(
            rf"(:\s*|^[+ -]?\s*-\s+)(['\"]?){re.escape(value)}\2(?=\s*(?:[,}}\]]|#|$))",
            lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}",
            text,
            flags=re.MULTILINE,
        )
        if len(value) >= ANYWHERE_FROM:
            text = text.replace(value, MASK)
    return text


def _hide_strings(value: Any, values: list[str]) -> Any:
    if isinstance(value, str):
        for secret in values:
            if len(secret) >= ANYWHERE_FROM or value == secret:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, Mapping):
        return {k: _hide_strings(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hide_strings(v, values) for v in value]
    return value


def _set(item: dict[str, Any], path: str) -> None:
    head, _, rest = path.partition(".")
    if head not in item:
        return
    if not rest:
        if isinstance(item[head], str):
            item[head] = MASK
        return
    if isinstance(item[head], Mapping):
        item[head] = dict(item[head])
        _set(item[head], rest)


def hide_trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
    """One trigger declaration (as written) with its credential properties masked."""
    shown = dict(trigger)
    for path in _paths_of(shown.get("type")):
        _set(shown, path)
    return shown


def hide_in_document(document: Any, values: list[str]) -> Any:
    """A JSON document about a flow (its definition, a trigger's declaration) with every
    credential masked: the declared properties, and any string holding one."""
    if isinstance(document, Mapping):
        document = dict(document)
        if isinstance(document.get("triggers"), list):
            document["triggers"] = [
                hide_trigger(t) if isinstance(t, Mapping) else t for t in document["triggers"]
            ]
        if "type" in document and "id" in document:
            document = hide_trigger(document)
    return _hide_strings(document, values)


def may_see(actor: Any, namespace: str) -> bool:
    """Credentials are shown to whoever may write the flow (and trusted operators)."""
    return allows(actor, namespace, Action.WRITE)
