"""``flow revisions NAMESPACE ID`` and ``flow diff NAMESPACE ID A B``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from flows.cli.base import fail, get_flow
from flows.selectors import flow_revisions
from flows.services import FlowError, flow_revisions_diff


def register(subparsers) -> None:
    parser = subparsers.add_parser("revisions", help="list a flow's revisions, newest first")
    parser.add_argument("namespace", metavar="NAMESPACE")
    parser.add_argument("flow_id", metavar="ID")
    parser.set_defaults(handler=handle_revisions)

    parser = subparsers.add_parser("diff", help="unified diff between two revisions of a flow")
    parser.add_argument("namespace", metavar="NAMESPACE")
    parser.add_argument("flow_id", metavar="ID")
    parser.add_argument("a", type=int, metavar="A")
    parser.add_argument("b", type=int, metavar="B")
    parser.set_defaults(handler=handle_diff)


def handle_revisions(command: BaseCommand, options: dict) -> None:
    flow = get_flow(options["namespace"], options["flow_id"], include_deleted=True)
    for rev in flow_revisions(flow):
        author = rev.author.get_username() if rev.author else "-"
        note = "  deleted" if rev.deleted else ""
        command.stdout.write(
            f"{rev.revision:>4}  {rev.created_at.isoformat(timespec='seconds')}  {author}{note}"
        )


def handle_diff(command: BaseCommand, options: dict) -> None:
    flow = get_flow(options["namespace"], options["flow_id"], include_deleted=True)
    try:
        diff = flow_revisions_diff(flow=flow, a=options["a"], b=options["b"])
    except FlowError as exc:
        raise fail(str(exc))
    command.stdout.write(diff, ending="")
