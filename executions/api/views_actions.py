"""Actions on one execution over HTTP (Kestra's paths): restart, replay, resume, force-run,
unqueue, a task run's state, labels. Each calls its service; a refused action is a 409 with
the service's reason, bad resume inputs a 422, and nothing changes.

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
from flows.api.serializers import LabelSerializer
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem, Conflict
from orchestrator.api.schema import PROBLEM_RESPONSES


def _document(execution: Execution) -> Response:
    fresh = Execution.objects.prefetch_related(*EXECUTION_PREFETCH).get(pk=execution.pk)
    return Response(execution_document(fresh))


class _ActionView(ApiView):
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser, parsers.FormParser]

    def act(self, request, execution: Execution) -> Execution:
        raise NotImplementedError

    def post(self, request, execution_id: str):
        execution = execution_or_404(execution_id)
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
    @_schema("restart", "Run the failed task runs of a FAILED/KILLED/WARNING execution again.")
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_restart(execution)


class ReplayView(_ActionView):
    @_schema(
        "replay", "A new execution starting again at `taskRunId` (from the start without it).",
        [OpenApiParameter("taskRunId", str)],
    )  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_replay(execution, request.query_params.get("taskRunId"))


class ResumeView(_ActionView):
    @_schema("resume", "Resume a PAUSED execution; the body answers the Pause's onResume.",
             body={"application/json": dict})  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        inputs = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        return services.execution_resume(execution, inputs)


class ForceRunView(_ActionView):
    @_schema("force_run", "Start a CREATED/QUEUED execution now (resume a PAUSED one).")
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_force_run(execution)


class UnqueueView(_ActionView):
    @_schema("unqueue", "Take a QUEUED execution out of its queue (`state`: RUNNING, "
             "CANCELLED or KILLED).", [OpenApiParameter("state", str)])  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        return services.execution_unqueue(execution, request.query_params.get("state", "CANCELLED"))


class TaskRunStateView(_ActionView):
    @_schema("task_run_state", "Set an ended task run's state: {taskRunId, state}.",
             body={"application/json": dict})  # fmt: skip
    def post(self, request, execution_id: str):
        return super().post(request, execution_id)

    def act(self, request, execution: Execution) -> Execution:
        task_run, state = request.data.get("taskRunId"), request.data.get("state")
        if not task_run or not state:
            raise ApiProblem("the body needs `taskRunId` and `state`", status_code=400)
        return services.task_run_set_state(execution, str(task_run), str(state))


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
            execution, {str(i["key"]): str(i.get("value", "")) for i in items}
        )


ACTIONS = {
    "restart": RestartView, "replay": ReplayView, "resume": ResumeView,
    "force-run": ForceRunView, "unqueue": UnqueueView, "state": TaskRunStateView,
    "labels": LabelsView,
}  # fmt: skip
