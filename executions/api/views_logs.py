"""Log lines: one execution's (list, follow as server-sent events, download), and search."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer

from access.policy import readable
from executions.api.common import datetime_param, execution_or_404, in_namespace, levels_from
from executions.api.documents import log_document, log_text_line
from executions.api.serializers import LogEntrySerializer, LogPageSerializer
from executions.api.views_files import POLL_SECONDS, SSE_RESPONSE
from executions.models import Execution, LogEntry
from flows.api.common import int_param, readable_within
from kernel.states import TERMINAL
from orchestrator.api.base import ApiView
from orchestrator.api.pagination import list_response, paginate
from orchestrator.api.schema import PROBLEM_RESPONSES, page_params
from orchestrator.api.sse import Batch, EventStreamRenderer, follow, sse_response

#: Lines sent per poll of a follower.
BATCH = 500
#: Ids below the highest one sent that a follower keeps looking at: with concurrent writers
#: (PostgreSQL), a smaller id may commit after a larger one has been read.
LATE_WINDOW = 200

FILTER_PARAMS = [
    OpenApiParameter("minLevel", str, description="TRACE, DEBUG, INFO, WARN or ERROR"),
    OpenApiParameter("taskRunId", str),
    OpenApiParameter("taskId", str),
    OpenApiParameter("attempt", int, description="attempt number"),
]
LOG_SORTS = {"timestamp": "timestamp", "level": "level", "namespace": "execution__namespace"}


def execution_logs(request, execution: Execution) -> QuerySet[LogEntry]:
    """The execution's lines matching the request's filters, oldest first."""
    lines = LogEntry.objects.filter(execution=execution).select_related("execution")
    if (levels := levels_from(request)) is not None:
        lines = lines.filter(level__in=levels)
    if task_run_id := request.query_params.get("taskRunId"):
        lines = lines.filter(task_run_id=task_run_id)
    if task_id := request.query_params.get("taskId"):
        lines = lines.filter(task_id=task_id)
    if (attempt := int_param(request, "attempt")) is not None:
        lines = lines.filter(attempt=attempt)
    return lines.order_by("timestamp", "id")


class LogsView(ApiView):
    @extend_schema(
        operation_id="logs_list",
        parameters=FILTER_PARAMS + page_params(LOG_SORTS, whole_list=True),
        responses={200: LogEntrySerializer(many=True), **PROBLEM_RESPONSES},
        description="Every log line of the execution, oldest first.",
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        lines = execution_logs(request, execution)
        return list_response(request, lines, log_document, sortable=LOG_SORTS)


def logs_poll(execution_id: str, lines: QuerySet[LogEntry]):  # noqa: ANN201
    """A poll function for :func:`follow` over ``lines``; the cursor is (highest id sent,
    ids sent within :data:`LATE_WINDOW` of it). Done once the execution has ended and
    nothing new is left (the state is read before the lines, so lines written before the
    end are never missed)."""

    def poll(cursor: tuple[int, frozenset[int]] | None) -> Batch:
        last, recent = cursor or (0, frozenset())
        state = Execution.objects.filter(pk=execution_id).values_list("state", flat=True).first()
        fresh = list(
            lines.filter(id__gt=max(0, last - LATE_WINDOW))
            .exclude(id__in=recent)
            .order_by("id")[:BATCH]
        )
        events: list[tuple[str, Any]] = [("log", log_document(line)) for line in fresh]
        if fresh:
            last = max(last, fresh[-1].id)
        recent = frozenset(
            i for i in recent | {line.id for line in fresh} if i > last - LATE_WINDOW
        )
        done = (state is None or state in TERMINAL) and len(fresh) < BATCH
        return Batch(events=events, cursor=(last, recent), done=done)

    return poll


class LogsFollowView(ApiView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="logs_follow",
        parameters=FILTER_PARAMS,
        responses={**SSE_RESPONSE, **PROBLEM_RESPONSES},
        description="Server-sent events: a `log` event per line (those already written, then "
        "new ones as they come), until the execution has ended; then an `end` event.",
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        lines = execution_logs(request, execution)
        return sse_response(follow(logs_poll(execution.id, lines), interval=POLL_SECONDS))


class LogsDownloadView(ApiView):
    @extend_schema(
        operation_id="logs_download",
        parameters=FILTER_PARAMS,
        responses={(200, "text/plain"): OpenApiTypes.STR, **PROBLEM_RESPONSES},
        description="The execution's log as text: `timestamp level [taskId] message` per line.",
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        lines = execution_logs(request, execution)
        response = StreamingHttpResponse(
            (log_text_line(line) + "\n" for line in lines.iterator(chunk_size=2000)),
            content_type="text/plain; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{execution.id}.log"'
        return response


class LogSearchView(ApiView):
    @extend_schema(
        operation_id="logs_search",
        parameters=[
            OpenApiParameter("q", str, description="part of the message"),
            OpenApiParameter("namespace", str, description="this namespace and those inside it"),
            OpenApiParameter("flowId", str, description="exact flow id"),
            OpenApiParameter("minLevel", str, description="TRACE, DEBUG, INFO, WARN or ERROR"),
            OpenApiParameter("startDate", str, description="at or after (ISO-8601)"),
            OpenApiParameter("endDate", str, description="at or before (ISO-8601)"),
            OpenApiParameter("page", int, description="1-based page number"),
            OpenApiParameter("size", int, description="page size (default 25, at most 500)"),
            OpenApiParameter(
                "sort",
                str,
                description="timestamp, level or namespace with :asc/:desc (default: newest first)",
            ),
        ],
        responses={200: LogPageSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request):
        params = request.query_params
        readable_within(request.user, params.get("namespace"))
        lines = LogEntry.objects.select_related("execution").order_by("-timestamp", "-id")
        lines = readable(lines, request.user, "execution__namespace")
        lines = in_namespace(lines, params.get("namespace"), field="execution__namespace")
        if flow_id := params.get("flowId"):
            lines = lines.filter(execution__flow_id=flow_id)
        if (levels := levels_from(request)) is not None:
            lines = lines.filter(level__in=levels)
        if q := params.get("q"):
            lines = lines.filter(Q(message__icontains=q))
        if (start := datetime_param(request, "startDate")) is not None:
            lines = lines.filter(timestamp__gte=start)
        if (end := datetime_param(request, "endDate")) is not None:
            lines = lines.filter(timestamp__lte=end)
        return paginate(request, lines, log_document, sortable=LOG_SORTS)
