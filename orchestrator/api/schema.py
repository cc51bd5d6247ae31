"""OpenAPI pieces shared by the API views: the problem shape, YAML bodies, common responses."""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ProblemItemSerializer(serializers.Serializer):
    path = serializers.CharField(required=False, help_text="where in the YAML document")
    field = serializers.CharField(required=False, help_text="which request parameter or field")
    line = serializers.IntegerField(required=False)
    column = serializers.IntegerField(required=False)
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = ProblemItemSerializer(many=True)


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


PROBLEM_RESPONSES = {
    400: _problem("bad parameters"),
    401: _problem("not authenticated"),
    403: _problem("not allowed"),
    404: _problem("not found"),
    409: _problem("conflict"),
    413: _problem("body too large"),
    422: _problem("invalid YAML document, with line and column of each problem"),
}


def page_params(sorts: Iterable[str] = (), *, whole_list: bool = False) -> list[OpenApiParameter]:
    """``page``, ``size`` and (when ``sorts``) ``sort`` query parameters, documented once."""
    size_text = "page size (default 25, at most 500)"
    if whole_list:
        size_text += "; without page and size, the whole list (count in X-Total-Count)"
    params = [
        OpenApiParameter("page", int, description="1-based page number"),
        OpenApiParameter("size", int, description=size_text),
    ]
    keys = list(sorts)
    if keys:
        params.append(
            OpenApiParameter("sort", str, description=f"{', '.join(keys)}, each with :asc or :desc")
        )
    return params


#: A YAML document as the request body (``text/plain`` is accepted too).
YAML_REQUEST = {"application/x-yaml": OpenApiTypes.STR, "text/plain": OpenApiTypes.STR}


class GraphNodeSerializer(serializers.Serializer):
    uid = serializers.CharField()
    kind = serializers.ChoiceField(["start", "end", "task", "trigger"])
    taskId = serializers.CharField(allow_null=True)  # noqa: N815 - JSON field name
    type = serializers.CharField(allow_null=True)
    cluster = serializers.CharField(allow_null=True)
    disabled = serializers.BooleanField()


class GraphEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    relation = serializers.CharField()
    value = serializers.CharField(allow_null=True)


class GraphClusterSerializer(serializers.Serializer):
    uid = serializers.CharField()
    taskId = serializers.CharField()  # noqa: N815
    type = serializers.CharField()
    parent = serializers.CharField(allow_null=True)
    start = serializers.CharField()
    end = serializers.CharField()
    nodes = serializers.ListField(child=serializers.CharField())


class GraphSerializer(serializers.Serializer):
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)
    clusters = GraphClusterSerializer(many=True)


class RevisionDiffSerializer(serializers.Serializer):
    diff = serializers.CharField(help_text="unified diff")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.IntegerField()
        fields["to"] = serializers.IntegerField()
        return fields


class TrellisAutoSchema(AutoSchema):
    """drf-spectacular's schema, with one operation id per path form of a shared view.

    The API serves each view twice, unscoped and under Kestra 1.x's ``/api/v1/{tenant}/``
    (orchestrator/api/tenants.py), and some under a Kestra alias too (``.../actions/...``);
    the ids the views declare are given a ``tenant_`` prefix and a ``_kestra`` suffix there
    so every operation stays addressable by id.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):  # noqa: ANN001, ANN201
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if not operation:
            return operation
        operation_id = operation.get("operationId", "")
        if "/actions/" in path:
            operation_id = f"{operation_id}_kestra"
        if "/{tenant}/" in path:
            operation_id = f"tenant_{operation_id}"
            note = "Kestra 1.x's tenant-scoped form of the same endpoint; `tenant` must be `main`."
            described = operation.get("description")
            operation["description"] = f"{described}\n\n{note}" if described else note
        operation["operationId"] = operation_id
        return operation
