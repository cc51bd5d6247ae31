"""Templates (Kestra's TemplateController): YAML in, Template JSON out."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from access.policy import Action, check, readable
from flows.api.common import bool_param, readable_within
from flows.services.common import line_of_key, problem
from kernel.spec.model import SpecError
from orchestrator.api.base import ApiView, YamlBodyView
from orchestrator.api.errors import Conflict
from orchestrator.api.pagination import list_response, paginate
from orchestrator.api.schema import PROBLEM_RESPONSES, YAML_REQUEST, page_params
from templates import selectors, services
from templates.models import Template

TEMPLATE_SORTS = {"id": "template_id", "namespace": "namespace__name", "updated": "updated_at"}


class TemplateSerializer(serializers.Serializer):
    id = serializers.CharField()
    namespace = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    revision = serializers.IntegerField()
    tasks = serializers.ListField(child=serializers.DictField())
    errors = serializers.ListField(child=serializers.DictField())
    updated = serializers.DateTimeField()
    source = serializers.CharField(required=False)


class TemplatePageSerializer(serializers.Serializer):
    results = TemplateSerializer(many=True)
    total = serializers.IntegerField()


def template_json(template: Template, *, source: bool = False) -> dict[str, Any]:
    body = {
        "id": template.template_id,
        "namespace": template.namespace.name,
        "description": template.description,
        "revision": template.revision,
        "tasks": template.tasks,
        "errors": template.errors,
        "updated": template.updated_at,
    }
    if source:
        body["source"] = template.source
    return body


def templates_search(*, q: str | None = None, namespace: str | None = None) -> QuerySet[Template]:
    """Templates matching ``q`` (id, namespace, description) inside ``namespace``.

    Read-only filter kept here until ``templates.selectors`` offers one (then call that).
    """
    templates = Template.objects.select_related("namespace")
    if q:
        templates = templates.filter(
            Q(template_id__icontains=q)
            | Q(namespace__name__icontains=q)
            | Q(description__icontains=q)
        )
    if namespace:
        templates = templates.filter(
            Q(namespace__name=namespace) | Q(namespace__name__startswith=f"{namespace}.")
        )
    return templates.order_by("namespace__name", "template_id")


def template_or_404(namespace: str, template_id: str, user) -> Template:
    """The template, once ``user`` may read ``namespace`` (403 before 404)."""
    check(user, namespace, Action.READ)
    try:
        return selectors.template_get(namespace, template_id)
    except Template.DoesNotExist:
        raise NotFound(f"template {namespace}.{template_id} does not exist") from None


class TemplateCreateView(YamlBodyView):
    @extend_schema(
        operation_id="templates_create",
        request=YAML_REQUEST,
        responses={201: TemplateSerializer, **PROBLEM_RESPONSES},
    )
    def post(self, request):
        source = self.yaml_body(request)
        spec, _ = services.template_parse(source)
        check(request.user, spec.namespace, Action.WRITE)  # before saying whether it exists
        if Template.objects.filter(
            namespace__name=spec.namespace, template_id__iexact=spec.id
        ).exists():
            raise Conflict(f"template {spec.namespace}.{spec.id} already exists; use PUT")
        result = services.template_deploy(source=source, author=request.user)
        return Response(template_json(result.template, source=True), status=status.HTTP_201_CREATED)


class TemplateDetailView(YamlBodyView):
    @extend_schema(
        operation_id="templates_get",
        parameters=[OpenApiParameter("source", bool)],
        responses={200: TemplateSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request, namespace: str, template_id: str):
        source = bool_param(request, "source")
        template = template_or_404(namespace, template_id, request.user)
        return Response(template_json(template, source=source))

    @extend_schema(
        operation_id="templates_update",
        request=YAML_REQUEST,
        responses={200: TemplateSerializer, **PROBLEM_RESPONSES},
    )
    def put(self, request, namespace: str, template_id: str):
        template = template_or_404(namespace, template_id, request.user)
        source = self.yaml_body(request)
        spec, _ = services.template_parse(source)
        wrong = [
            (key, actual, wanted)
            for key, actual, wanted in (
                ("namespace", spec.namespace, namespace),
                ("id", spec.id, template.template_id),
            )
            if actual != wanted
        ]
        if wrong:
            raise SpecError(
                [
                    problem(
                        "<template>",
                        f"{key} is {actual!r} but the URL names {wanted!r}",
                        line=line_of_key(source, key),
                        path=key,
                    )
                    for key, actual, wanted in wrong
                ]
            )
        result = services.template_deploy(source=source, author=request.user)
        return Response(template_json(result.template, source=True))

    @extend_schema(operation_id="templates_delete", responses={204: None, **PROBLEM_RESPONSES})
    def delete(self, request, namespace: str, template_id: str):
        services.template_delete(
            template=template_or_404(namespace, template_id, request.user), author=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateSearchView(ApiView):
    @extend_schema(
        operation_id="templates_search",
        parameters=[
            OpenApiParameter("q", str),
            OpenApiParameter("namespace", str, description="this namespace and those inside it"),
            *page_params(TEMPLATE_SORTS),
        ],
        responses={200: TemplatePageSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request):
        namespace = request.query_params.get("namespace") or None
        readable_within(request.user, namespace)
        templates = templates_search(q=request.query_params.get("q") or None, namespace=namespace)
        templates = readable(templates, request.user, "namespace__name")
        return paginate(request, templates, template_json, sortable=TEMPLATE_SORTS)


class TemplateNamespaceView(ApiView):
    @extend_schema(
        operation_id="templates_list_namespace",
        parameters=page_params(TEMPLATE_SORTS, whole_list=True),
        responses={200: TemplateSerializer(many=True), **PROBLEM_RESPONSES},
    )
    def get(self, request, namespace: str):
        check(request.user, namespace, Action.READ)
        templates = templates_search(namespace=namespace).filter(namespace__name=namespace)
        return list_response(request, templates, template_json, sortable=TEMPLATE_SORTS)
