"""``trellis plugins list``: every plugin family (entry point of ``trellis.plugins``) with its
types, and the load problems the registry recorded (a module that failed to import, a type
name two plugins claim).

  plugins list [--types] [--json] [--strict]

A broken plugin never stops Trellis: only the flows using its types fail validation. This
command is where an operator sees why. ``--strict`` exits 1 when there is a problem (for CI).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from kernel.registry import registry


class Command(BaseCommand):
    help = "List plugin families, their types and the plugins that failed to load."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        listing = sub.add_parser(
            "list",
            help="plugin families with their types, and load problems",
            description="Plugin families with their types, and load problems.",
        )
        listing.add_argument("--types", action="store_true", help="print every type name")
        listing.add_argument("--json", action="store_true")
        listing.add_argument(
            "--strict", action="store_true", help="exit 1 when a plugin has a load problem"
        )

    def handle(self, *args, **options) -> None:
        families = sorted(registry.families(), key=lambda f: str(f["name"]))
        problems = [p.as_dict() for p in registry.problems()]
        if options["json"]:
            self.stdout.write(json.dumps({"families": families, "problems": problems}, indent=2))
        else:
            self._table(families, problems, types=options["types"])
        if options["strict"] and problems:
            raise CommandError(f"{len(problems)} plugin load problem(s)", returncode=1)

    def _table(self, families: list[dict], problems: list[dict], *, types: bool) -> None:
        head = ("FAMILY", "TYPES", "ALIASES", "EXTRA", "MODULE")
        rows = [
            (
                str(f["name"]),
                "failed" if f["error"] else str(len(f["types"])),
                str(f["aliases"]),
                _extra(f),
                f"{f['module']}" + (f" ({f['distribution']})" if f["distribution"] else ""),
            )
            for f in families
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
        for family, row in zip([None, *families], [head, *rows], strict=True):
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
            if types and family is not None:
                for name in family["types"]:
                    self.stdout.write(f"    {name}")
        if not problems:
            return
        self.stdout.write("")
        self.stdout.write(f"load problems ({len(problems)}):")
        for p in problems:
            if p["kind"] == "clash":
                self.stdout.write(f"  clash: {p['error']}")
            else:
                self.stdout.write(
                    f"  plugin {p['plugin']!r} ({p['module']}) failed to load: {p['error']}"
                )


def _extra(family: dict) -> str:
    text = ",".join(family["extras"]) or "-"
    if family["missing"]:
        text += f" (missing: {', '.join(family['missing'])})"
    return text
