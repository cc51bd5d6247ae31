"""``manage.py import-kestra PATH... [--dry-run] [--strict]``: deploy what Kestra exported.

PATH is a folder (searched recursively), a YAML file or a zip archive of Kestra's export;
files under a ``templates`` folder are templates. One line per file says what happened:

    accepted     io.kestra.tests.minimal  flows/minimal.yaml  (created, revision 1)
    deprecated   io.kestra.tests.each     flows/each.yaml  (created, revision 1)
                 flows/each.yaml:7:11: 'io.kestra.core.tasks.flows.EachSequential' is ...
    unsupported  flows/jdbc.yaml
                 flows/jdbc.yaml:9:11: unknown type 'io.kestra.plugin.jdbc.postgresql.Query'

Refused files change nothing; the others are deployed in one transaction (``--strict``: only
if no file is refused; ``--dry-run``: never). Exit status 1 when a file is refused.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from flows.kestra_import import ACCEPTED, DEPRECATED, UNSUPPORTED, kestra_import


class Command(BaseCommand):
    help = "Deploy flows and templates exported from Kestra, reporting per file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH",
                            help="a folder, a .yml/.yaml file or a .zip export")  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="report only, deploy nothing")
        parser.add_argument(
            "--strict", action="store_true", help="deploy nothing if any file is refused"
        )

    def handle(self, *args, **options) -> None:
        report = kestra_import(options["paths"], dry_run=options["dry_run"],
                               strict=options["strict"])  # fmt: skip
        for file in report.files:
            done = f"  ({file.outcome}, revision {file.revision})" if file.outcome else ""
            self.stdout.write(f"{file.status:<12} {file.name or '-'}  {file.filename}{done}")
            for line in [*file.warnings, *file.problems]:
                self.stdout.write(f"{'':<12} {line}")
        counts = {s: len(report.of(s)) for s in (ACCEPTED, DEPRECATED, UNSUPPORTED)}
        self.stdout.write(
            f"{counts[ACCEPTED]} accepted as is, {counts[DEPRECATED]} accepted with "
            f"deprecations, {counts[UNSUPPORTED]} not supported; "
            + ("deployed." if report.deployed else "nothing deployed.")
        )
        if counts[UNSUPPORTED]:
            raise CommandError(f"{counts[UNSUPPORTED]} file(s) not supported", returncode=1)
