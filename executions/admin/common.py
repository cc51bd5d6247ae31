"""Small pieces the execution admin pages share: state colours, durations, file URIs.

Pure (no Django): the SVG builders and the views both use it, and unit tests need no setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kernel.states import State

#: Fill colour per state, close to Kestra's palette so users read them the same way.
STATE_COLORS: dict[str, str] = {
    State.CREATED: "#9e9e9e",
    State.QUEUED: "#b0bec5",
    State.RUNNING: "#1e88e5",
    State.PAUSED: "#8e24aa",
    State.RESTARTED: "#00897b",
    State.KILLING: "#6d4c41",
    State.SUCCESS: "#2e7d32",
    State.WARNING: "#f9a825",
    State.FAILED: "#c62828",
    State.KILLED: "#4e342e",
    State.CANCELLED: "#757575",
    State.RETRYING: "#ef6c00",
    State.RETRIED: "#ffcc80",
    State.SKIPPED: "#cfd8dc",
}
#: States whose colour is light: text drawn on them is dark.
LIGHT_STATES = frozenset({State.QUEUED, State.WARNING, State.RETRIED, State.SKIPPED})
UNKNOWN_COLOR = "#e0e0e0"
#: Order states are listed in (legends, the dashboard): the life of an execution.
STATE_ORDER: tuple[State, ...] = tuple(State)


def state_color(state: str | None) -> str:
    """The fill colour of ``state`` (a neutral grey for none / an unknown name)."""
    return STATE_COLORS.get(str(state or ""), UNKNOWN_COLOR)


def text_color(state: str | None) -> str:
    """Black or white, whichever reads on :func:`state_color`."""
    return "#212121" if (state in LIGHT_STATES or state not in STATE_COLORS) else "#ffffff"


def duration(
    start: datetime | None, end: datetime | None, now: datetime | None = None
) -> timedelta | None:
    """How long something ran: ``end - start``, or ``now - start`` while it runs."""
    if start is None:
        return None
    stop = end or now
    if stop is None:
        return None
    return max(stop - start, timedelta(0))


def format_duration(delta: timedelta | None) -> str:
    """``1h 02m``, ``3m 05s``, ``4.21s``, ``120ms``: short and readable in a table cell."""
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def storage_uris(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every ``kestra:///`` string inside ``value`` (inputs, outputs), with its dotted path.

    Outputs nest files anywhere (``outputFiles.{name}``, lists of URIs), so the pages walk the
    whole value instead of knowing each plugin's shape.
    """
    if isinstance(value, str):
        if value.startswith("kestra:///"):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from storage_uris(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from storage_uris(item, f"{path}[{index}]")


def file_name(uri: str) -> str:
    """The last segment of a storage URI: what a download is saved as."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def short_type(type_name: str | None) -> str:
    """``io.kestra.plugin.core.trigger.Schedule`` -> ``Schedule``."""
    return str(type_name or "").rsplit(".", 1)[-1]


@dataclass(frozen=True)
class TriggerKind:
    """A kind of trigger as the admin names it: ``value`` in the filter's URL, ``label``
    shown, ``suffix`` the end of the type names it covers (after a dot, so the Kestra type
    an execution stores and Trellis's own name both match)."""

    value: str
    label: str
    suffix: str

    def matches(self, type_name: str | None) -> bool:
        return str(type_name or "").endswith(f".{self.suffix}")


#: How executions start besides by hand. The polling triggers all end in ``.Trigger``, so
#: their kind is told by the segment before it.
TRIGGER_KINDS: tuple[TriggerKind, ...] = (
    TriggerKind("Schedule", "Schedule", "trigger.Schedule"),
    TriggerKind("Flow", "Flow", "trigger.Flow"),
    TriggerKind("Webhook", "Webhook", "trigger.Webhook"),
    TriggerKind("HTTP", "HTTP poll", "http.Trigger"),
    TriggerKind("LocalFile", "Local file", "local.Trigger"),
    TriggerKind("Subflow", "Subflow", "flow.Subflow"),
    TriggerKind("ForEachItem", "ForEachItem", "flow.ForEachItem$ForEachItemExecutable"),
)


def trigger_label(type_name: str | None) -> str:
    """The name a user reads for a trigger type: its kind's label, else the type's last
    segment (the last two when that is a bare ``Trigger``: ``sqs.Trigger``)."""
    for kind in TRIGGER_KINDS:
        if kind.matches(type_name):
            return kind.label
    parts = str(type_name or "").split(".")
    return ".".join(parts[-2:]) if parts[-1] == "Trigger" else parts[-1]
