"""Many flows at once: search, a namespace's flows, validate, import/export, enable/disable."""

from __future__ import annotations

import io
import zipfile

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import parsers, serializers
from rest_framework.response import Response

from access.policy import Action, check, readable
from flows import confidential, selectors, services
from flows.api.common import (
    bool_param,
    flow_ref,
    invalid_documents,
    labels_param,
    readable_within,
)
from flows.api.documents import Document, split_documents
from flows.api.serializers import (
    FlowPageSerializer,
    FlowSerializer,
    NamespaceUpdateResultSerializer,
    ValidationResultSerializer,
    flow_json,
)
from flows.archives import ArchiveError, read_checked
from flows.services.common import YAML_SUFFIXES
from flows.services.deploy import parse_source, spec_warnings
from kernel.spec import yaml_loader
from kernel.spec.model import SpecError
from orchestrator.api.base import ApiView, YamlBodyView, check_body_size
from orchestrator.api.errors import ApiProblem, PayloadTooLarge, spec_problem_item
from orchestrator.api.pagination import list_response, paginate
from orchestrator.api.schema import PROBLEM_RESPONSES, YAML_REQUEST, page_params

FLOW_SORTS = {
    "id": "flow_id",
    "namespace": "namespace__name",
    "revision": "revision",
    "updated": "updated_at",
}
SEARCH_PARAMS = [
    OpenApiParameter("q", str, description="part of the id, namespace or description"),
    OpenApiParameter("namespace", str, description="this namespace and those inside it"),
    OpenApiParameter("labels", str, many=True, description="key:value, all must match"),
]
PAGE_PARAMS = [
    OpenApiParameter("page", int, description="1-based page number"),
    OpenApiParameter("size", int, description="page size (default 25, at most 500)"),
    OpenApiParameter(
        "sort", str, description="id, namespace, revision or updated, with :asc/:desc"
    ),
]


def _search(request):
    """The flows matching the request's filters that the user may read (403 when the
    ``namespace`` asked for holds nothing the user may read)."""
    namespace = request.query_params.get("namespace") or None
    readable_within(request.user, namespace)
    flows = selectors.flows_search(
        q=request.query_params.get("q") or None,
        namespace=namespace,
        labels=labels_param(request) or None,
    )
    return readable(flows, request.user, "namespace__name")


class DistinctNamespacesView(ApiView):
    @extend_schema(
        operation_id="flows_distinct_namespaces",
        parameters=page_params(whole_list=True),
        responses={200: {"type": "array", "items": {"type": "string"}}, **PROBLEM_RESPONSES},
        description="Names of the namespaces that hold at least one live flow.",
    )
    def get(self, request):
        flows = readable(selectors.flows_search(), request.user, "namespace__name")
        names = flows.order_by().values_list("namespace__name", flat=True).distinct()
        return list_response(request, sorted(names), str)


class FlowSearchView(ApiView):
    @extend_schema(
        operation_id="flows_search",
        parameters=SEARCH_PARAMS + PAGE_PARAMS,
        responses={200: FlowPageSerializer, **PROBLEM_RESPONSES},
    )
    def get(self, request):
        # whole flows (tasks, triggers...) as Kestra's search answers, credentials hidden
        return paginate(request, _search(request), flow_json, sortable=FLOW_SORTS)


class NamespaceFlowsView(YamlBodyView):
    @extend_schema(
        operation_id="flows_list_namespace",
        parameters=page_params(FLOW_SORTS, whole_list=True),
        responses={200: FlowSerializer(many=True), **PROBLEM_RESPONSES},
        description="The live flows directly in this namespace.",
    )
    def get(self, request, namespace: str):
        check(request.user, namespace, Action.READ)
        flows = selectors.flows_search(namespace=namespace).filter(namespace__name=namespace)
        shown = confidential.may_see(request.user, namespace)
        return list_response(
            request, flows, lambda f: flow_json(f, credentials=shown), sortable=FLOW_SORTS
        )

    @extend_schema(
        operation_id="flows_update_namespace",
        request=YAML_REQUEST,
        parameters=[
            OpenApiParameter(
                "delete",
                bool,
                description="delete the namespace's flows missing from the body "
                "(default true, as in Kestra)",
            )
        ],
        responses={200: NamespaceUpdateResultSerializer, **PROBLEM_RESPONSES},
        description="Deploy every document of a multi-document YAML body (separated by ---) "
        "into this namespace, all or nothing.",
    )
    def post(self, request, namespace: str):
        documents = split_documents(self.yaml_body(request))
        try:
            result = services.flows_deploy_folder(
                documents=[(d.filename, d.source) for d in documents],
                namespace=namespace,
                delete_missing=bool_param(request, "delete", default=True),
                author=request.user,
            )
        except SpecError as exc:
            raise invalid_documents(exc, documents) from exc
        return Response(
            {
                "flows": [flow_json(r.flow, credentials=True) for r in result.results],
                "deleted": [flow_ref(f) for f in result.deleted],
            }
        )


class FlowValidateView(YamlBodyView):
    @extend_schema(
        operation_id="flows_validate",
        request=YAML_REQUEST,
        responses={200: ValidationResultSerializer(many=True), **PROBLEM_RESPONSES},
        description="Check each document of the body; never saves. Lines count from the top "
        "of the body.",
    )
    def post(self, request):
        results = []
        for doc in split_documents(self.yaml_body(request)):
            results.append(_validate(doc))
        return Response(results)


def _validate(doc: Document) -> dict:
    errors, warnings = [], []
    try:
        spec = parse_source(doc.source, filename=doc.filename)
        warnings = [spec_problem_item(p, line_offset=doc.line_offset)
                    for p in spec_warnings(spec, doc.filename)]  # fmt: skip
        namespace, flow_id = spec.namespace, spec.id
    except SpecError as exc:
        errors = [spec_problem_item(p, line_offset=doc.line_offset) for p in exc.problems]
        namespace, flow_id = _best_effort_ids(doc.source)
    return {
        "index": doc.index,
        "namespace": namespace,
        "flow": flow_id,
        "valid": not errors,
        "errors": errors,
        "warnings": warnings,
        # Kestra's one-string form of the errors (what its clients read), null when valid
        "constraints": "\n".join(
            f"{e['path']}: {e['message']}" if e.get("path") else e["message"] for e in errors
        )
        or None,
    }


def _best_effort_ids(source: str) -> tuple[str | None, str | None]:
    try:  # Trellis's loader: bounded depth, no aliases (a refused document stays refused)
        root, _ = yaml_loader.load(source)
    except yaml_loader.YamlProblem:
        return None, None
    if root is None or not root.is_map:
        return None, None
    ns, flow_id = (
        None if node is None else node.plain() for node in (root.get("namespace"), root.get("id"))
    )
    return (str(ns) if ns is not None else None, str(flow_id) if flow_id is not None else None)


class FlowExportView(ApiView):
    @extend_schema(
        operation_id="flows_export_by_query",
        parameters=SEARCH_PARAMS,
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **PROBLEM_RESPONSES},
        description="A zip of the matching flows' sources, one <namespace>.<id>.yml each.",
    )
    def get(self, request):
        return zip_response(_search(request), request.user)


def zip_response(flows, actor) -> HttpResponse:  # noqa: ANN001
    """A zip download of the flows' sources, one ``<namespace>.<id>.yml`` each; Webhook keys
    masked in the flows ``actor`` may not write (issue 21)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for flow in flows:
            source = flow.source
            if not confidential.may_see(actor, flow.namespace.name):
                source = confidential.hide_in_text(
                    source, confidential.credentials_of_source(source)
                )
            archive.writestr(f"{flow.namespace.name}.{flow.flow_id}.yml", source)
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="flows.zip"'
    return response


class FlowImportView(ApiView):
    parser_classes = [parsers.MultiPartParser]

    @extend_schema(
        operation_id="flows_import",
        request={
            "multipart/form-data": inline_serializer(
                "FlowImport", {"fileUpload": serializers.FileField(help_text=".zip, .yml or .yaml")}
            )
        },
        responses={200: NamespaceUpdateResultSerializer, **PROBLEM_RESPONSES},
        description="Deploy every flow of an uploaded zip or YAML file, all or nothing.",
    )
    def post(self, request):
        limit = settings.TRELLIS_MAX_UPLOAD_BYTES
        check_body_size(request, limit)
        upload = request.FILES.get("fileUpload")
        if upload is None:
            raise ApiProblem(
                "send the file as the multipart field fileUpload",
                errors=[{"field": "fileUpload", "message": "required"}],
            )
        if upload.size > limit:
            raise PayloadTooLarge(upload.size, limit)
        documents, line_offsets = _uploaded_documents(upload)
        try:
            result = services.flows_deploy_folder(documents=documents, author=request.user)
        except SpecError as exc:
            problem = invalid_documents(exc, [])
            for item, spec_problem in zip(problem.errors, exc.problems, strict=True):
                item["line"] += line_offsets.get(spec_problem.filename, 0)
                item["file"] = spec_problem.filename.split("#", 1)[0]
            raise problem from exc
        return Response(
            {"flows": [flow_json(r.flow, credentials=True) for r in result.results], "deleted": []}
        )


def _uploaded_documents(upload) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """``(filename, source)`` pairs from a zip or a (multi-document) YAML upload."""
    data = upload.read()
    files: list[tuple[str, bytes]] = []
    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            files = read_checked(
                io.BytesIO(data),
                wanted=lambda info: info.filename.endswith(YAML_SUFFIXES),
                max_total_bytes=settings.TRELLIS_MAX_UPLOAD_BYTES,
            )
        except ArchiveError as exc:
            raise ApiProblem(
                f"the zip is refused: {exc}",
                status_code=422,
                code="invalid-archive",
                errors=[{"field": "fileUpload", "member": exc.member, "message": exc.message}],
            ) from None
    elif upload.name.endswith(YAML_SUFFIXES):
        files = [(upload.name, data)]
    else:
        raise ApiProblem(
            "upload a .zip of YAML files or a .yml/.yaml file",
            status_code=415,
            errors=[{"field": "fileUpload", "message": f"{upload.name!r} is neither"}],
        )
    documents: list[tuple[str, str]] = []
    line_offsets: dict[str, int] = {}
    for name, raw in files:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiProblem(
                f"{name} is not UTF-8 text", errors=[{"field": "fileUpload", "message": name}]
            ) from None
        docs = split_documents(text)
        for doc in docs:
            filename = name if len(docs) == 1 else f"{name}#{doc.index + 1}"
            documents.append((filename, doc.source))
        line_offsets.update(
            {(name if len(docs) == 1 else f"{name}#{d.index + 1}"): d.line_offset for d in docs}
        )
    if not documents:
        raise ApiProblem(
            "the upload holds no flow",
            errors=[{"field": "fileUpload", "message": "no YAML document"}],
        )
    return documents, line_offsets
