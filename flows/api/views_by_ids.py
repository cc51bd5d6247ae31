"""Kestra's ``by-ids`` bulk actions: a JSON list of ``{namespace, id}`` in, all or nothing.

Every flow named must exist (else 404 listing the missing ones, and nothing changes).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from flows import selectors, services
from flows.api.serializers import BulkResultSerializer, FlowRefSerializer
from flows.api.views_bulk import zip_response
from flows.models import Flow
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES


def flows_by_ids(request) -> list[Flow]:
    refs = FlowRefSerializer(data=request.data, many=True)
    refs.is_valid(raise_exception=True)
    flows, missing = [], []
    for index, ref in enumerate(refs.validated_data):
        try:
            flows.append(selectors.flow_get(ref["namespace"], ref["id"]))
        except Flow.DoesNotExist:
            missing.append(
                {
                    "field": f"[{index}]",
                    "message": f"flow {ref['namespace']}.{ref['id']} does not exist",
                }
            )
    if missing:
        raise ApiProblem(
            "some flows do not exist; nothing changed", status_code=404, errors=missing
        )
    return flows


class FlowStateByIdsView(ApiView):
    disabled = False

    @extend_schema(
        request=FlowRefSerializer(many=True),
        responses={200: BulkResultSerializer, **PROBLEM_RESPONSES},
    )
    def post(self, request):
        flows = flows_by_ids(request)
        for flow in flows:
            services.flow_set_disabled(flow=flow, disabled=self.disabled, author=request.user)
        return Response({"count": len(flows)})


class FlowEnableView(FlowStateByIdsView):
    disabled = False


class FlowDisableView(FlowStateByIdsView):
    disabled = True


class FlowDeleteByIdsView(ApiView):
    @extend_schema(
        operation_id="flows_delete_by_ids",
        request=FlowRefSerializer(many=True),
        responses={200: BulkResultSerializer, **PROBLEM_RESPONSES},
    )
    def delete(self, request):
        flows = flows_by_ids(request)
        for flow in flows:
            services.flow_delete(flow=flow, author=request.user)
        return Response({"count": len(flows)})


class FlowExportByIdsView(ApiView):
    @extend_schema(
        operation_id="flows_export_by_ids",
        request=FlowRefSerializer(many=True),
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **PROBLEM_RESPONSES},
    )
    def post(self, request):
        return zip_response(flows_by_ids(request))
