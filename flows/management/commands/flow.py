"""``manage.py flow SUBCOMMAND ...``: the flow catalogue from the command line.

Only translates arguments and calls services. Subcommands live in their own modules
(see ``flows.cli.base`` for how to add one). Exit codes: 0 ok, 1 invalid input, 2 usage.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from flows.cli.base import subcommand_modules


class Command(BaseCommand):
    help = "Validate, deploy, export, inspect and manage flows."

    def add_arguments(self, parser) -> None:
        subparsers = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", title="subcommands", required=True
        )
        for module in subcommand_modules():
            module.register(subparsers)

    def handle(self, *args, **options) -> None:
        options["handler"](self, options)
