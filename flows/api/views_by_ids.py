"""Kestra's ``by-ids`` bulk actions: a JSON list of ``{namespace, id}`` in, all or nothing.

The user must be allowed the action on every flow named (else 403 listing the refused ones)
and every flow must exist (else 404 listing the missing ones); either way nothing changes.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from access.policy import Action, access_for
from flows import selectors, services
from flows.api.serializers import BulkResultSerializer, FlowRefSerializer
from flows.api.views_bulk import zip_response
from flows.models import Flow
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES


def flows_by_ids(request, action: Action = Action.READ) -> list[Flow]:
    refs = FlowRefSerializer(data=request.data, many=True)
    refs.is_valid(raise_exception=True)
    access = access_for(request.user)
    refused = [
        {
            "field": f"[{index}]",
            "message": f"you may not {action} in namespace {ref['namespace']!r}",
        }
        for index, ref in enumerate(refs.validated_data)
        if not access.allows(ref["namespace"], action)
    ]
    if refused:
        names = sorted(
            {
                ref["namespace"]
                for ref in refs.validated_data
                if not access.allows(ref["namespace"], action)
            }
        )
        raise ApiProblem(
            f"you may not {action} in namespace {', '.join(map(repr, names))}; nothing changed",
            status_code=403,
            errors=refused,
        )
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
        flows = flows_by_ids(request, Action.WRITE)
        with transaction.atomic():
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
        flows = flows_by_ids(request, Action.WRITE)
        with transaction.atomic():
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
        return zip_response(flows_by_ids(request), request.user)
