"""Small helpers shared by the flow API views: lookups, query parameters, spec errors."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound

from access.policy import AccessDenied, Action, access_for
from flows import selectors
from flows.api.documents import Document, offsets
from flows.models import Flow
from kernel.spec.model import SpecError
from orchestrator.api.errors import ApiProblem, InvalidDocument


def flow_or_404(namespace: str, flow_id: str, user: Any, action: Action = Action.READ) -> Flow:
    """The live flow, once ``user`` may ``action`` in ``namespace`` (403 before 404, so a
    namespace one may not read tells nothing of what it holds)."""
    access_for(user).check(namespace, action)
    try:
        return selectors.flow_get(namespace, flow_id)
    except Flow.DoesNotExist:
        raise NotFound(f"flow {namespace}.{flow_id} does not exist") from None


def readable_within(user: Any, namespace: str | None) -> None:
    """403 when a search names a ``namespace`` in which ``user`` may read nothing at all
    (rather than a silent empty list); the results are then filtered to what is readable."""
    if namespace and not access_for(user).reads_within(namespace):
        raise AccessDenied(namespace, Action.READ)


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


#: The largest number a revision, attempt... can be (a 32-bit column); larger ones would
#: overflow the database driver rather than match nothing (found by schemathesis).
MAX_INT = 2**31 - 1


def int_param(request, name: str) -> int | None:
    """A non-negative integer query parameter (revision, attempt...), or None when absent."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_INT:
        raise ApiProblem(
            f"{name} must be an integer from 0 to {MAX_INT}",
            errors=[
                {"field": name, "message": f"expected an integer from 0 to {MAX_INT}, got {raw!r}"}
            ],
        )
    return value


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
