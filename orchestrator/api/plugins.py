"""``GET /api/v1/plugins``: every task and trigger type with its JSON schema, and the plugin
(entry point) it came from; ``GET /api/v1/plugins/families``: each plugin family with its
types and the load problems (a plugin that failed to import, a name claimed twice).

A bare JSON array like Kestra's, sortable and optionally paged as every such list is
(``orchestrator.api.pagination.list_response``). A URLconf module too (``urlpatterns``),
included by ``orchestrator.urls``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from flows.schema import flow_schema
from kernel.plugin import PluginType
from kernel.plugin_schema import json_schema, plugin_kind
from kernel.registry import UnknownType, registry
from orchestrator.api.base import ApiView
from orchestrator.api.pagination import list_response
from orchestrator.api.schema import PROBLEM_RESPONSES, page_params


class PluginSerializer(serializers.Serializer):
    type = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    kind = serializers.ChoiceField(["runnable", "flowable", "trigger"])
    schema = serializers.DictField()
    plugin = serializers.CharField(allow_null=True, help_text="The entry point (family).")
    module = serializers.CharField(allow_null=True)
    extra = serializers.CharField(
        allow_null=True, help_text="The pyproject extra installing its optional libraries."
    )
    requires = serializers.ListField(child=serializers.CharField())


class FamilySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The entry point's name.")
    module = serializers.CharField()
    distribution = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    types = serializers.ListField(child=serializers.CharField())
    aliases = serializers.IntegerField(help_text="How many other (Kestra) names its types have.")
    extras = serializers.ListField(child=serializers.CharField())
    requires = serializers.ListField(child=serializers.CharField())
    missing = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_null=True, help_text="Why the module failed to load.")


class LoadProblemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(["import", "clash"])
    plugin = serializers.CharField()
    module = serializers.CharField()
    distribution = serializers.CharField(allow_null=True)
    error = serializers.CharField()
    names = serializers.ListField(child=serializers.CharField())
    otherPlugin = serializers.CharField(allow_null=True)  # noqa: N815 - JSON field
    otherModule = serializers.CharField(allow_null=True)  # noqa: N815 - JSON field


class FamiliesSerializer(serializers.Serializer):
    families = FamilySerializer(many=True)
    problems = LoadProblemSerializer(many=True)


def plugin_json(cls: type[PluginType]) -> dict[str, Any]:
    source = registry.source_of(cls)
    return {
        "type": cls.type,
        "aliases": list(cls.aliases),
        "kind": plugin_kind(cls),
        "schema": json_schema(cls),
        "plugin": source.name if source else None,
        "module": source.module if source else None,
        "extra": cls.extra,
        "requires": list(cls.requires),
    }


#: Public sort keys -> keys of the rows :class:`PluginListView` sorts (not model fields:
#: plugins live in the registry, not in a table).
PLUGIN_SORTS = {"type": "type", "kind": "kind"}


class PluginListView(ApiView):
    @extend_schema(
        operation_id="plugins_list",
        parameters=[
            OpenApiParameter("kind", str, enum=["runnable", "flowable", "trigger"]),
            *page_params(PLUGIN_SORTS, whole_list=True),
        ],
        responses={200: PluginSerializer(many=True), **PROBLEM_RESPONSES},
        description="Every task and trigger type, by type name unless sorted otherwise.",
    )
    def get(self, request):
        kind = request.query_params.get("kind")
        rows = [
            {"type": name, "kind": plugin_kind(cls), "cls": cls}
            for name, cls in sorted(registry.all().items())
        ]
        if kind:
            rows = [row for row in rows if row["kind"] == kind]
        # Rows first, documents after: only the page sent has its JSON schema built.
        return list_response(
            request, rows, lambda row: plugin_json(row["cls"]), sortable=PLUGIN_SORTS
        )


class PluginDetailView(ApiView):
    @extend_schema(
        operation_id="plugins_get",
        responses={200: PluginSerializer, **PROBLEM_RESPONSES},
        description="One type by its canonical name or any alias (Kestra's names included).",
    )
    def get(self, request, type_name: str):
        try:
            cls = registry.get(type_name)
        except UnknownType as exc:
            raise NotFound(str(exc)) from None
        return Response(plugin_json(cls))


class PluginFamiliesView(ApiView):
    @extend_schema(
        operation_id="plugins_families",
        responses={200: FamiliesSerializer, **PROBLEM_RESPONSES},
        description="Each plugin family (an entry point of the `trellis.plugins` group) with "
        "its types, and the load problems: plugins that failed to import, names claimed twice.",
    )
    def get(self, request):
        families = sorted(registry.families(), key=lambda f: str(f["name"]))
        problems = [p.as_dict() for p in registry.problems()]
        return Response({"families": families, "problems": problems})


class FlowSchemaView(ApiView):
    @extend_schema(
        operation_id="plugins_flow_schema",
        responses={200: dict, **PROBLEM_RESPONSES},
        description="The JSON Schema of a whole flow document (every task and trigger type "
        "of this server), for editors such as VS Code's YAML extension.",
    )
    def get(self, request):
        return Response(flow_schema())


urlpatterns = [
    path("plugins", PluginListView.as_view(), name="api-plugins"),
    path("plugins/families", PluginFamiliesView.as_view(), name="api-plugins-families"),
    path("plugins/schemas/flow", FlowSchemaView.as_view(), name="api-plugins-flow-schema"),
    path("plugins/<str:type_name>", PluginDetailView.as_view(), name="api-plugin"),
]
