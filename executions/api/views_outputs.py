"""Kestra 2.x's outputs routes (``/api/v1/{tenant}/outputs/...``), read by its clients.

Kestra 2 no longer carries outputs in the execution document, so its clients read them here:

* ``GET outputs/executions/{id}``              the flow's outputs (a mapping)
* ``GET outputs/tasks/{id}``                   the task runs that have outputs
* ``GET outputs/tasks/{id}/{taskRunId}``       one task run's outputs (a mapping)

Trellis still puts them in the execution document too; these are the same values, with
secrets masked the same way.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from executions.api.common import execution_or_404
from kernel.secrets import shown
from orchestrator.api.base import ApiView
from orchestrator.api.schema import PROBLEM_RESPONSES

TAGS = ["Executions"]


class ExecutionOutputsView(ApiView):
    @extend_schema(
        operation_id="outputs_execution",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT, **PROBLEM_RESPONSES},
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        return Response(shown(execution.outputs or {}))


class TaskOutputsView(ApiView):
    @extend_schema(
        operation_id="outputs_tasks",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT, **PROBLEM_RESPONSES},
    )
    def get(self, request, execution_id: str):
        execution = execution_or_404(execution_id, request.user)
        runs = execution.task_runs.exclude(outputs={}).order_by("pk")
        return Response(
            [
                {"taskId": run.task_id, "taskRunId": run.id, "value": run.value,
                 "iteration": run.iteration, "inline": True}
                for run in runs
                if run.outputs
            ]
        )  # fmt: skip


class TaskRunOutputsView(ApiView):
    @extend_schema(
        operation_id="outputs_task_run",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT, **PROBLEM_RESPONSES},
    )
    def get(self, request, execution_id: str, task_run_id: str):
        execution = execution_or_404(execution_id, request.user)
        run = execution.task_runs.filter(pk=task_run_id).first()
        if run is None:
            raise NotFound(f"task run {task_run_id} is not in execution {execution_id}")
        return Response(shown(run.outputs or {}))
