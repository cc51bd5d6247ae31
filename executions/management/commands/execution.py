"""``manage.py execution SUBCOMMAND ...``: look at executions and act on them.

Only translates arguments and calls services (``executions.cli.*`` hold the subcommands).
Exit codes: 0 ok, 1 invalid input or refused action, 2 usage.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from executions.cli import actions, inspect


class Command(BaseCommand):
    help = "List, show, follow, kill, restart, replay and resume executions."

    def add_arguments(self, parser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", title="subcommands", required=True
        )
        inspect.register(subparsers)
        actions.register(subparsers)

    def handle(self, *args, **options) -> None:
        options["handler"](self, options)
