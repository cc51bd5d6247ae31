"""Benchmark results: one row per measured figure, checked against its target, and the table.

Plain data (no Django), so the parent process can print what its children measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    backend: str
    scenario: str
    #: The figure, in ``unit``; None when it could not be measured.
    value: float | None
    unit: str
    #: ``("<=", 15.0)``, ``(">=", 30)``, ``("<", 2.0)`` or None (reported, no target).
    target: tuple[str, float] | None = None
    details: str = ""
    error: str = ""
    #: A stretch goal: shown with its target, a miss is not marked ``NO``.
    moonshot: bool = False

    @property
    def ok(self) -> bool | None:
        if self.error or self.value is None:
            return False if self.target else None
        if self.target is None:
            return None
        op, limit = self.target
        return {"<=": self.value <= limit, "<": self.value < limit,
                ">=": self.value >= limit, ">": self.value > limit}[op]  # fmt: skip

    def measured(self) -> str:
        if self.value is None:
            return self.error or "n/a"
        digits = 0 if abs(self.value) >= 100 else 1 if abs(self.value) >= 10 else 2
        return f"{self.value:.{digits}f} {self.unit}".strip()

    def wanted(self) -> str:
        if self.target is None:
            return ""
        op, limit = self.target
        wanted = f"{op.replace('<=', '≤').replace('>=', '≥')} {limit:g} {self.unit}".strip()
        return f"{wanted} (moonshot)" if self.moonshot else wanted

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        target = data.get("target")
        return cls(**{**data, "target": tuple(target) if target else None})


def table(rows: Iterable[Row], title: str = "Trellis benchmark") -> Table:
    out = Table(title=title, title_justify="left")
    for name, justify in (("backend", "left"), ("scenario", "left"), ("measured", "right"),
                          ("target", "right"), ("ok?", "center"), ("details", "left")):  # fmt: skip
        out.add_column(name, justify=justify, overflow="fold")
    for row in rows:
        mark = {True: "[green]yes[/]", False: "[red]NO[/]", None: ""}[row.ok]
        if row.moonshot and row.ok is False:
            mark = "[dim]not yet[/]"
        out.add_row(row.backend, row.scenario, row.measured(), row.wanted(), mark, row.details)
    return out


def print_table(rows: list[Row], console: Console | None = None) -> None:
    console = console or Console(width=160)
    console.print(table(rows))
