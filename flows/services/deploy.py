"""Deploying one flow document (``flow_deploy``); a folder is ``flows.services.folders``.

Revision rules (issue: flow catalogue):
* a new flow starts at revision 1;
* a source identical byte for byte to the current one makes no revision;
* any other source makes revision N+1, kept in ``FlowRevision``;
* deploying a deleted flow re-creates it and continues its numbering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from access.policy import Action, check
from flows.models import Flow, FlowLabel, FlowRevision
from flows.services.common import (
    check_size,
    line_of_key,
    namespace_ensure,
    problem,
)
from flows.services.hooks import deploy_warnings, notify_flow_changed
from kernel.spec import parse as spec_module
from kernel.spec.model import FlowSpec, SpecError, SpecProblem


@dataclass(frozen=True)
class DeployResult:
    flow: Flow
    #: The flow's current revision number after the deploy.
    revision: int
    #: True for a new flow and for a deleted flow deployed again.
    created: bool
    #: False when the source was identical and nothing was written.
    changed: bool
    warnings: tuple[SpecProblem, ...] = ()


def parse_source(source: str, *, filename: str = "<flow>") -> FlowSpec:
    """Size check then ``parse_flow``; raises SpecError with every problem."""
    check_size(source, filename)
    return spec_module.parse_flow(source, filename=filename)


def spec_warnings(spec: FlowSpec, filename: str = "<flow>") -> tuple[SpecProblem, ...]:
    """The parser's warnings and the other apps' (a Flow trigger that will never fire
    because its namespace is not allowed, issue 21): what deploy and validate print."""
    return (
        *spec.warnings,
        *(problem(filename, message, path=path) for path, message in deploy_warnings(spec)),
    )


def flow_deploy(*, source: str, author: Any = None, filename: str = "<flow>") -> DeployResult:
    """Create or update the flow that ``source`` describes, in one transaction.

    Invalid YAML raises ``SpecError`` (every problem with its line and column) and changes
    nothing. ``author`` is the acting user, who needs write access to the flow's namespace
    (``access.policy.AccessDenied`` otherwise), or None for a trusted operator (CLI, examples).
    """
    spec = parse_source(source, filename=filename)
    check(author, spec.namespace, Action.WRITE)
    with transaction.atomic():
        return apply_spec(spec=spec, source=source, author=author, filename=filename)


def apply_spec(*, spec: FlowSpec, source: str, author: Any, filename: str) -> DeployResult:
    """Write a parsed flow. Caller holds a transaction; SpecError for a case-only id clash."""
    namespace = namespace_ensure(spec.namespace)
    flow = (
        Flow.objects.select_for_update()
        .alias(id_lower=Lower("flow_id"))
        .filter(namespace=namespace, id_lower=spec.id.lower())
        .first()
    )
    warnings = spec_warnings(spec, filename)
    if flow is None:
        flow = Flow.objects.create(
            namespace=namespace,
            flow_id=spec.id,
            revision=1,
            source=source,
            description=spec.description or "",
            disabled=spec.disabled,
        )
        _record(flow=flow, spec=spec, author=author)
        return DeployResult(flow=flow, revision=1, created=True, changed=True, warnings=warnings)

    if flow.flow_id != spec.id and not flow.deleted:
        raise SpecError(
            [
                problem(
                    filename,
                    f"flow {flow.flow_id!r} already exists in namespace {namespace.name!r}; "
                    "ids that differ only by case are not allowed",
                    line=line_of_key(source, "id"),
                    path="id",
                )
            ]
        )
    if not flow.deleted and flow.source == source:
        return DeployResult(
            flow=flow, revision=flow.revision, created=False, changed=False, warnings=warnings
        )

    recreated = flow.deleted
    flow.flow_id = spec.id
    flow.revision += 1
    flow.source = source
    flow.description = spec.description or ""
    flow.disabled = spec.disabled
    flow.deleted = False
    flow.save()
    _record(flow=flow, spec=spec, author=author)
    return DeployResult(
        flow=flow, revision=flow.revision, created=recreated, changed=True, warnings=warnings
    )


def _record(*, flow: Flow, spec: FlowSpec, author: Any) -> None:
    """Write the flow's current revision and labels, then run the hooks."""
    FlowRevision.objects.create(
        flow=flow, revision=flow.revision, source=flow.source, author=_user_or_none(author)
    )
    FlowLabel.objects.filter(flow=flow).delete()
    FlowLabel.objects.bulk_create(
        FlowLabel(flow=flow, key=str(key), value="" if value is None else str(value))
        for key, value in spec.labels.items()
    )
    notify_flow_changed(flow, spec)


def _user_or_none(author: Any) -> Any:
    """Anonymous users (and None) are recorded as no author."""
    if author is None or not getattr(author, "is_authenticated", False):
        return None
    return author
