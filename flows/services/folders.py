"""Deploying a whole folder of flow documents in one transaction (``flows_deploy_folder``),
optionally deleting the flows of the namespace that the folder no longer holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from access.policy import Action, check_all
from flows.models import Flow
from flows.services.common import (
    collect_documents,
    line_of_key,
    problem,
)
from flows.services.deploy import DeployResult, apply_spec, parse_source
from flows.services.lifecycle import flow_delete
from kernel.spec.model import FlowSpec, SpecError, SpecProblem


@dataclass(frozen=True)
class FolderDeployResult:
    #: One result per document, in the order the documents were given (files sorted by path).
    results: list[DeployResult]
    #: Flows deleted by ``delete_missing``.
    deleted: list[Flow] = field(default_factory=list)


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
