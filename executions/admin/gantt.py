"""The Gantt chart of an execution's task runs and their attempts, as an SVG string.

Pure: plain rows in, markup out, so it is tested without Django and rendered by the server
(no charting library, no build step). Each task run is one row, indented under its parent;
its span is a pale bar and each attempt a solid bar on top, coloured by state, so a retried
task shows its failed attempts beside the one that worked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from executions.admin.common import duration, format_duration, state_color

LABEL_WIDTH = 240
CHART_WIDTH = 720
ROW_HEIGHT = 24
AXIS_HEIGHT = 22
TICKS = 5


@dataclass(frozen=True)
class GanttBar:
    """One attempt: when it ran and how it ended."""

    state: str
    start: datetime | None
    end: datetime | None
    label: str = ""


@dataclass(frozen=True)
class GanttRow:
    """One task run: its label, nesting depth, state, span and attempts."""

    label: str
    depth: int
    state: str
    start: datetime | None
    end: datetime | None
    attempts: tuple[GanttBar, ...] = field(default_factory=tuple)
    #: Fragment the row links to (``#taskrun-<id>``), empty for none.
    href: str = ""


def _bounds(rows: list[GanttRow], now: datetime) -> tuple[datetime, datetime]:
    moments = [m for r in rows for m in (r.start, r.end) if m is not None]
    moments += [m for r in rows for a in r.attempts for m in (a.start, a.end) if m is not None]
    begin = min(moments) if moments else now
    finish = max([*moments, *(now for r in rows if r.start and not r.end)], default=begin)
    if finish <= begin:
        finish = begin + timedelta(seconds=1)
    return begin, finish


def gantt_svg(rows: list[GanttRow], *, now: datetime) -> str:
    """The chart for ``rows`` (in display order). A run still going extends to ``now``."""
    if not rows:
        return '<p class="help">No task run yet.</p>'
    begin, finish = _bounds(rows, now)
    span = (finish - begin).total_seconds()

    def x(moment: datetime | None) -> float:
        moment = moment or now
        return LABEL_WIDTH + CHART_WIDTH * (moment - begin).total_seconds() / span

    height = AXIS_HEIGHT + ROW_HEIGHT * len(rows) + 4
    width = LABEL_WIDTH + CHART_WIDTH + 10
    out = [
        f'<svg class="trellis-gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Gantt chart of {len(rows)} task runs">'
    ]
    for i in range(TICKS + 1):
        tick_x = LABEL_WIDTH + CHART_WIDTH * i / TICKS
        text = format_duration(timedelta(seconds=span * i / TICKS)) if i else "0"
        anchor = "end" if i == TICKS else "start"
        out.append(
            f'<line x1="{tick_x:.1f}" y1="{AXIS_HEIGHT - 4}" x2="{tick_x:.1f}" y2="{height}" '
            'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{tick_x:.1f}" y="{AXIS_HEIGHT - 8}" font-size="11" fill="#666" '
            f'text-anchor="{anchor}">{escape(text)}</text>'
        )
    for index, row in enumerate(rows):
        out.append(_row(row, AXIS_HEIGHT + index * ROW_HEIGHT, x, now))
    out.append("</svg>")
    return "".join(out)


def _row(row: GanttRow, top: float, x: Callable[[datetime | None], float], now: datetime) -> str:
    label = row.label if len(row.label) <= 30 else row.label[:29] + "…"
    color = state_color(row.state)
    took = format_duration(duration(row.start, row.end, now))
    parts = [
        f'<g class="gantt-row" data-state="{escape(row.state)}">',
        f"<title>{escape(row.label)}: {escape(row.state)}, {escape(took)}</title>",
        f'<text x="{4 + 12 * row.depth}" y="{top + 16}" font-size="12" fill="#333">',
        f'<a href="{escape(row.href)}">{escape(label)}</a>' if row.href else escape(label),
        "</text>",
    ]
    if row.start is not None:
        left, right = x(row.start), x(row.end)
        solid = not row.attempts
        parts.append(
            f'<rect x="{left:.1f}" y="{top + 5}" width="{max(right - left, 2):.1f}" height="14" '
            f'rx="2" fill="{color}" fill-opacity="{1 if solid else 0.3}"/>'
        )
    for attempt in row.attempts:
        if attempt.start is None:
            continue
        left, right = x(attempt.start), x(attempt.end)
        parts.append(
            f'<rect class="gantt-attempt" x="{left:.1f}" y="{top + 7}" '
            f'width="{max(right - left, 2):.1f}" height="10" rx="2" '
            f'fill="{state_color(attempt.state)}">'
            f"<title>{escape(attempt.label)}: {escape(attempt.state)}</title></rect>"
        )
    parts.append("</g>")
    return "".join(parts)
