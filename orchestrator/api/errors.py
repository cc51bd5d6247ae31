"""One JSON shape for every API error (RFC 9457 "problem details", plus field errors).

    {"type": "urn:trellis:problem:<code>", "title": "...", "status": 422, "detail": "...",
     "errors": [{"path"|"field": "...", "line": 3, "column": 5, "message": "..."}]}

``path`` points into a YAML document (with line and column), ``field`` into a request
parameter or JSON payload. Views raise exceptions; :func:`exception_handler` shapes them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from flows.services.common import FlowError
from kernel.spec.model import SpecError, SpecProblem
from kernel.states import IllegalTransition

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid", "Invalid document"),
    429: ("throttled", "Too many requests"),
}


class ApiProblem(exceptions.APIException):
    """An error with an explicit status, code and item list (``errors``)."""

    def __init__(
        self,
        detail: str,
        *,
        status_code: int = 400,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.problem_code = code
        self.errors = errors or []


class PayloadTooLarge(ApiProblem):
    def __init__(self, size: int | None, limit: int) -> None:
        known = f"{size} bytes; " if size is not None else "too large; "
        super().__init__(
            f"the request body is {known}the limit is {limit}",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


class Conflict(ApiProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, status_code=status.HTTP_409_CONFLICT)


def spec_problem_item(problem: SpecProblem, *, line_offset: int = 0) -> dict[str, Any]:
    return {
        "path": problem.path,
        "line": problem.line + line_offset,
        "column": problem.col,
        "message": problem.message,
    }


class InvalidDocument(ApiProblem):
    """A YAML flow/template document does not validate: 422 with every problem's position."""

    def __init__(self, error: SpecError, *, line_offsets: dict[str, int] | None = None) -> None:
        offsets = line_offsets or {}
        items = [
            spec_problem_item(p, line_offset=offsets.get(p.filename, 0)) for p in error.problems
        ]
        count = len(items)
        super().__init__(
            f"the document has {count} problem{'s' if count != 1 else ''}",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            code="invalid-document",
            errors=items,
        )


def problem_body(
    status_code: int, detail: str, *, code: str | None = None, errors: list | None = None
) -> dict[str, Any]:
    slug, title = TITLES.get(status_code, ("error", "Error"))
    return {
        "type": f"urn:trellis:problem:{code or slug}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
    }


def _field_errors(data: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Flatten DRF's nested ValidationError detail into ``[{field, message}]``."""
    items: list[dict[str, Any]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "non_field_errors":
                name = prefix
            elif isinstance(key, int) or str(key).isdigit():  # a list serializer's item
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            items.extend(_field_errors(value, name))
    elif isinstance(data, list):
        if all(not isinstance(v, dict | list) for v in data):
            items.extend({"field": prefix, "message": str(v)} for v in data)
        else:
            for index, value in enumerate(data):
                items.extend(_field_errors(value, f"{prefix}[{index}]"))
    else:
        items.append({"field": prefix, "message": str(data)})
    return items


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler producing the problem shape for every handled error."""
    if isinstance(exc, SpecError):
        exc = InvalidDocument(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = ApiProblem(str(exc), status_code=413)
    elif isinstance(exc, SuspiciousOperation):  # too many form fields or files, bad headers
        exc = ApiProblem(str(exc) or "the request was refused", status_code=400)
    elif isinstance(exc, PermissionDenied):  # access.policy.AccessDenied among others
        exc = exceptions.PermissionDenied(str(exc) or "forbidden")
    elif isinstance(exc, IllegalTransition | FlowError):
        # a state change the transition table refuses; a flow deleted meanwhile
        exc = Conflict(str(exc))
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound(str(exc) or "not found")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiProblem):
        body = problem_body(
            exc.status_code, str(exc.detail), code=exc.problem_code, errors=exc.errors
        )
    elif isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        body = problem_body(
            400,
            "; ".join(f"{e['field'] or 'request'}: {e['message']}" for e in errors),
            errors=errors,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        body = problem_body(response.status_code, str(detail))
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
