"""One flow: create, read (any revision), update, delete, revisions, restore, diff, graph.

Paths and payloads follow Kestra's FlowController: YAML bodies in, Flow JSON out.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from access.policy import Action, check
from flows import confidential, selectors, services
from flows.api.common import MAX_INT, bool_param, flow_or_404, int_param
from flows.api.serializers import (
    FlowSerializer,
    flow_json,
    flow_revision_json,
)
from flows.graph import flow_graph
from flows.models import Flow
from flows.services.common import line_of_key, problem
from flows.services.deploy import parse_source
from kernel.spec.model import SpecError
from orchestrator.api.base import ApiView, YamlBodyView
from orchestrator.api.errors import ApiProblem, Conflict
from orchestrator.api.pagination import list_response
from orchestrator.api.schema import (
    PROBLEM_RESPONSES,
    YAML_REQUEST,
    GraphSerializer,
    RevisionDiffSerializer,
    page_params,
)

SOURCE_PARAM = OpenApiParameter("source", bool, description="include the YAML source")
REVISION_PARAM = OpenApiParameter("revision", int, description="a past revision number")
REVISION_SORTS = {"revision": "revision", "updated": "created_at"}


class FlowCreateView(YamlBodyView):
    @extend_schema(
        operation_id="flows_create",
        request=YAML_REQUEST,
        responses={201: FlowSerializer, **PROBLEM_RESPONSES},
        description="Create a flow from its YAML source. 409 if the flow already exists "
        "(update it with PUT).",
    )
    def post(self, request):
        source = self.yaml_body(request)
        spec = parse_source(source)
        check(request.user, spec.namespace, Action.WRITE)  # before saying whether it exists
        try:
            existing = selectors.flow_get(spec.namespace, spec.id)
        except Flow.DoesNotExist:
            existing = None
        if existing is not None:
            raise Conflict(f"flow {spec.namespace}.{spec.id} already exists; use PUT to update it")
        result = services.flow_deploy(source=source, author=request.user)
        body = flow_json(result.flow, source=True, credentials=True)  # the author may write
        return Response(body, status=status.HTTP_201_CREATED)


class FlowDetailView(YamlBodyView):
    @extend_schema(
        operation_id="flows_get",
        parameters=[SOURCE_PARAM, REVISION_PARAM],
        responses={200: FlowSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request, namespace: str, flow_id: str):
        flow = flow_or_404(namespace, flow_id, request.user)
        source = bool_param(request, "source")
        revision = int_param(request, "revision")
        shown = confidential.may_see(request.user, flow.namespace.name)
        if revision is None or revision == flow.revision:
            return Response(flow_json(flow, source=source, credentials=shown))
        old = selectors.flow_revisions(flow).filter(revision=revision).first()
        if old is None:
            raise NotFound(f"flow {flow} has no revision {revision}")
        return Response(flow_revision_json(flow, old, source=source, credentials=shown))

    @extend_schema(
        operation_id="flows_update",
        request=YAML_REQUEST,
        responses={200: FlowSerializer, **PROBLEM_RESPONSES},
        description="Replace the flow's source; a changed source makes a new revision.",
    )
    def put(self, request, namespace: str, flow_id: str):
        flow = flow_or_404(namespace, flow_id, request.user)
        source = self.yaml_body(request)
        spec = parse_source(source)
        mismatched = [
            (key, actual, wanted)
            for key, actual, wanted in (
                ("namespace", spec.namespace, flow.namespace.name),
                ("id", spec.id, flow.flow_id),
            )
            if actual != wanted
        ]
        if mismatched:
            raise SpecError(
                [
                    problem(
                        "<flow>",
                        f"{key} is {actual!r} but the URL names {wanted!r}; "
                        "a flow's namespace and id cannot change",
                        line=line_of_key(source, key),
                        path=key,
                    )
                    for key, actual, wanted in mismatched
                ]
            )
        result = services.flow_deploy(source=source, author=request.user)
        return Response(flow_json(result.flow, source=True, credentials=True))

    @extend_schema(operation_id="flows_delete", responses={204: None, **PROBLEM_RESPONSES})
    def delete(self, request, namespace: str, flow_id: str):
        flow = flow_or_404(namespace, flow_id, request.user)
        services.flow_delete(flow=flow, author=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FlowRevisionsView(ApiView):
    @extend_schema(
        operation_id="flows_revisions",
        parameters=page_params(REVISION_SORTS, whole_list=True),
        responses={200: FlowSerializer(many=True), **PROBLEM_RESPONSES},
        description="Every revision of the flow, oldest first, each with its source.",
    )
    def get(self, request, namespace: str, flow_id: str):
        flow = flow_or_404(namespace, flow_id, request.user)
        revisions = selectors.flow_revisions(flow).order_by("revision")
        shown = confidential.may_see(request.user, flow.namespace.name)
        return list_response(
            request,
            revisions,
            lambda r: flow_revision_json(flow, r, source=True, credentials=shown),
            sortable=REVISION_SORTS,
        )


class FlowRevisionRestoreView(ApiView):
    @extend_schema(
        operation_id="flows_revision_restore",
        request=None,
        responses={200: FlowSerializer, **PROBLEM_RESPONSES},
        description="Make a new revision with the source of revision N.",
    )
    def post(self, request, namespace: str, flow_id: str, revision: int):
        flow = flow_or_404(namespace, flow_id, request.user)
        if (
            revision > MAX_INT
            or not selectors.flow_revisions(flow).filter(revision=revision).exists()
        ):
            raise NotFound(f"flow {flow} has no revision {revision}")
        result = services.flow_revision_restore(flow=flow, revision=revision, author=request.user)
        return Response(flow_json(result.flow, source=True, credentials=True))


class FlowRevisionsDiffView(ApiView):
    @extend_schema(
        operation_id="flows_revisions_diff",
        parameters=[
            OpenApiParameter("from", int, required=True),
            OpenApiParameter("to", int, required=True),
        ],
        responses={200: RevisionDiffSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request, namespace: str, flow_id: str):
        flow = flow_or_404(namespace, flow_id, request.user)
        numbers = {name: int_param(request, name) for name in ("from", "to")}
        missing = [name for name, value in numbers.items() if value is None]
        if missing:
            raise ApiProblem(
                "from and to are required",
                errors=[{"field": name, "message": "required"} for name in missing],
            )
        known = set(
            selectors.flow_revisions(flow)
            .filter(revision__in=numbers.values())
            .values_list("revision", flat=True)
        )
        for value in numbers.values():
            if value not in known:
                raise NotFound(f"flow {flow} has no revision {value}")
        diff = services.flow_revisions_diff(flow=flow, a=numbers["from"], b=numbers["to"])
        if not confidential.may_see(request.user, flow.namespace.name):
            sources = selectors.flow_revisions(flow).filter(revision__in=numbers.values())
            values = [v for text in sources.values_list("source", flat=True)
                      for v in confidential.credentials_of_source(text)]  # fmt: skip
            diff = confidential.hide_in_text(diff, sorted(set(values), key=len, reverse=True))
        return Response({"from": numbers["from"], "to": numbers["to"], "diff": diff})


class FlowGraphView(ApiView):
    @extend_schema(
        operation_id="flows_graph",
        parameters=[REVISION_PARAM],
        responses={200: GraphSerializer, **PROBLEM_RESPONSES},
        description="The flow's topology: tasks as nodes, flowables as clusters, edges in "
        "execution order.",
    )
    def get(self, request, namespace: str, flow_id: str):
        flow = flow_or_404(namespace, flow_id, request.user)
        revision = int_param(request, "revision")
        if (
            revision is not None
            and not selectors.flow_revisions(flow).filter(revision=revision).exists()
        ):
            raise NotFound(f"flow {flow} has no revision {revision}")
        spec = selectors.flow_spec(flow, revision=revision)
        return Response(flow_graph(spec).as_dict())


__all__ = [
    "FlowCreateView",
    "FlowDetailView",
    "FlowGraphView",
    "FlowRevisionRestoreView",
    "FlowRevisionsDiffView",
    "FlowRevisionsView",
]
