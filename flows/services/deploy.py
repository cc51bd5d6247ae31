"""Deploying flows: one document (``flow_deploy``) or a whole folder (``flows_deploy_folder``).

Revision rules (issue: flow catalogue):
* a new flow starts at revision 1;
* a source identical byte for byte to the current one makes no revision;
* any other source makes revision N+1, kept in ``FlowRevision``;
* deploying a deleted flow re-creates it and continues its numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from access.policy import Action, check, check_all
from flows.models import Flow, FlowLabel, FlowRevision
from flows.services.common import (
    check_size,
    collect_documents,
    line_of_key,
    namespace_ensure,
    problem,
)
from flows.services.hooks import deploy_warnings, notify_flow_changed
from kernel.spec import parse as spec_module
from kernel.spec.parse import FlowSpec, SpecError, SpecProblem


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


@dataclass(frozen=True)
class FolderDeployResult:
    #: One result per document, in the order the documents were given (files sorted by path).
    results: list[DeployResult]
    #: Flows deleted by ``delete_missing``.
    deleted: list[Flow] = field(default_factory=list)


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


def flows_deploy_folder(
    *,
    paths: list[str | Path] | None = None,
    documents: list[tuple[str, str]] | None = None,
    namespace: str | None = None,
    delete_missing: bool = False,
    author: Any = None,
) -> FolderDeployResult:
    """Deploy many flows all-or-nothing: one bad document and nothing is deployed.

    ``paths`` are files or folders (searched recursively for .yml/.yaml, hidden folders
    skipped); ``documents`` are ``(filename, source)`` pairs. Every document is checked before
    anything is written, and ``SpecError`` lists the problems of every file.

    ``namespace``: every flow must be in it or inside it. ``delete_missing`` deletes live flows
    not among the documents: within ``namespace`` and the namespaces inside it when given,
    otherwise within exactly the namespaces the documents use. ``author`` needs write access
    to all of those namespaces (checked before anything is written).
    """
    docs = list(documents or [])
    problems: list[SpecProblem] = []
    if paths:
        found, problems = collect_documents(list(paths))
        docs.extend(found)
    if not docs and not problems:
        problems.append(problem("<input>", "no flow documents given"))

    parsed: list[tuple[str, str, FlowSpec]] = []
    seen: dict[tuple[str, str], str] = {}
    for filename, source in docs:
        try:
            spec = parse_source(source, filename=filename)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        key = (spec.namespace, spec.id.lower())
        if key in seen:
            problems.append(
                problem(
                    filename,
                    f"flow {spec.namespace}.{spec.id} is also defined in {seen[key]}",
                    line=line_of_key(source, "id"),
                    path="id",
                )
            )
            continue
        seen[key] = filename
        if namespace and not (
            spec.namespace == namespace or spec.namespace.startswith(f"{namespace}.")
        ):
            problems.append(
                problem(
                    filename,
                    f"namespace {spec.namespace!r} is not inside {namespace!r}",
                    line=line_of_key(source, "namespace"),
                    path="namespace",
                )
            )
            continue
        parsed.append((filename, source, spec))
    if problems:
        raise SpecError(problems)
    # The acting user writes every namespace deployed to, and the one cleaned by delete_missing.
    check_all(
        author,
        [spec.namespace for _, _, spec in parsed]
        + ([namespace] if delete_missing and namespace else []),
        Action.WRITE,
    )

    with transaction.atomic():
        results: list[DeployResult] = []
        for filename, source, spec in parsed:
            try:
                results.append(
                    apply_spec(spec=spec, source=source, author=author, filename=filename)
                )
            except SpecError as exc:
                problems.extend(exc.problems)
        if problems:
            raise SpecError(problems)  # leaving the atomic block rolls every write back
        deleted = _delete_missing(results, namespace, author) if delete_missing else []
    return FolderDeployResult(results=results, deleted=deleted)


def _delete_missing(results: list[DeployResult], namespace: str | None, author: Any) -> list[Flow]:
    from flows.services.lifecycle import flow_delete

    kept = {r.flow.pk for r in results}
    candidates = Flow.objects.live().select_related("namespace")
    if namespace:
        candidates = candidates.in_namespace(namespace)
    else:
        names = {r.flow.namespace.name for r in results}
        candidates = candidates.filter(namespace__name__in=names)
    deleted = []
    for flow in candidates.exclude(pk__in=kept).order_by("namespace__name", "flow_id"):
        flow_delete(flow=flow, author=author)
        deleted.append(flow)
    return deleted
