"""An execution's stored files, and following an execution as server-sent events."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer

from executions.api.common import execution_or_404
from executions.api.documents import EXECUTION_PREFETCH, execution_document
from executions.api.views import FlowNamedLikeAnAction
from executions.models import Execution
from executions.selectors import execution_stamp
from kernel.states import TERMINAL
from kernel.storage import StorageError
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES
from orchestrator.api.sse import Batch, EventStreamRenderer, follow, sse_response
from orchestrator.storage import default_storage

#: How often a follower looks at the execution's stamp (:func:`execution_stamp`).
POLL_SECONDS = 0.25
SSE_RESPONSE = {(200, "text/event-stream"): OpenApiTypes.STR}


class ExecutionFileView(FlowNamedLikeAnAction, ApiView):
    action_name = "file"

    @extend_schema(
        operation_id="executions_file",
        parameters=[
            OpenApiParameter("path", str, required=True, description="the file's kestra:/// URI")
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **PROBLEM_RESPONSES},
        description="Download one file of this execution (an uploaded input or a task's "
        "output). A URI of another execution's file is a 404.",
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        uri = request.query_params.get("path") or ""
        if not uri:
            raise ApiProblem(
                "path is required", errors=[{"field": "path", "message": "a kestra:/// URI"}]
            )
        storage = default_storage()
        if not storage.belongs_to(uri, execution.namespace, execution.flow_id, execution.id):
            raise NotFound(f"execution {execution.id} has no file {uri}")
        try:
            stream = storage.open(uri)
        except StorageError:
            raise NotFound(f"execution {execution.id} has no file {uri}") from None
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        return FileResponse(stream, as_attachment=True, filename=name)


def execution_poll(execution_id: str):  # noqa: ANN201 - Callable[[tuple | None], Batch]
    """A poll function for :func:`follow`: an event each time the execution or one of its
    task runs changes (:func:`execution_stamp`); done once the terminal state has been sent
    (or the execution was deleted).

    The stamp is read before the document, so a change between the two is sent again on
    the next poll rather than missed.
    """

    def poll(seen: tuple[int, int] | None) -> Batch:
        current = execution_stamp(execution_id)
        if current is None:
            return Batch(cursor=seen, done=True)
        stamp, state = current
        if stamp == seen:
            return Batch(cursor=seen, done=state in TERMINAL)
        execution = (
            Execution.objects.prefetch_related(*EXECUTION_PREFETCH).filter(pk=execution_id).first()
        )
        if execution is None:
            return Batch(cursor=seen, done=True)
        events: list[tuple[str, Any]] = [("execution", execution_document(execution))]
        return Batch(events=events, cursor=stamp, done=execution.state in TERMINAL)

    return poll


class ExecutionFollowView(FlowNamedLikeAnAction, ApiView):
    action_name = "follow"
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        operation_id="executions_follow",
        responses={**SSE_RESPONSE, **PROBLEM_RESPONSES},
        description="Server-sent events: an `execution` event (the execution JSON) now and "
        "each time it or one of its task runs changes, until it has ended; then an `end` "
        "event.",
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        return sse_response(follow(execution_poll(execution.id), interval=POLL_SECONDS))
