"""The type reference of docs/plugins.md, generated from the plugin classes.

Each plugin family (an entry point of the ``trellis.plugins`` group) gets a section, each of
its types a heading with its Kestra aliases, a table of its properties (the ``Prop``
declarations validation reads) and a table of its outputs (the ``Output`` declarations,
trigger variables for triggers). Generating the reference from the same declarations that
drive validation is what keeps it from drifting: ``trellis plugins docs --check`` fails CI
when docs/plugins.md is not what the classes say.

Only the part of the file between :data:`BEGIN` and :data:`END` is rewritten; the prose
above it is written by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from kernel.plugin import (
    FlowableTask,
    PluginType,
    PollingTrigger,
    Prop,
    RunnableTask,
    TriggerType,
    declared_outputs,
)
from kernel.registry import PluginSource, Registry

BEGIN = "<!-- BEGIN GENERATED TYPES -->"
END = "<!-- END GENERATED TYPES -->"
HEADING = "## Every type, generated from the plugin classes"
#: The distribution whose families the reference documents (a third party's plugins
#: installed beside Trellis are not part of Trellis's docs).
DISTRIBUTION = "trellis"
NONE = "—"


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|") if text else ""


def _prose(doc: str | None) -> str:
    """The first paragraph of a docstring, as Markdown (reST's ````x```` becomes ```x```)."""
    if not doc:
        return ""
    paragraph = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    text = " ".join(paragraph.split())
    text = re.sub(r"``(.+?)``", r"`\1`", text)
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)


def _default(prop: Prop) -> str:
    if prop.default is None:
        return ""
    try:
        shown = json.dumps(prop.default, ensure_ascii=False, sort_keys=True)
    except TypeError:
        shown = repr(prop.default)
    return f"`{_cell(shown)}`"


def _description(prop: Prop) -> str:
    parts = [prop.description.strip()] if prop.description.strip() else []
    if prop.choices:
        parts.append("One of " + ", ".join(f"`{c}`" for c in prop.choices) + ".")
    if prop.aliases:
        parts.append("Also spelled " + ", ".join(f"`{a}`" for a in prop.aliases) + ".")
    if not prop.dynamic:
        parts.append("Not rendered by the engine.")
    if prop.deprecated:
        parts.append(f"Deprecated: {prop.deprecated}")
    return _cell(" ".join(parts))


def _kind(prop: Prop) -> str:
    return f"{prop.kind} of {prop.items}" if prop.kind == "list" and prop.items else prop.kind


def _what(cls: type[PluginType]) -> str:
    if issubclass(cls, PollingTrigger):
        return "polling trigger"
    if issubclass(cls, TriggerType):
        return f"{cls.trigger_kind} trigger" if cls.trigger_kind else "trigger"
    if issubclass(cls, FlowableTask):
        return "flowable task (decided by the executor)"
    if issubclass(cls, RunnableTask):
        return "runnable task (runs on a worker)"
    return str(getattr(cls, "kind", "type"))


def render_type(cls: type[PluginType]) -> list[str]:
    """The Markdown of one type: heading, summary, properties and outputs."""
    lines = [f"#### `{cls.type}`", ""]
    summary = _prose(cls.__dict__.get("__doc__"))
    if summary:
        lines += [summary, ""]
    facts = [f"Kind: {_what(cls)}."]
    if cls.extra:
        facts.append(f"Extra: `pip install 'trellis[{cls.extra}]'`.")
    lines += [" ".join(facts), ""]
    aliases = ", ".join(f"`{a}`" for a in cls.aliases) or NONE
    lines += [f"Aliases: {aliases}", ""]
    properties = list(cls.properties)
    if properties:
        lines += [
            "| Property | Kind | Required | Default | Description |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{p.name}` | {_kind(p)} | {'yes' if p.required else 'no'} | {_default(p)} "
            f"| {_description(p)} |"
            for p in properties
        ]
    else:
        lines.append(f"Properties: {NONE}")
    lines.append("")
    if not issubclass(cls, (RunnableTask, FlowableTask, TriggerType)):
        return lines  # a condition answers true or false: it has no outputs
    outputs = declared_outputs(cls)
    trigger = issubclass(cls, TriggerType)
    label = "Trigger variables" if trigger else "Outputs"
    if outputs:
        where = "trigger.<name>" if trigger else "outputs.<task id>.<name>"
        lines += [f"{label} (`{where}`):", ""]
        lines += ["| Name | Kind | Description |", "|---|---|---|"]
        lines += [f"| `{o.name}` | {o.kind} | {_cell(o.description)} |" for o in outputs]
    else:
        lines.append(f"{label}: {NONE}")
    lines.append("")
    return lines


def _families(registry: Registry) -> Iterable[tuple[PluginSource, list[type[PluginType]]]]:
    by_source: dict[PluginSource, list[type[PluginType]]] = {}
    for cls in registry.all().values():
        source = registry.source_of(cls)
        if source is not None and source.distribution in (DISTRIBUTION, None):
            by_source.setdefault(source, []).append(cls)
    for source in sorted(by_source, key=lambda s: s.name):
        yield source, sorted(by_source[source], key=lambda c: c.type)


def render(registry: Registry) -> str:
    """The generated part of docs/plugins.md (without the markers)."""
    lines = [
        "This part is generated by `trellis plugins docs --write` from the plugin classes; do",
        "not edit it by hand (`trellis plugins docs --check` fails CI when it differs).",
        "",
    ]
    for source, classes in _families(registry):
        lines += [f"### Family `{source.name}`", "", f"Module `{source.module}`.", ""]
        for cls in classes:
            lines += render_type(cls)
    failed = [p for p in registry.problems() if p.kind == "import"]
    for problem in sorted(failed, key=lambda p: p.source.name):
        lines += [f"### Family `{problem.source.name}`: failed to load", "", problem.error, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def splice(document: str, generated: str) -> str:
    """``document`` with the text between the markers replaced by ``generated``; the heading
    and the markers are appended at the end when the document has none yet."""
    block = f"{BEGIN}\n{generated}{END}"
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end == -1 or end < start:
        return f"{document.rstrip(chr(10))}\n\n{HEADING}\n\n{block}\n"
    return document[:start] + block + document[end + len(END) :]
