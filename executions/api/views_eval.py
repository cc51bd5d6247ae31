"""``POST /executions/{id}/eval/{taskRunId}``: a text/plain expression rendered in that task
run's context; Kestra's ``{result, error, stackTrace}`` back (a rendering error is a 200 with
``error``, as in Kestra's UI)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from executions.api.common import execution_or_404
from executions.services.evaluate import execution_eval
from orchestrator.api.base import YAML_PARSERS, ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES


class ExecutionEvalView(ApiView):
    parser_classes = YAML_PARSERS  # text bodies, kept as sent

    @extend_schema(
        operation_id="executions_eval",
        request={"text/plain": OpenApiTypes.STR},
        responses={200: OpenApiTypes.OBJECT, **PROBLEM_RESPONSES},
        description="Render a text/plain expression in the context of a task run of this "
        "execution (write access: it is as powerful as deploying a flow; `secret()` is "
        "refused and secrets read as `******`): `{result, error, stackTrace}`.",
    )
    def post(self, request, execution_id: str, task_run_id: str):
        execution = execution_or_404(execution_id, request.user)
        body = request.data if isinstance(request.data, str) else None
        if body is None:
            raise ApiProblem("send the expression as a text/plain body", status_code=415)
        try:
            result = execution_eval(execution, task_run_id, body, actor=request.user)
        except LookupError as exc:
            raise ApiProblem(str(exc), status_code=404, code="not-found") from exc
        except ValueError as exc:
            raise ApiProblem(str(exc), status_code=422) from exc
        return Response(result.as_dict())
