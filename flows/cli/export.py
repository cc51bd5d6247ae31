"""``flow export NAMESPACE [--dir D]``: the sources of a namespace's flows, byte for byte."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from flows.cli.base import fail
from flows.selectors import flows_search


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the flows of NAMESPACE (and inside it) as YAML",
        description="Without --dir, print the sources separated by '---' lines; with --dir, "
        "write D/<namespace>/<id>.yaml (which `flow deploy D` reads back).",
    )
    parser.add_argument("namespace", metavar="NAMESPACE")
    parser.add_argument("--dir", metavar="D", help="folder to write into (created if missing)")
    parser.set_defaults(handler=handle)


def handle(command: BaseCommand, options: dict) -> None:
    flows = list(flows_search(namespace=options["namespace"]))
    if not flows:
        raise fail(f"no flows in namespace {options['namespace']!r}")
    if not options["dir"]:
        for index, flow in enumerate(flows):
            if index:
                command.stdout.write("---")
            command.stdout.write(flow.source, ending="" if flow.source.endswith("\n") else "\n")
        return
    for flow in flows:
        path = Path(options["dir"]) / flow.namespace.name / f"{flow.flow_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(flow.source)
        command.stdout.write(str(path))
