"""The webhook endpoint: GET/POST/PUT /api/v1/executions/webhook/{namespace}/{flowId}/{key}.

Not authenticated: the key is the secret. The body is read raw (no DRF parser) after its
size is checked, then handed to ``triggers.services.webhook_fire``.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from executions.documents import execution_json
from executions.services import execution_wait
from kernel.depth import TooDeep
from kernel.expressions.render import ExpressionError
from kernel.secrets import shown
from orchestrator.api.base import check_body_size
from orchestrator.api.errors import ApiProblem, PayloadTooLarge, exception_handler
from orchestrator.api.parsers import too_deep_problem
from triggers.services import WebhookCall, WebhookNotFound, webhook_fire
from triggers.signatures import WebhookRefused
from triggers.webhooks import max_webhook_bytes

NOT_FOUND = "Not Found: Flow not found"

_RESPONSES = {
    200: OpenApiResponse(description="The execution (its outputs once ended with `wait`)."),
    204: OpenApiResponse(description="The trigger's conditions are false: no execution."),
    400: OpenApiResponse(description="Signed, but the timestamp is outside the tolerance."),
    404: OpenApiResponse(description="No such flow, webhook or key, or a wrong signature."),
    409: OpenApiResponse(description="Signed, but this delivery id was already received."),
    413: OpenApiResponse(description="The body is larger than TRELLIS_MAX_WEBHOOK_BYTES."),
    422: OpenApiResponse(description="The JSON body nests deeper than 100 levels."),
}


class WebhookView(APIView):
    """Start a flow from its Webhook trigger."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    parser_classes: list = []

    def get_exception_handler(self):
        return exception_handler

    def _handle(self, request, namespace: str, flow_id: str, key: str) -> Response:
        limit = max_webhook_bytes()
        check_body_size(request, limit)
        body = request.body or b""
        if len(body) > limit:
            raise PayloadTooLarge(len(body), limit)
        call = WebhookCall(
            method=request.method,
            body=body,
            headers={name.lower(): [value] for name, value in request.headers.items()},
            parameters={k: request.query_params.getlist(k) for k in request.query_params},
        )
        try:
            result = webhook_fire(namespace=namespace, flow_id=flow_id, key=key, call=call)
        except WebhookNotFound:
            raise NotFound(NOT_FOUND) from None
        except WebhookRefused as exc:  # signed, but stale or replayed: nothing was created
            raise ApiProblem(str(exc), status_code=exc.status_code) from None
        except TooDeep as exc:
            raise too_deep_problem(exc) from None
        except ExpressionError as exc:
            message = shown(f"the trigger's inputs do not render: {exc}")
            raise ApiProblem(message, status_code=422) from None
        if result.execution is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        execution = result.execution
        props = result.trigger.properties
        if props.get("wait") is True:
            timeout = float(getattr(settings, "TRELLIS_WEBHOOK_WAIT_SECONDS", 60))
            execution = execution_wait(execution.id, timeout=timeout)
            if props.get("returnOutputs") is True:
                # The caller is anonymous: secrets in the outputs are masked (issue 21).
                return Response(shown(execution.outputs or {}))
        return Response(execution_json(execution))

    @extend_schema(operation_id="webhook_get", request=None, responses=_RESPONSES)
    def get(self, request, namespace: str, flow_id: str, key: str) -> Response:
        return self._handle(request, namespace, flow_id, key)

    @extend_schema(operation_id="webhook_post", request=None, responses=_RESPONSES)
    def post(self, request, namespace: str, flow_id: str, key: str) -> Response:
        return self._handle(request, namespace, flow_id, key)

    @extend_schema(operation_id="webhook_put", request=None, responses=_RESPONSES)
    def put(self, request, namespace: str, flow_id: str, key: str) -> Response:
        return self._handle(request, namespace, flow_id, key)
