"""Kestra-style paging: ``?page=1&size=25&sort=field:asc`` -> ``{"results": [...], "total": N}``.

Pages start at 1, as in Kestra. Sort keys are public names mapped to model fields by the view,
so a client can never sort on an arbitrary column.

Endpoints where Kestra answers a bare JSON array (a namespace's flows, a flow's revisions, an
execution's logs...) keep that shape through :func:`list_response`: the whole list by default,
a page of it when ``page`` or ``size`` is given, the total in the ``X-Total-Count`` header.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.response import Response

from orchestrator.api.errors import ApiProblem

DEFAULT_SIZE = 25
MAX_SIZE = 500


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiProblem(
            f"{name} must be an integer from {low} to {high}",
            errors=[
                {"field": name, "message": f"expected an integer from {low} to {high}, got {raw!r}"}
            ],
        )
    return value


def sort_fields(params: Mapping[str, str], allowed: Mapping[str, str]) -> list[str]:
    """``sort=id:asc,revision:desc`` (or repeated ``sort``) -> ORM ``order_by`` arguments."""
    raw_values = params.getlist("sort") if hasattr(params, "getlist") else [params.get("sort", "")]
    order: list[str] = []
    for raw in raw_values:
        for part in filter(None, (p.strip() for p in (raw or "").split(","))):
            key, _, direction = part.partition(":")
            direction = (direction or "asc").lower()
            if key not in allowed or direction not in ("asc", "desc"):
                raise ApiProblem(
                    f"cannot sort by {part!r}",
                    errors=[
                        {
                            "field": "sort",
                            "message": f"expected one of {', '.join(sorted(allowed))} "
                            "with :asc or :desc",
                        }
                    ],
                )
            order.append(("-" if direction == "desc" else "") + allowed[key])
    return order


def _sort_value(item: Any, name: str) -> tuple[bool, Any]:
    value = item.get(name) if isinstance(item, Mapping) else getattr(item, name)
    return (value is None, value)  # None last going up, as PostgreSQL orders NULLs


def ordered(items: QuerySet | Sequence[Any], order: Sequence[str]) -> QuerySet | Sequence[Any]:
    """``items`` in ``order`` (``order_by`` arguments from :func:`sort_fields`).

    A queryset is ordered by the database; a list built in Python (plugins, which live in
    no table) is sorted the same way: by each key in turn, ``-`` for descending, stably, so
    the list's own order breaks ties. Mapping items are read by key, others by attribute.
    """
    if not order:
        return items
    if isinstance(items, QuerySet):
        return items.order_by(*order)
    result = list(items)
    for field in reversed(order):  # a stable sort per key, the least significant first
        name = field.removeprefix("-")
        result.sort(key=lambda item: _sort_value(item, name), reverse=field.startswith("-"))
    return result


def paginate(
    request,
    items: QuerySet | Sequence[Any],
    serialize: Callable[[Any], Any],
    *,
    sortable: Mapping[str, str] | None = None,
) -> Response:
    params = request.query_params
    page = _int_param(params, "page", 1, 1, 1_000_000)
    size = _int_param(params, "size", DEFAULT_SIZE, 1, MAX_SIZE)
    if sortable:
        items = ordered(items, sort_fields(params, sortable))
    total = items.count() if isinstance(items, QuerySet) else len(items)
    start = (page - 1) * size
    window = items[start : start + size]
    return Response({"results": [serialize(item) for item in window], "total": total})


TOTAL_HEADER = "X-Total-Count"


def list_response(
    request,
    items: QuerySet | Sequence[Any],
    serialize: Callable[[Any], Any],
    *,
    sortable: Mapping[str, str] | None = None,
) -> Response:
    """A bare JSON list (Kestra's shape for these endpoints), sortable and optionally paged.

    Without ``page`` and ``size`` every item is sent, as Kestra does; with either, one page
    (``size`` defaults to 25, at most 500). ``X-Total-Count`` always holds the full count.
    """
    params = request.query_params
    paged = params.get("page") not in (None, "") or params.get("size") not in (None, "")
    page = _int_param(params, "page", 1, 1, 1_000_000)
    size = _int_param(params, "size", DEFAULT_SIZE, 1, MAX_SIZE)
    if sortable:
        items = ordered(items, sort_fields(params, sortable))
    total = items.count() if isinstance(items, QuerySet) else len(items)
    if paged:
        start = (page - 1) * size
        items = items[start : start + size]
    response = Response([serialize(item) for item in items])
    response[TOTAL_HEADER] = str(total)
    return response
