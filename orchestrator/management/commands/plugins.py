"""``trellis plugins list``: every plugin family (entry point of ``trellis.plugins``) with its
types, and the load problems the registry recorded (a module that failed to import, a type
name two plugins claim).

  plugins list [--types] [--json] [--strict]
  plugins docs [--write | --check] [--file PATH]

A broken plugin never stops Trellis: only the flows using its types fail validation. This
command is where an operator sees why. ``--strict`` exits 1 when there is a problem (for CI).

``docs`` prints the type reference generated from the plugin classes (kernel.plugin_docs);
``--write`` puts it into docs/plugins.md between its markers, ``--check`` exits 1 when the
file differs from what the classes say (CI runs it, so the reference cannot drift).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kernel import plugin_docs
from kernel.registry import registry

#: docs/plugins.md of the source tree this module belongs to.
DOCS_FILE = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"


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
        docs = sub.add_parser(
            "docs",
            help="the type reference of docs/plugins.md, generated from the plugin classes",
            description="Print the type reference generated from the plugin classes; with "
            "--write put it into the docs file, with --check exit 1 when the file differs.",
        )
        mode = docs.add_mutually_exclusive_group()
        mode.add_argument("--write", action="store_true", help="rewrite the generated part")
        mode.add_argument(
            "--check", action="store_true", help="exit 1 when the file is not up to date"
        )
        docs.add_argument("--file", default=str(DOCS_FILE), help=f"default: {DOCS_FILE}")

    def handle(self, *args, **options) -> None:
        if options["subcommand"] == "docs":
            self._docs(Path(options["file"]), write=options["write"], check=options["check"])
            return
        families = sorted(registry.families(), key=lambda f: str(f["name"]))
        problems = [p.as_dict() for p in registry.problems()]
        if options["json"]:
            self.stdout.write(json.dumps({"families": families, "problems": problems}, indent=2))
        else:
            self._table(families, problems, types=options["types"])
        if options["strict"] and problems:
            raise CommandError(f"{len(problems)} plugin load problem(s)", returncode=1)

    def _docs(self, path: Path, *, write: bool, check: bool) -> None:
        generated = plugin_docs.render(registry)
        if not (write or check):
            self.stdout.write(generated, ending="")
            return
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        wanted = plugin_docs.splice(current, generated)
        if check:
            if current != wanted:
                raise CommandError(
                    f"{path} is not what the plugin classes say; run "
                    "`trellis plugins docs --write` and commit the result",
                    returncode=1,
                )
            self.stdout.write(f"{path} is up to date")
            return
        if current != wanted:
            path.write_text(wanted, encoding="utf-8")
            self.stdout.write(f"wrote the type reference into {path}")
        else:
            self.stdout.write(f"{path} was up to date")

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
