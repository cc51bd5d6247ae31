"""``flow deploy PATH... [--namespace NS] [--delete-missing]``: all-or-nothing deploy;
``--from-kestra`` judges each file as ``import-kestra`` does instead."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from flows.cli.base import fail, write_problems, write_warnings
from flows.services import flows_deploy_folder
from kernel.spec.model import SpecError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="deploy flow files or folders (nothing is deployed if one is invalid)",
        description="Print 'namespace id revision N (created|updated|unchanged)' per flow.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a .yml/.yaml file or a folder")
    parser.add_argument(
        "--namespace", metavar="NS", help="every flow must be in NS or a namespace inside it"
    )
    parser.add_argument(
        "--delete-missing",
        action="store_true",
        help="delete flows not in the files: within NS (and inside it) with --namespace, "
        "else within the namespaces the files use",
    )
    parser.add_argument(
        "--from-kestra",
        action="store_true",
        help="the paths are Kestra's export (flows, templates, a zip): deploy what is "
        "accepted and report per file, as `import-kestra` does",
    )
    parser.set_defaults(handler=handle)


def handle(command: BaseCommand, options: dict) -> None:
    if options.get("from_kestra"):
        if options["namespace"] or options["delete_missing"]:
            raise fail("--from-kestra takes no --namespace or --delete-missing")
        call_command("import-kestra", *options["paths"], stdout=command.stdout)
        return
    try:
        result = flows_deploy_folder(
            paths=options["paths"],
            namespace=options["namespace"],
            delete_missing=options["delete_missing"],
        )
    except SpecError as exc:
        write_problems(command, exc.problems)
        files = {p.filename for p in exc.problems}
        raise fail(f"nothing deployed: {len(exc.problems)} problem(s) in {len(files)} file(s)")
    for r in result.results:
        status = "created" if r.created else "updated" if r.changed else "unchanged"
        command.stdout.write(
            f"{r.flow.namespace.name} {r.flow.flow_id} revision {r.revision} ({status})"
        )
        write_warnings(command, r.warnings)
    for flow in result.deleted:
        command.stdout.write(
            f"{flow.namespace.name} {flow.flow_id} revision {flow.revision} (deleted)"
        )
