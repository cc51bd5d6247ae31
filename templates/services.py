"""Template use cases: deploy and delete (keyword-only, one transaction each).

A template document has the shape of a small flow (``id``, ``namespace``, ``description``,
``tasks``, ``errors``), so it is validated with the flow parser: the same type names, the same
file:line:col errors. Keys a template cannot have are refused at their line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from django.db import transaction
from django.db.models.functions import Lower

from access.policy import Action, check
from flows.services.common import check_size, line_of_key, namespace_ensure, problem
from flows.services.deploy import parse_source
from kernel.spec.model import FlowSpec, SpecError
from templates.models import Template

TEMPLATE_KEYS = frozenset({"id", "namespace", "description", "tasks", "errors"})


@dataclass(frozen=True)
class TemplateDeployResult:
    template: Template
    created: bool
    #: False when the source was identical and nothing was written.
    changed: bool


def template_parse(source: str, *, filename: str = "<template>") -> tuple[FlowSpec, dict]:
    """Validate a template document; returns its spec and the raw mapping. Raises SpecError."""
    check_size(source, filename)
    spec = parse_source(source, filename=filename)
    raw = yaml.safe_load(source)
    extra = sorted(set(raw) - TEMPLATE_KEYS)
    if extra:
        raise SpecError(
            [
                problem(
                    filename,
                    f"{key!r} is not allowed in a template (allowed: {', '.join(sorted(TEMPLATE_KEYS))})",
                    line=line_of_key(source, key),
                    path=key,
                )
                for key in extra
            ]
        )
    return spec, raw


def template_deploy(
    *, source: str, author: Any = None, filename: str = "<template>"
) -> TemplateDeployResult:
    """Create or update the template ``source`` describes; identical source changes nothing.

    ``author`` is the acting user, who needs write access to the template's namespace, or
    None for a trusted operator (templates keep no history of authors).
    """
    spec, raw = template_parse(source, filename=filename)
    check(author, spec.namespace, Action.WRITE)
    with transaction.atomic():
        namespace = namespace_ensure(spec.namespace)
        template = (
            Template.objects.select_for_update()
            .alias(id_lower=Lower("template_id"))
            .filter(namespace=namespace, id_lower=spec.id.lower())
            .first()
        )
        if template is None:
            template = Template.objects.create(
                namespace=namespace,
                template_id=spec.id,
                source=source,
                description=spec.description or "",
                tasks=raw.get("tasks") or [],
                errors=raw.get("errors") or [],
            )
            return TemplateDeployResult(template=template, created=True, changed=True)
        if template.template_id != spec.id:
            raise SpecError(
                [
                    problem(
                        filename,
                        f"template {template.template_id!r} already exists in namespace "
                        f"{namespace.name!r}; ids that differ only by case are not allowed",
                        line=line_of_key(source, "id"),
                        path="id",
                    )
                ]
            )
        if template.source == source:
            return TemplateDeployResult(template=template, created=False, changed=False)
        template.source = source
        template.description = spec.description or ""
        template.tasks = raw.get("tasks") or []
        template.errors = raw.get("errors") or []
        template.revision += 1
        template.save()
        return TemplateDeployResult(template=template, created=False, changed=True)


def template_delete(*, template: Template, author: Any = None) -> None:
    """Delete ``template`` for good. Flows that include it fail at their next execution.

    ``author`` needs write access to the template's namespace.
    """
    check(author, template.namespace.name, Action.WRITE)
    with transaction.atomic():
        Template.objects.filter(pk=template.pk).delete()
