"""Actions on one execution over HTTP (Kestra's paths): restart, replay, resume, pause, force-run,
unqueue, change-status, a task run's state, labels. Each calls its service with the acting
user (execute access needed: 403 otherwise); a refused action is a 409 with the service's
reason, bad resume inputs a 422, and nothing changes.

``executions/{id}/<action>`` has the shape of ``executions/{namespace}/{flowId}``: as in
Kestra, the action wins, so a flow named like an action is run with its namespace path.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers
from rest_framework.response import Response

from executions import services
from executions.api.common import execution_or_404
from executions.api.documents import EXECUTION_PREFETCH, execution_document
from executions.api.serializers import ExecutionSerializer
from executions.api.views import inputs_problem
from executions.models import Execution
from flows.api.common import int_param
from flows.api.serializers import LabelSerializer
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem, Conflict
from orchestrator.api.parsers import JSONParser
from orchestrator.api.schema import PROBLEM_RESPONSES

CHANGEABLE = tuple(str(s) for s in services.CHANGEABLE_EXECUTION_STATES)


def body_object(request) -> dict[str, Any]:
    """The body as a mapping (a JSON object or form fields; empty when there is no body)."""
    data = request.data
    if hasattr(data, "dict"):  # a form's QueryDict
        return data.dict()
    if isinstance(data, dict):
        return dict(data)
    if not data:
        return {}
    raise ApiProblem(
        "the body must be a JSON object",
        errors=[{"field": "body", "message": f"got a JSON {type(data).__name__}"}],
    )


def state_param(request, name: str, allowed: tuple[str, ...]) -> str:
    """A required state query parameter, one of ``allowed`` (400 otherwise)."""
    raw = (request.query_params.get(name) or "").strip().upper()
    if raw not in allowed:
        raise ApiProblem(
            f"{name} must be one of {', '.join(allowed)}",
            errors=[{"field": name, "message": f"expected one of {', '.join(allowed)}"}],
        )
    return raw


def _document(execution: Execution) -> Response:
    fresh = Execution.objects.prefetch_related(*EXECUTION_PREFETCH).get(pk=execution.pk)
    return Response(execution_document(fresh))


class _ActionView(ApiView):
    parser_classes = [JSONParser, parsers.MultiPartParser, parsers.FormParser]

    def act(self, request, execution: Execution) -> Execution:
        raise NotImplementedError

    def post(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        try:
            return _document(self.act(request, execution))
        except services.InputsError as exc:
            raise inputs_problem(exc) from exc
        except services.ExecutionError as exc:
            raise Conflict(str(exc)) from exc


def _schema(operation: str, text: str, params: list | None = None, body: Any = None) -> Any:
    return extend_schema(
        operation_id=f"executions_{operation}", description=text, parameters=params or [],
        request=body, responses={200: ExecutionSerializer, **PROBLEM_RESPONSES},
    )  # fmt: skip


class RestartView(_ActionView):
    @_schema(
        "restart", "Run the failed task runs of a FAILED/KILLED/WARNING execution again; with "
        "`revision`, on a new execution running that revision of the flow.",
        [OpenApiParameter("revision", int)],
    )  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        revision = int_param(request, "revision")
        return services.execution_restart(execution, revision=revision, actor=request.user)


class ReplayView(_ActionView):
    @_schema(
        "replay", "A new execution starting again at `taskRunId` (from the start without it).",
        [OpenApiParameter("taskRunId", str)],
    )  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_replay(
            execution, request.query_params.get("taskRunId") or None, actor=request.user
        )


class ResumeView(_ActionView):
    @_schema("resume", "Resume a PAUSED execution; the body (JSON, or multipart with FILE "
             "inputs) answers the Pause's onResume.",
             body={"application/json": dict})  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        files = dict(request.FILES.items()) if request.FILES else None
        inputs = {k: v for k, v in body_object(request).items() if k not in (files or {})}
        return services.execution_resume(execution, inputs, files=files, actor=request.user)


class PauseView(_ActionView):
    @_schema("pause", "Pause a RUNNING execution: task runs already running finish, nothing "
             "new starts until it is resumed.")  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_pause(execution, actor=request.user)


class ForceRunView(_ActionView):
    @_schema("force_run", "Start a CREATED/QUEUED execution now (resume a PAUSED one).")
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_force_run(execution, actor=request.user)


class UnqueueView(_ActionView):
    @_schema("unqueue", "Take a QUEUED execution out of its queue (`state`: RUNNING, "
             "CANCELLED or KILLED).", [OpenApiParameter("state", str)])  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        state = request.query_params.get("state") or "CANCELLED"
        return services.execution_unqueue(execution, state, actor=request.user)


class TaskRunStateView(_ActionView):
    @_schema("task_run_state", "Set an ended task run's state: {taskRunId, state}.",
             body={"application/json": dict})  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        body = body_object(request)
        task_run, state = body.get("taskRunId"), body.get("state")
        if not task_run or not state:
            raise ApiProblem("the body needs `taskRunId` and `state`", status_code=400)
        return services.task_run_set_state(execution, str(task_run), str(state), actor=request.user)


class LabelsView(_ActionView):
    @_schema("labels", "Add or replace labels: a list of {key, value}.",
             body={"application/json": LabelSerializer(many=True)})  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        items = request.data if isinstance(request.data, list) else None
        if items is None or not all(isinstance(i, dict) and i.get("key") for i in items):
            raise ApiProblem("the body must be a list of {key, value}", status_code=400)
        return services.execution_set_labels(
            execution, {str(i["key"]): str(i.get("value", "")) for i in items}, actor=request.user
        )


class ChangeStatusView(_ActionView):
    @_schema(
        "change_status", "Give an ended (SUCCESS, WARNING or FAILED) execution another final "
        "state: `status` is SUCCESS, WARNING or FAILED. Its task runs stay as they are.",
        [OpenApiParameter("status", str, required=True, enum=list(CHANGEABLE))],
    )  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_change_status(
            execution, state_param(request, "status", CHANGEABLE), actor=request.user
        )


ACTIONS = {
    "restart": RestartView, "replay": ReplayView, "resume": ResumeView, "pause": PauseView,
    "force-run": ForceRunView, "unqueue": UnqueueView, "state": TaskRunStateView,
    "labels": LabelsView, "change-status": ChangeStatusView,
}  # fmt: skip
