"""Namespaces: a flat list and the tree with flow counts (Kestra's namespace explorer).

A user sees the namespaces they may read and, to hold the tree together, the names of their
parents (a grant on ``a.b`` implies the name ``a``); flows are counted only where readable.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from access.policy import Access, access_for
from flows import selectors
from flows.api.common import readable_within
from flows.selectors import NamespaceNode
from namespaces.models import Namespace
from orchestrator.api.base import ApiView
from orchestrator.api.pagination import list_response
from orchestrator.api.schema import PROBLEM_RESPONSES, page_params

NAMESPACE_SORTS = {"name": "name", "depth": "depth"}


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


def visible_tree(nodes: list[NamespaceNode], access: Access) -> list[NamespaceNode]:
    """The part of the tree ``access`` may see: readable namespaces and their parents, with
    flows counted only in readable ones."""
    kept: list[NamespaceNode] = []
    for node in nodes:
        children = visible_tree(node.children, access)
        if not children and not access.reads_within(node.name):
            continue
        own = node.flow_count if access.allows(node.name, "read") else 0
        kept.append(
            NamespaceNode(
                name=node.name,
                depth=node.depth,
                flow_count=own,
                total_flow_count=own + sum(c.total_flow_count for c in children),
                children=children,
            )
        )
    return kept


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
        parameters=[
            OpenApiParameter("q", str, description="namespace and those inside it"),
            *page_params(NAMESPACE_SORTS, whole_list=True),
        ],
        responses={200: NamespaceSerializer(many=True), **PROBLEM_RESPONSES},
        description="The namespaces the user may read, by name.",
    )
    def get(self, request):
        prefix = request.query_params.get("q")
        readable_within(request.user, prefix)
        rows = (
            selectors.namespace_descendants(prefix, include_self=True)
            if prefix
            else Namespace.objects.all()
        )
        rows = rows.filter(access_for(request.user).readable_q("name"))
        rows = rows.select_related("parent").order_by("name")
        return list_response(
            request,
            rows,
            lambda ns: {
                "name": ns.name,
                "parent": ns.parent.name if ns.parent else None,
                "depth": ns.depth,
            },
            sortable=NAMESPACE_SORTS,
        )


class NamespaceTreeView(ApiView):
    @extend_schema(
        operation_id="namespaces_tree",
        responses={200: NamespaceNodeSerializer(many=True), **PROBLEM_RESPONSES},
        description="Every namespace as a tree (roots first), with live flow counts: those "
        "the user may read, and the names of their parents.",
    )
    def get(self, request):
        tree = visible_tree(selectors.namespace_tree(), access_for(request.user))
        return Response([node_json(root) for root in tree])
