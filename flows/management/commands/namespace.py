"""``manage.py namespace tree``: namespaces with their flow counts."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from flows.selectors import namespace_tree


class Command(BaseCommand):
    help = "Show namespaces."

    def add_arguments(self, parser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        subparsers.add_parser("tree", help="namespaces as a tree: own flows / flows inside")

    def handle(self, *args, **options) -> None:
        roots = namespace_tree()
        if not roots:
            self.stdout.write("no namespaces")
        for root in roots:
            for node in root.walk():
                self.stdout.write(
                    f"{'  ' * node.depth}{node.name}  "
                    f"({node.flow_count} flows, {node.total_flow_count} in total)"
                )
