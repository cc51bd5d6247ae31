"""One execution: run a flow (optionally waiting for the end), check inputs, read, delete, kill.

Paths and payloads follow Kestra's ExecutionController: inputs as multipart form fields (or
a JSON object), the execution back in Kestra's JSON shape.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from executions.api.common import (
    datetime_param,
    execution_or_404,
    run_request,
    timeout_param,
)
from executions.api.documents import EXECUTION_PREFETCH, execution_document, labels_document
from executions.api.serializers import ExecutionSerializer, InputsValidationSerializer
from executions.models import Execution
from executions.services import ExecutionError, execution_create, execution_kill, execution_wait
from executions.services.actions import NotFinished, execution_delete
from flows import selectors
from flows.api.common import bool_param, flow_or_404, int_param
from flows.models import Flow
from kernel.inputs import InputsError, coerce_inputs
from kernel.secrets import shown_inputs
from kernel.spec.model import FlowSpec
from kernel.states import TERMINAL
from kernel.storage import sanitize_filename
from orchestrator.api.base import ApiView, check_body_size
from orchestrator.api.errors import ApiProblem, Conflict
from orchestrator.api.parsers import JSONParser
from orchestrator.api.schema import PROBLEM_RESPONSES

#: Run requests: any declared input may be a form field, a file, or a JSON member.
RUN_REQUEST = {
    "multipart/form-data": OpenApiTypes.OBJECT,
    "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
    "application/json": OpenApiTypes.OBJECT,
}
RUN_PARAMS = [
    OpenApiParameter(
        "labels", str, many=True, description="key:value, repeatable (added to the flow's)"
    ),
    OpenApiParameter("revision", int, description="the flow revision to run (default: latest)"),
]
WAIT_PARAMS = [
    OpenApiParameter("wait", bool, description="answer once the execution has ended"),
    OpenApiParameter(
        "timeout", str, description="with wait: seconds (or ISO-8601 duration), default 60"
    ),
    OpenApiParameter("scheduleDate", OpenApiTypes.DATETIME, description="start it later"),
]
EXECUTION_ID = OpenApiParameter("execution_id", str, OpenApiParameter.PATH)


def inputs_problem(error: InputsError) -> ApiProblem:
    """422 naming each bad input (``field``) with Kestra's wording of the problem."""
    count = len(error.errors)
    return ApiProblem(
        f"{count} invalid input{'s' if count != 1 else ''}: {error}",
        status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        code="invalid-inputs",
        errors=[
            {"field": key, "message": f"Invalid input for `{key}`, {message}"}
            for key, message in error.errors.items()
        ],
    )


class RunRequest(NamedTuple):
    """What a run (or validate) request names and submits."""

    flow: Flow
    revision: int | None
    spec: FlowSpec
    inputs: dict[str, Any]
    files: dict[str, Any]
    labels: dict[str, str]


class _RunView(ApiView):
    parser_classes = [parsers.MultiPartParser, parsers.FormParser, JSONParser]

    def _target(self, request, namespace: str, flow_id: str) -> RunRequest:
        """The flow, the revision asked for, its spec and what the request submitted."""
        check_body_size(request, settings.TRELLIS_MAX_UPLOAD_BYTES)
        flow = flow_or_404(namespace, flow_id, request.user)
        revision = int_param(request, "revision")
        if (
            revision is not None
            and not selectors.flow_revisions(flow).filter(revision=revision).exists()
        ):
            raise NotFound(f"flow {flow} has no revision {revision}")
        spec = selectors.flow_spec(flow, revision=revision)
        inputs, files, labels = run_request(request, {i.id for i in spec.inputs})
        return RunRequest(flow, revision, spec, inputs, files, labels)


class ExecutionCreateView(_RunView):
    @extend_schema(
        operation_id="executions_create",
        request=RUN_REQUEST,
        parameters=RUN_PARAMS + WAIT_PARAMS,
        responses={200: ExecutionSerializer, **PROBLEM_RESPONSES},
        description="Run a flow. Form fields (or JSON members) are its inputs, uploaded files "
        "its FILE inputs. Bad inputs: 422 naming each one, and nothing is created. A disabled "
        "flow: 409. With wait=true the answer is the ended execution (or the execution as it "
        "is when the timeout passes).",
    )
    def post(self, request, namespace: str, flow_id: str):
        run = self._target(request, namespace, flow_id)
        wait = bool_param(request, "wait")
        timeout = timeout_param(request)
        scheduled = datetime_param(request, "scheduleDate")
        try:
            execution = execution_create(
                flow=run.flow,
                inputs=run.inputs,
                files=run.files,
                labels=run.labels,
                revision=run.revision,
                scheduled_at=scheduled,
                actor=request.user,
            )
        except InputsError as exc:
            raise inputs_problem(exc) from exc
        except ExecutionError as exc:
            raise Conflict(str(exc)) from exc
        if wait:
            execution = execution_wait(execution.id, timeout=timeout, poll=0.25)
        return Response(execution_document(execution))


class ExecutionValidateView(_RunView):
    @extend_schema(
        operation_id="executions_validate_inputs",
        request=RUN_REQUEST,
        parameters=RUN_PARAMS,
        responses={200: InputsValidationSerializer, **PROBLEM_RESPONSES},
        description="Check inputs as a run would, without running anything or storing files "
        "(a FILE input shows the uploaded file's name). 422 names each bad input.",
    )
    def post(self, request, namespace: str, flow_id: str):
        run = self._target(request, namespace, flow_id)
        try:
            typed = coerce_inputs(
                run.spec.inputs,
                run.inputs,
                files=run.files,
                store_file=lambda _id, upload: sanitize_filename(getattr(upload, "name", _id)),
            )
        except InputsError as exc:
            raise inputs_problem(exc) from exc
        return Response(
            {
                "namespace": run.spec.namespace,
                "flowId": run.spec.id,
                "revision": run.revision or run.flow.revision,
                "inputs": shown_inputs(typed),  # SECRET ones sealed: shown masked
                "labels": labels_document(run.labels),
            }
        )


class ExecutionDetailView(ApiView):
    @extend_schema(
        operation_id="executions_get", responses={200: ExecutionSerializer, **PROBLEM_RESPONSES}
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user, documents=True)
        return Response(execution_document(execution))

    @extend_schema(
        operation_id="executions_delete",
        responses={204: None, **PROBLEM_RESPONSES},
        description="Delete a finished execution with its logs and files; 409 while it runs.",
    )
    def delete(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        try:
            execution_delete(execution, actor=request.user)
        except NotFinished as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlowNamedLikeAnAction:
    """``executions/{namespace}/{flowId}`` and ``executions/{id}/kill`` share a URL shape;
    a POST there runs the flow ``{namespace}.kill`` (not documented twice)."""

    action_name = ""

    @extend_schema(exclude=True)
    def post(self, request, execution_id: str):
        return ExecutionCreateView().post(request, namespace=execution_id, flow_id=self.action_name)


class ExecutionKillView(FlowNamedLikeAnAction, ApiView):
    action_name = "kill"

    @extend_schema(
        operation_id="executions_kill",
        request=None,
        responses={202: ExecutionSerializer, **PROBLEM_RESPONSES},
        description="Ask a running execution to stop: KILLING now, KILLED once its task runs "
        "have stopped. 409 if it has already ended.",
    )
    def delete(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        if execution.state in TERMINAL:
            raise Conflict(f"execution {execution.id} has already ended ({execution.state})")
        killed = execution_kill(execution, actor=request.user)
        document = execution_document(
            Execution.objects.prefetch_related(*EXECUTION_PREFETCH).get(pk=killed.pk)
        )
        return Response(document, status=status.HTTP_202_ACCEPTED)


__all__ = [
    "ExecutionCreateView",
    "ExecutionDetailView",
    "ExecutionKillView",
    "ExecutionValidateView",
]
