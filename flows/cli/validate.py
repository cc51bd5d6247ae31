"""``flow validate PATH...``: check flow files without touching the database."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from flows.cli.base import fail, write_problems, write_warnings
from flows.services.common import collect_documents
from flows.services.deploy import parse_source, spec_warnings
from kernel.spec.model import SpecError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check flow files (or folders of them); exit 1 if any is invalid",
        description="Print file:line:col: message for every problem; exit 1 if any.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a .yml/.yaml file or a folder")
    parser.set_defaults(handler=handle)


def handle(command: BaseCommand, options: dict) -> None:
    documents, problems = collect_documents(options["paths"])
    invalid = {p.filename for p in problems}
    for filename, source in documents:
        try:
            spec = parse_source(source, filename=filename)
        except SpecError as exc:
            problems.extend(exc.problems)
            invalid.add(filename)
        else:
            write_warnings(command, spec_warnings(spec, filename))
    write_problems(command, problems)
    if problems:
        raise fail(f"{len(problems)} problem(s) in {len(invalid)} file(s)")
    command.stdout.write(f"{len(documents)} flow(s) valid")
