"""``manage.py template deploy PATH...`` and ``template delete NAMESPACE ID``."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from flows.cli.base import fail, write_problems
from flows.services.common import collect_documents
from kernel.spec.model import SpecError
from templates.models import Template
from templates.selectors import template_get
from templates.services import template_delete, template_deploy


class Command(BaseCommand):
    help = "Deploy and delete templates (namespaced task lists included by Template tasks)."

    def add_arguments(self, parser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        deploy = subparsers.add_parser(
            "deploy", help="deploy template files or folders (all or nothing)"
        )
        deploy.add_argument("paths", nargs="+", metavar="PATH")
        delete = subparsers.add_parser("delete", help="delete a template")
        delete.add_argument("namespace", metavar="NAMESPACE")
        delete.add_argument("template_id", metavar="ID")

    def handle(self, *args, **options) -> None:
        if options["subcommand"] == "deploy":
            self.deploy(options["paths"])
        else:
            self.delete(options["namespace"], options["template_id"])

    def deploy(self, paths: list[str]) -> None:
        documents, problems = collect_documents(paths)
        results = []
        try:
            with transaction.atomic():
                for filename, source in documents:
                    try:
                        results.append(template_deploy(source=source, filename=filename))
                    except SpecError as exc:
                        problems.extend(exc.problems)
                if problems:
                    raise SpecError(problems)  # roll every template back
        except SpecError as exc:
            write_problems(self, exc.problems)
            raise fail(f"nothing deployed: {len(exc.problems)} problem(s)")
        for r in results:
            status = "created" if r.created else "updated" if r.changed else "unchanged"
            t = r.template
            self.stdout.write(
                f"{t.namespace.name} {t.template_id} revision {t.revision} ({status})"
            )

    def delete(self, namespace: str, template_id: str) -> None:
        try:
            template = template_get(namespace, template_id)
        except Template.DoesNotExist:
            raise fail(f"no template {template_id!r} in namespace {namespace!r}")
        template_delete(template=template)
        self.stdout.write(f"{namespace} {template_id} deleted")
