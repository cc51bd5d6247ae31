"""Namespaces: a flat list and the tree with flow counts (Kestra's namespace explorer)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from flows import selectors
from flows.models import Namespace
from flows.selectors import NamespaceNode
from orchestrator.api.base import ApiView
from orchestrator.api.schema import PROBLEM_RESPONSES


class NamespaceSerializer(serializers.Serializer):
    name = serializers.CharField()
    parent = serializers.CharField(allow_null=True)
    depth = serializers.IntegerField()


class NamespaceNodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    depth = serializers.IntegerField()
    flowCount = serializers.IntegerField()  # noqa: N815 - JSON field name
    totalFlowCount = serializers.IntegerField()  # noqa: N815
    children = serializers.ListField(child=serializers.DictField())


def node_json(node: NamespaceNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "depth": node.depth,
        "flowCount": node.flow_count,
        "totalFlowCount": node.total_flow_count,
        "children": [node_json(child) for child in node.children],
    }


class NamespaceListView(ApiView):
    @extend_schema(
        operation_id="namespaces_list",
        parameters=[OpenApiParameter("q", str, description="namespace and those inside it")],
        responses={200: NamespaceSerializer(many=True), **PROBLEM_RESPONSES},
    )
    def get(self, request):
        prefix = request.query_params.get("q")
        rows = (
            selectors.namespace_descendants(prefix, include_self=True)
            if prefix
            else Namespace.objects.all()
        )
        rows = rows.select_related("parent").order_by("name")
        return Response(
            [
                {
                    "name": ns.name,
                    "parent": ns.parent.name if ns.parent else None,
                    "depth": ns.depth,
                }
                for ns in rows
            ]
        )


class NamespaceTreeView(ApiView):
    @extend_schema(
        operation_id="namespaces_tree",
        responses={200: NamespaceNodeSerializer(many=True), **PROBLEM_RESPONSES},
        description="Every namespace as a tree (roots first), with live flow counts.",
    )
    def get(self, request):
        return Response([node_json(root) for root in selectors.namespace_tree()])
