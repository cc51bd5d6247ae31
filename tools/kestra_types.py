"""Count the Kestra type names Trellis accepts, by plugin family (issue 17's closing note).

A Kestra type name is any name of a registered type starting with ``io.kestra.`` or
``org.kestra.`` (Kestra's current names and the older ones it still reads), counted only when
the registry resolves it to that type here: a name two plugins claim, or a family that failed
to load, is not accepted and not counted. The family is the entry point of the
``trellis.plugins`` group the type came from. Tasks (runnable and flowable), triggers and
conditions are counted apart; ``types`` is how many distinct types carry those names.

Usage: ``python tools/kestra_types.py [--json]``. A family whose optional library is missing
is marked (its flows fail validation until the extra is installed); load problems go to
stderr. Reads the registry only: no database, no Django settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the project root must be importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel.plugin import PluginType  # noqa: E402 - after the path fix above
from kernel.registry import Registry, UnknownType, missing_requirement, registry  # noqa: E402

PREFIXES = ("io.kestra.", "org.kestra.")
#: The plugin contract's ``kind`` -> the column it is counted in.
COLUMNS = {"runnable": "tasks", "flowable": "tasks", "trigger": "triggers",
           "condition": "conditions"}  # fmt: skip
ORDER = ("tasks", "triggers", "conditions", "other")


def _accepted(reg: Registry, cls: type[PluginType]) -> list[str]:
    """The Kestra names of ``cls`` that the registry resolves to it."""
    names = []
    for name in dict.fromkeys((cls.type, *cls.aliases)):
        if not name.startswith(PREFIXES):
            continue
        try:
            if reg.get(name) is cls:
                names.append(name)
        except UnknownType:  # claimed twice: refused, so not accepted
            continue
    return names


def count(reg: Registry = registry) -> dict[str, object]:
    """Per family and in total: Kestra names accepted for tasks, triggers, conditions (and
    any other kind), the distinct types behind them, and families missing a library."""
    families: dict[str, dict[str, object]] = {}
    for family in reg.families():
        row: dict[str, object] = {column: 0 for column in ORDER}
        row.update(types=0, total=0, missing=bool(family["missing"]))
        for type_name in family["types"]:  # type: ignore[union-attr]
            try:
                cls = reg.get(str(type_name))
            except UnknownType:  # its canonical name is claimed twice
                continue
            names = _accepted(reg, cls)
            if not names:
                continue
            column = COLUMNS.get(str(getattr(cls, "kind", "")), "other")
            row[column] = int(row[column]) + len(names)  # type: ignore[call-overload]
            row["total"] = int(row["total"]) + len(names)  # type: ignore[call-overload]
            row["types"] = int(row["types"]) + 1  # type: ignore[call-overload]
            if missing_requirement(cls):
                row["missing"] = True
        if row["total"]:
            families[str(family["name"])] = row
    total: dict[str, int] = {
        key: sum(int(r[key]) for r in families.values())  # type: ignore[call-overload]
        for key in (*ORDER, "types", "total")
    }
    return {"families": families, "total": total}


def render(counts: dict[str, object]) -> str:
    """A plain table, one family a line, the total last."""
    families: dict[str, dict[str, object]] = counts["families"]  # type: ignore[assignment]
    total: dict[str, int] = counts["total"]  # type: ignore[assignment]
    columns = [c for c in ORDER if c != "other" or total["other"]] + ["total", "types"]
    width = max([len("family"), len("total"), *map(len, families)]) + 2
    lines = ["family".ljust(width) + "".join(c.rjust(12) for c in columns)]
    for name, row in sorted(families.items()):
        mark = "  (library missing)" if row["missing"] else ""
        lines.append(name.ljust(width) + "".join(str(row[c]).rjust(12) for c in columns) + mark)
    lines.append("total".ljust(width) + "".join(str(total[c]).rjust(12) for c in columns))
    lines.append(
        f"\n{total['total']} Kestra type names ({' or '.join(p + '*' for p in PREFIXES)}) "
        f"accepted, for "
        f"{total['types']} types: {total['tasks']} task names, {total['triggers']} trigger "
        f"names, {total['conditions']} condition names, in {len(families)} families."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    counts = count()
    for problem in registry.problems():
        sys.stderr.write(f"load problem: {problem.error} ({problem.source.label()})\n")
    sys.stdout.write((json.dumps(counts, indent=2) if "--json" in args else render(counts)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
