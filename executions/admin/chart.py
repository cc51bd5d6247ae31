"""The dashboard's chart: executions per state per hour, stacked bars, as an SVG string.

Pure, like the Gantt and topology builders: counts in, markup out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

from executions.admin.common import STATE_ORDER, state_color

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 34, 20, 8


def stacked_bars_svg(
    buckets: Sequence[datetime], counts: Mapping[datetime, Mapping[str, int]]
) -> str:
    """One bar per bucket (oldest first), stacked by state in the life order of a run.

    ``counts[bucket][state]`` is the number of executions created in that hour, by the
    state they are in now.
    """
    totals = [sum(counts.get(b, {}).values()) for b in buckets]
    peak = max([*totals, 1])
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(buckets), 1)
    bar_w = max(slot - 4, 2)
    out = [
        f'<svg class="trellis-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-label="executions per state and hour over the last 24 hours">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}" stroke="#999"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="10" text-anchor="end" fill="#666">'
        f"{peak}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" font-size="10" text-anchor="end" fill="#666">'
        "0</text>",
    ]
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + 2
        y = TOP + plot_h
        per_state = counts.get(bucket, {})
        for state in STATE_ORDER:
            n = per_state.get(state, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            out.append(
                f'<rect class="chart-bar" data-state="{state}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{state_color(state)}">'
                f"<title>{bucket:%H:00}: {n} {state}</title></rect>"
            )
        if index % 3 == 0:
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 6}" font-size="10" fill="#666" '
                f'text-anchor="middle">{escape(f"{bucket:%H}h")}</text>'
            )
    out.append("</svg>")
    return "".join(out)
