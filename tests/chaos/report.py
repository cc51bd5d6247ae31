"""The chaos table: each scenario records one row (what it loaded, what it broke, what was
lost, what ran twice, how long recovery took); ``make chaos`` prints the table at the end and
appends the rows as JSON lines to ``TRELLIS_CHAOS_REPORT`` (default
``$TRELLIS_HOME/chaos-report.jsonl``) for docs/reliability.md."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Row:
    scenario: str
    load: str
    faults: str
    lost: int
    duplicates: int
    recover_s: float | None
    note: str = ""


ROWS: list[Row] = []


def record(row: Row) -> Row:
    ROWS.append(row)
    target = Path(
        os.environ.get("TRELLIS_CHAOS_REPORT", settings.TRELLIS_HOME / "chaos-report.jsonl")
    )
    with target.open("a") as out:
        out.write(json.dumps(asdict(row)) + "\n")
    return row


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | load | faults injected | executions lost | duplicate runs | time to recover |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        recover = "-" if r.recover_s is None else f"{r.recover_s:.1f} s"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.scenario} | {r.load} | {r.faults}{note} | {r.lost} | {r.duplicates} | {recover} |"
        )
    return lines
