"""Many executions: search, and the ``by-ids`` kill and delete actions with a per-id report."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from access.policy import readable
from executions.api.common import datetime_param, in_namespace, states_param
from executions.api.documents import EXECUTION_PREFETCH, execution_document
from executions.api.serializers import ByIdsResultSerializer, ExecutionPageSerializer
from executions.models import Execution
from executions.services import actions
from flows.api.common import labels_param, readable_within
from flows.models import filter_by_labels
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.pagination import paginate
from orchestrator.api.schema import PROBLEM_RESPONSES

#: Public sort keys (Kestra's names first) -> model fields.
EXECUTION_SORTS = {
    "state.startDate": "created_at",
    "state.endDate": "ended_at",
    "state.current": "state",
    "startDate": "created_at",
    "endDate": "ended_at",
    "state": "state",
    "id": "id",
    "namespace": "namespace",
    "flowId": "flow_id",
    "flowRevision": "flow_revision",
}
MAX_IDS = 1000

SEARCH_PARAMS = [
    OpenApiParameter("q", str, description="part of the id, namespace or flow id"),
    OpenApiParameter("namespace", str, description="this namespace and those inside it"),
    OpenApiParameter("flowId", str, description="exact flow id"),
    OpenApiParameter("state", str, many=True, description="current state, repeatable"),
    OpenApiParameter("labels", str, many=True, description="key:value, all must match"),
    OpenApiParameter("startDate", str, description="created at or after (ISO-8601)"),
    OpenApiParameter("endDate", str, description="created at or before (ISO-8601)"),
    OpenApiParameter("triggerType", str, description="the trigger's type (e.g. ...Schedule)"),
    OpenApiParameter("page", int, description="1-based page number"),
    OpenApiParameter("size", int, description="page size (default 25, at most 500)"),
    OpenApiParameter(
        "sort",
        str,
        description="state.startDate, state.endDate, state.current, id, namespace, flowId "
        "or flowRevision, with :asc/:desc (default: newest first)",
    ),
]
IDS_REQUEST = {"application/json": {"type": "array", "items": {"type": "string"}}}


def executions_search(request):  # noqa: ANN201 - a QuerySet[Execution]
    """The executions matching the request's filters, among those the user may read."""
    params = request.query_params
    readable_within(request.user, params.get("namespace"))
    executions = Execution.objects.prefetch_related(*EXECUTION_PREFETCH).order_by(
        "-created_at", "-id"
    )
    executions = readable(executions, request.user)
    executions = in_namespace(executions, params.get("namespace"))
    if flow_id := params.get("flowId"):
        executions = executions.filter(flow_id=flow_id)
    if q := params.get("q"):
        executions = executions.filter(
            Q(id__icontains=q) | Q(namespace__icontains=q) | Q(flow_id__icontains=q)
        )
    if states := states_param(request):
        executions = executions.filter(state__in=states)
    executions = filter_by_labels(executions, labels_param(request) or None, relation="label_rows")
    if (start := datetime_param(request, "startDate")) is not None:
        executions = executions.filter(created_at__gte=start)
    if (end := datetime_param(request, "endDate")) is not None:
        executions = executions.filter(created_at__lte=end)
    if trigger_type := params.get("triggerType"):
        executions = executions.filter(trigger__type=trigger_type)
    return executions


class ExecutionSearchView(ApiView):
    @extend_schema(
        operation_id="executions_search",
        parameters=SEARCH_PARAMS,
        responses={200: ExecutionPageSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request):
        return paginate(
            request, executions_search(request), execution_document, sortable=EXECUTION_SORTS
        )


def ids_body(request) -> list[str]:
    """The JSON list of execution ids a by-ids action names."""
    body = request.data
    if not isinstance(body, list) or not all(isinstance(i, str) and i for i in body):
        raise ApiProblem(
            "the body must be a JSON list of execution ids",
            errors=[{"field": "body", "message": 'expected ["id", ...]'}],
        )
    if not body:
        raise ApiProblem(
            "name at least one execution", errors=[{"field": "body", "message": "empty list"}]
        )
    if len(body) > MAX_IDS:
        raise ApiProblem(
            f"at most {MAX_IDS} executions at once",
            errors=[{"field": "body", "message": f"{len(body)} ids"}],
        )
    return body


def report(results: list[actions.ItemResult]) -> Response:
    return Response(
        {"count": sum(r.ok for r in results), "results": [r.as_dict() for r in results]}
    )


class ExecutionKillByIdsView(ApiView):
    """Kestra's route is ``DELETE``; ``POST`` is accepted too (some clients send no body
    with DELETE)."""

    @extend_schema(
        operation_id="executions_kill_by_ids",
        request=IDS_REQUEST,
        responses={200: ByIdsResultSerializer, **PROBLEM_RESPONSES},
        description="Kill each execution named. Each id gets a result; missing or already "
        "ended executions are reported (ok: false) and do not stop the others.",
    )
    def post(self, request):
        return report(actions.executions_kill(ids_body(request), actor=request.user))

    @extend_schema(
        operation_id="executions_kill_by_ids_delete",
        request=IDS_REQUEST,
        responses={200: ByIdsResultSerializer, **PROBLEM_RESPONSES},
        description="The same as POST (Kestra's method).",
    )
    def delete(self, request):
        return report(actions.executions_kill(ids_body(request), actor=request.user))


class ExecutionDeleteByIdsView(ApiView):
    @extend_schema(
        operation_id="executions_delete_by_ids",
        request=IDS_REQUEST,
        responses={200: ByIdsResultSerializer, **PROBLEM_RESPONSES},
        description="Delete each finished execution named, with its logs and files. Missing "
        "or still active executions are reported (ok: false) and left alone.",
    )
    def delete(self, request):
        return report(actions.executions_delete(ids_body(request), actor=request.user))
