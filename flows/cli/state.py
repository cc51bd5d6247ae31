"""``flow enable|disable|delete NAMESPACE ID``."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from flows.cli.base import get_flow
from flows.services import flow_delete, flow_set_disabled


def register(subparsers) -> None:
    for name, handler, text in [
        ("enable", handle_enable, "let a flow run and be triggered again"),
        ("disable", handle_disable, "stop a flow from running or being triggered"),
        ("delete", handle_delete, "delete a flow (its revisions are kept)"),
    ]:
        parser = subparsers.add_parser(name, help=text)
        parser.add_argument("namespace", metavar="NAMESPACE")
        parser.add_argument("flow_id", metavar="ID")
        parser.set_defaults(handler=handler)


def handle_enable(command: BaseCommand, options: dict) -> None:
    flow = flow_set_disabled(
        flow=get_flow(options["namespace"], options["flow_id"]), disabled=False
    )
    command.stdout.write(f"{flow} enabled")


def handle_disable(command: BaseCommand, options: dict) -> None:
    flow = flow_set_disabled(flow=get_flow(options["namespace"], options["flow_id"]), disabled=True)
    command.stdout.write(f"{flow} disabled")


def handle_delete(command: BaseCommand, options: dict) -> None:
    flow = get_flow(options["namespace"], options["flow_id"])
    revision = flow_delete(flow=flow)
    command.stdout.write(f"{flow} deleted (revision {revision.revision})")
