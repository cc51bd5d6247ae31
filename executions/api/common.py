"""Helpers shared by the execution and log views: lookups and query/body parameters."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import NotFound

from access.policy import Action, check, within
from executions.api.documents import EXECUTION_PREFETCH
from executions.log_levels import LEVELS
from executions.models import Execution
from flows.api.common import labels_param
from kernel.durations import DurationError, parse_duration
from kernel.states import State
from orchestrator.api.errors import ApiProblem

#: Log levels, least severe first; ``WARNING`` is read as ``WARN``.
#: Names a run request reads as options (from the query; from the body only when the flow
#: declares no input of that name), never as inputs.
RESERVED = ("labels",)


def execution_or_404(execution_id: str, user: Any, *, documents: bool = False) -> Execution:
    """The execution ``user`` may read (403 if they may not), with what its document needs
    prefetched when ``documents``. Acting on it needs execute access, which the services
    check."""
    executions = Execution.objects.all()
    if documents:
        executions = executions.prefetch_related(*EXECUTION_PREFETCH)
    try:
        execution = executions.get(pk=execution_id)
    except Execution.DoesNotExist:
        raise NotFound(f"execution {execution_id} does not exist") from None
    check(user, execution.namespace, Action.READ)
    return execution


def in_namespace(queryset: QuerySet, namespace: str | None, field: str = "namespace") -> QuerySet:
    """``a.b`` matches ``a.b`` and ``a.b.c``, never ``a.bc`` (as the flow search does)."""
    return within(queryset, namespace, field) if namespace else queryset


def datetime_param(request, name: str) -> datetime | None:
    """An ISO-8601 date or date-time query parameter; a naive one is read as UTC."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    text = raw.strip().replace(" ", "+")  # an unencoded "+01:00" arrives as " 01:00"
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime.combine(day, time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise ApiProblem(
            f"{name} must be an ISO-8601 date or date-time",
            errors=[{"field": name, "message": f"expected e.g. 2024-07-12T05:07:28Z, got {raw!r}"}],
        )
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def states_param(request, name: str = "state") -> list[str]:
    """``?state=RUNNING&state=FAILED`` (or ``state=RUNNING,FAILED``) -> checked state names."""
    wanted: list[str] = []
    for raw in request.query_params.getlist(name):
        for part in filter(None, (p.strip().upper() for p in raw.split(","))):
            if part not in State.__members__:
                raise ApiProblem(
                    f"{name} must be execution states",
                    errors=[
                        {
                            "field": name,
                            "message": f"unknown state {part!r}; expected one of "
                            + ", ".join(s.value for s in State),
                        }
                    ],
                )
            wanted.append(part)
    return wanted


def levels_from(request, name: str = "minLevel") -> list[str] | None:
    """The stored level names at or above ``?minLevel=`` (None when not given)."""
    raw = (request.query_params.get(name) or "").strip().upper()
    if not raw:
        return None
    raw = "WARN" if raw == "WARNING" else raw
    if raw not in LEVELS:
        raise ApiProblem(
            f"{name} must be a log level",
            errors=[{"field": name, "message": f"expected one of {', '.join(LEVELS)}"}],
        )
    levels = list(LEVELS[LEVELS.index(raw) :])
    if "WARN" in levels:
        levels.append("WARNING")
    return levels


def _label_pairs(value: Any, field: str) -> dict[str, str]:
    """Labels sent in a body: ``{"k": "v"}``, ``["k:v"]`` or ``[{"key": k, "value": v}]``."""
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    items = value if isinstance(value, list) else [value]
    labels: dict[str, str] = {}
    for item in items:
        if isinstance(item, dict) and "key" in item:
            labels[str(item["key"])] = str(item.get("value", ""))
            continue
        key, sep, val = str(item).partition(":")
        if not sep or not key:
            raise ApiProblem(
                f"{field} must be key:value pairs",
                errors=[{"field": field, "message": f"expected key:value, got {item!r}"}],
            )
        labels[key] = val
    return labels


def run_request(
    request, input_ids: Collection[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``(inputs, files, labels)`` submitted to run (or validate) a flow.

    Multipart/form fields and JSON members are inputs, uploaded files are FILE inputs; a
    field sent several times is a list (MULTISELECT, ARRAY). ``labels`` come from the query
    and, unless the flow has an input named ``labels``, from the body too.
    """
    labels = labels_param(request)
    data = request.data
    files: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    if hasattr(data, "getlist"):  # a form: a QueryDict of fields and files
        file_names = set(request.FILES.keys())
        for key in request.FILES:
            files[key] = request.FILES[key]
        for key in data:
            if key in file_names:
                continue
            values = data.getlist(key)
            inputs[key] = values[0] if len(values) == 1 else values
    elif isinstance(data, dict):
        inputs = dict(data)
    elif data:
        raise ApiProblem(
            "the body must be a JSON object of inputs, or a multipart form",
            errors=[{"field": "body", "message": f"got a JSON {type(data).__name__}"}],
        )
    for name in RESERVED:
        if name in inputs and name not in input_ids:
            labels.update(_label_pairs(inputs.pop(name), name))
    return inputs, files, labels


def timeout_param(request, default: float = 60.0, maximum: float = 3600.0) -> float:
    """``?timeout=`` in seconds (a number or an ISO-8601 duration such as ``PT30S``)."""

    raw = request.query_params.get("timeout")
    if raw in (None, ""):
        return default
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parse_duration(raw).total_seconds()
        except DurationError:
            seconds = -1.0
    if not 0 < seconds <= maximum:
        raise ApiProblem(
            f"timeout must be a number of seconds from 0 to {maximum:g}, or a duration",
            errors=[{"field": "timeout", "message": f"got {raw!r}"}],
        )
    return seconds
