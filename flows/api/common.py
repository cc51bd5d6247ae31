"""Small helpers shared by the flow API views: lookups, query parameters, spec errors."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound

from flows import selectors
from flows.api.documents import Document, offsets
from flows.models import Flow
from flows.spec import SpecError
from orchestrator.api.errors import ApiProblem, InvalidDocument


def flow_or_404(namespace: str, flow_id: str) -> Flow:
    try:
        return selectors.flow_get(namespace, flow_id)
    except Flow.DoesNotExist:
        raise NotFound(f"flow {namespace}.{flow_id} does not exist") from None


def bool_param(request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no"}:
        return False
    raise ApiProblem(
        f"{name} must be true or false",
        errors=[{"field": name, "message": f"expected true or false, got {raw!r}"}],
    )


def int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiProblem(
            f"{name} must be an integer",
            errors=[{"field": name, "message": f"expected an integer, got {raw!r}"}],
        ) from None


def labels_param(request, name: str = "labels") -> dict[str, str]:
    """``?labels=k:v&labels=k2:v2`` (Kestra's form) -> ``{"k": "v", "k2": "v2"}``."""
    labels: dict[str, str] = {}
    for raw in request.query_params.getlist(name):
        key, sep, value = raw.partition(":")
        if not sep or not key:
            raise ApiProblem(
                f"{name} must be key:value pairs",
                errors=[{"field": name, "message": f"expected key:value, got {raw!r}"}],
            )
        labels[key] = value
    return labels


def invalid_documents(error: SpecError, documents: list[Document]) -> InvalidDocument:
    """A 422 whose lines count from the top of the request body, naming the document."""
    problem = InvalidDocument(error, line_offsets=offsets(documents))
    if len(documents) > 1:
        index = {d.filename: d.index + 1 for d in documents}
        for item, spec_problem in zip(problem.errors, error.problems, strict=True):
            if spec_problem.filename in index:
                item["document"] = index[spec_problem.filename]
    return problem


def flow_ref(flow: Flow) -> dict[str, Any]:
    return {"namespace": flow.namespace.name, "id": flow.flow_id}
