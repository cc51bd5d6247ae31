"""How executions look on a terminal: one place for the words, widths and colours that
``flow run --wait`` and the ``execution`` commands share, so they read alike.

Everything here only formats what it is given (model instances or plain objects with the same
attributes); nothing queries the database, so it is cheap to test.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from flows.cli.base import fail
from kernel.secrets import shown

#: Rich styles per state (plain output ignores them).
STATE_STYLE: dict[str, str] = {
    "CREATED": "dim",
    "QUEUED": "dim",
    "RUNNING": "cyan",
    "PAUSED": "magenta",
    "RESTARTED": "cyan",
    "RETRYING": "yellow",
    "KILLING": "yellow",
    "SUCCESS": "green",
    "WARNING": "yellow",
    "FAILED": "bold red",
    "KILLED": "red",
    "CANCELLED": "red",
    "RETRIED": "dim",
    "SKIPPED": "dim",
}


class RunLike(Protocol):
    """What the tree needs of a task run (a ``TaskRun`` or any look-alike)."""

    id: str
    parent_id: str | None
    task_id: str
    value: str | None
    seq: int
    state: str
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None


def parse_pairs(values: Iterable[str] | None, flag: str, seps: str = "=") -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``, split at the earliest of the separators ``seps``,
    so ``--label url=http://x`` keeps its colon. A malformed or repeated key is an error
    naming the flag: a silent "last one wins" hides typos."""
    spelled = " or ".join(f"KEY{sep}VALUE" for sep in seps)
    out: dict[str, str] = {}
    for item in values or []:
        at = min((i for i in (item.find(sep) for sep in seps) if i >= 0), default=-1)
        key, value = item[: max(at, 0)], item[at + 1 :]
        if at < 0 or not key.strip():
            raise fail(f"{flag} must look like {spelled}, not {item!r}")
        key = key.strip()
        if key in out:
            raise fail(f"{flag} {key!r} is given twice")
        out[key] = value
    return out


def run_label(run: RunLike) -> str:
    """``task`` or ``task[value]`` for a ForEach child."""
    value = shown(run.value)  # a loop over secrets shows its values masked (issue 21)
    return f"{run.task_id}[{value}]" if value not in (None, "") else run.task_id


def duration(start: datetime | None, end: datetime | None, now: datetime | None = None) -> str:
    """``0.42s``, ``1m03s``, ``2h05m``; ``""`` when it has not started. A run still going is
    measured up to ``now`` when given."""
    if start is None:
        return ""
    stop = end or now
    if stop is None:
        return ""
    seconds = max((stop - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def tree(runs: Sequence[RunLike]) -> list[tuple[int, RunLike]]:
    """Task runs depth-first under their parents, siblings in creation order, with depth.

    A run whose parent is missing (not loaded, or from a replay) is shown as a root rather
    than dropped: the point of ``show`` is to see every run.
    """
    ids = {run.id for run in runs}
    children: dict[str | None, list[RunLike]] = {}
    for run in runs:
        parent = run.parent_id if run.parent_id in ids else None
        children.setdefault(parent, []).append(run)
    for siblings in children.values():
        siblings.sort(key=lambda r: r.seq)
    ordered: list[tuple[int, RunLike]] = []
    stack: list[tuple[int, RunLike]] = [(0, r) for r in reversed(children.get(None, []))]
    while stack:
        depth, run = stack.pop()
        ordered.append((depth, run))
        stack.extend((depth + 1, c) for c in reversed(children.get(run.id, [])))
    return ordered


def tree_lines(runs: Sequence[RunLike], now: datetime | None = None) -> list[str]:
    """One line per task run: indent by depth, state, label, attempts, duration."""
    lines = []
    for depth, run in tree(runs):
        took = duration(run.started_at, run.ended_at, now)
        attempts = f"  attempts {run.attempts}" if run.attempts else ""
        lines.append(
            f"  {'  ' * depth}{run.state:<9} {run_label(run)}{attempts}{'  ' + took if took else ''}"
        )
    return lines


def state_change(run: RunLike) -> str:
    """The line ``--wait`` prints when a task run changes state (or starts a new attempt)."""
    attempt = f" (attempt {run.attempts})" if run.attempts > 1 else ""
    return f"  {run.state:<9} {run_label(run)}{attempt}"


def log_line(line: Any, *, clock: bool = True) -> str:
    """``12:00:01 INFO  task: message``; continuation lines of a multi-line message are
    indented under the message so they cannot be mistaken for new entries."""
    head = f"{line.timestamp:%H:%M:%S} " if clock else "    "
    prefix = f"{head}{line.level:<5} {line.task_id or '-'}: "
    body = str(line.message).splitlines() or [""]
    return "\n".join([prefix + body[0], *(" " * len(prefix) + rest for rest in body[1:])])


def value_text(value: Any) -> str:
    """Strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def mapping_lines(title: str, mapping: Mapping[str, Any] | None) -> list[str]:
    """``title:`` then ``  key: value`` lines; nothing at all for an empty mapping."""
    if not mapping:
        return []
    return [f"{title}:", *(f"  {key}: {value_text(v)}" for key, v in mapping.items())]


def execution_header(execution: Any) -> str:
    return (
        f"{execution.id}  {execution.namespace}.{execution.flow_id} "
        f"rev {execution.flow_revision}  {execution.state}"
    )


def final_line(execution: Any) -> str:
    """The last line of ``--wait``: the final state first, so ``tail -1`` tells it all."""
    took = duration(execution.started_at, execution.ended_at)
    return f"{execution.state} {execution.id}{'  in ' + took if took else ''}"


#: Column titles of ``execution list``.
LIST_HEADER = ("ID", "STATE", "FLOW", "REV", "CREATED", "DURATION")


def list_rows(executions: Sequence[Any]) -> list[str]:
    """``execution list`` as a table: a header, then one row per execution, every column
    as wide as its widest cell (so ``column -t`` is not needed and ``cut`` still works on
    the two-space gaps)."""
    cells = [
        (
            e.id, str(e.state), f"{e.namespace}.{e.flow_id}", str(e.flow_revision),
            f"{e.created_at:%Y-%m-%d %H:%M:%S}", duration(e.started_at, e.ended_at),
        )
        for e in executions
    ]  # fmt: skip
    rows = [LIST_HEADER, *cells]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_HEADER))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
