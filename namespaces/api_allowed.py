"""A namespace's allowed-namespaces policy over HTTP (issue 21).

* ``GET    namespaces/{ns}/allowed-namespaces``            the entries, with those inherited
* ``PUT    namespaces/{ns}/allowed-namespaces``            replace them (``{"allowedNamespaces":
  [{"namespace": "a.b"}, ...]}``, Kestra's shape, or a plain list of names)
* ``POST   namespaces/{ns}/allowed-namespaces``            add one (``{"namespace": "a.b"}``)
* ``DELETE namespaces/{ns}/allowed-namespaces/{allowed}``  remove one

Reading needs read access on the namespace, changing it write access. Views only translate;
validation is :mod:`namespaces.allowed`'s.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from namespaces import allowed
from namespaces.allowed import AllowedNamespaceError
from namespaces.boundaries import ancestors
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES

TAGS = ["Namespaces"]


class AllowedEntrySerializer(serializers.Serializer):
    namespace = serializers.CharField(help_text="a namespace (and those inside it), or *")


class AllowedPolicySerializer(serializers.Serializer):
    namespace = serializers.CharField()
    allowedNamespaces = AllowedEntrySerializer(many=True)  # noqa: N815 - Kestra's field name
    inherited = serializers.ListField(
        child=serializers.DictField(), help_text="entries of the namespaces above this one"
    )


def _problem(exc: AllowedNamespaceError) -> ApiProblem:
    return ApiProblem(str(exc), status_code=422, errors=[{"field": "namespace",
                                                          "message": str(exc)}])  # fmt: skip


def _document(namespace: str, actor: Any) -> dict[str, Any]:
    """The namespace's own entries, and those of the namespaces above it (which apply too)."""
    own = allowed.allowed_namespaces_list(namespace, actor=actor)
    inherited = []
    for parent in ancestors(namespace)[:-1]:
        entries = allowed.allowed_namespaces_list(parent)  # shown with the child it governs
        if entries:
            inherited.append(
                {"namespace": parent, "allowedNamespaces": [{"namespace": a} for a in entries]}
            )
    return {
        "namespace": namespace,
        "allowedNamespaces": [{"namespace": a} for a in own],
        "inherited": inherited,
    }


def _names(data: Any) -> list[str]:
    items = data.get("allowedNamespaces") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AllowedNamespaceError(
            'expected {"allowedNamespaces": [{"namespace": ...}]} or a list of namespaces'
        )
    return [str(i.get("namespace", "")) if isinstance(i, dict) else i for i in items]


class AllowedNamespacesView(ApiView):
    @extend_schema(
        operation_id="namespaces_allowed_get",
        tags=TAGS,
        responses={200: AllowedPolicySerializer, **PROBLEM_RESPONSES},
        description="Which other namespaces may reach this one (its KV store, its files, its "
        "flows as subflows, its executions through Flow triggers). Its own tree always may.",
    )
    def get(self, request, namespace: str):
        try:
            return Response(_document(namespace, request.user))
        except AllowedNamespaceError as exc:
            raise _problem(exc) from exc

    @extend_schema(
        operation_id="namespaces_allowed_set",
        tags=TAGS,
        request=AllowedPolicySerializer,
        responses={200: AllowedPolicySerializer, **PROBLEM_RESPONSES},
        description="Replace the list (write access); every entry is checked first.",
    )
    def put(self, request, namespace: str):
        try:
            allowed.allowed_namespaces_set(
                namespace=namespace, allowed=_names(request.data), actor=request.user
            )
            return Response(_document(namespace, request.user))
        except AllowedNamespaceError as exc:
            raise _problem(exc) from exc

    @extend_schema(
        operation_id="namespaces_allowed_add",
        tags=TAGS,
        request=AllowedEntrySerializer,
        responses={201: AllowedPolicySerializer, 200: AllowedPolicySerializer,
                   **PROBLEM_RESPONSES},
        description="Add one entry (write access); 200 when it was already there.",
    )  # fmt: skip
    def post(self, request, namespace: str):
        entry = request.data.get("namespace") if isinstance(request.data, dict) else None
        try:
            created = allowed.allowed_namespace_add(
                namespace=namespace, allowed=entry, actor=request.user
            )
            body = _document(namespace, request.user)
        except AllowedNamespaceError as exc:
            raise _problem(exc) from exc
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class AllowedNamespaceDetailView(ApiView):
    @extend_schema(
        operation_id="namespaces_allowed_remove",
        tags=TAGS,
        request=None,
        responses={204: None, **PROBLEM_RESPONSES},
        description="Remove one entry (write access).",
    )
    def delete(self, request, namespace: str, allowed_namespace: str):
        try:
            removed = allowed.allowed_namespace_remove(
                namespace=namespace, allowed=allowed_namespace, actor=request.user
            )
        except AllowedNamespaceError as exc:
            raise _problem(exc) from exc
        if not removed:
            raise NotFound(f"namespace {namespace!r} does not list {allowed_namespace!r}")
        return Response(status=status.HTTP_204_NO_CONTENT)
