"""The KV store over HTTP, on Kestra's paths (``/api/v1/namespaces/{namespace}/kv``).

* ``GET    kv``         the namespace's live keys (Kestra's ``KVEntry`` shape)
* ``GET    kv/{key}``   ``{type, value, revision, updated}``; 404 when missing or expired
* ``PUT    kv/{key}``   the body is the value: JSON text is typed (``42``, ``"a"``,
  ``{"a": 1}``), anything else is a string; a ``ttl`` header (ISO-8601 duration) expires it
* ``DELETE kv/{key}``   ``true`` when a key was deleted, ``false`` when there was none

Reading needs read access to the namespace, writing and deleting write access.
"""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from access.policy import Action, check
from kv import services
from kv.models import KVEntry
from orchestrator.api.base import ApiView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES

TAGS = ["KV"]


class RawTextParser(parsers.BaseParser):
    """Any body, as text: the value is typed by :func:`typed_value`, not by Content-Type."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> str:
        data = stream.read() if stream is not None else b""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiProblem(f"the value is not UTF-8 text: {exc}") from exc


def typed_value(text: str) -> Any:
    """JSON text as its value (number, boolean, object...), any other text as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def entry_document(entry: KVEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "description": entry.description or None,
        "creationDate": entry.created_at,
        "updateDate": entry.updated_at,
        "expirationDate": entry.expires_at,
    }


class KVListView(ApiView):
    @extend_schema(
        operation_id="kv_list", tags=TAGS, responses={200: OpenApiTypes.OBJECT, **PROBLEM_RESPONSES}
    )
    def get(self, request, namespace: str):
        check(request.user, namespace, Action.READ)
        keys = services.kv_keys(namespace)
        rows = KVEntry.objects.filter(namespace=namespace, key__in=keys).order_by("key")
        return Response([entry_document(row) for row in rows])


class KVDetailView(ApiView):
    parser_classes = [RawTextParser]

    @extend_schema(
        operation_id="kv_get",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT, **PROBLEM_RESPONSES},
        description="The value with its type, Kestra's `{type, value, revision, updated}`.",
    )
    def get(self, request, namespace: str, key: str):
        check(request.user, namespace, Action.READ)
        try:
            services.kv_get(namespace, key)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        entry = KVEntry.objects.get(namespace=namespace, key=key)
        return Response(
            {"type": entry.value_type, "value": entry.value, "revision": 1,
             "updated": entry.updated_at}
        )  # fmt: skip

    @extend_schema(
        operation_id="kv_set",
        tags=TAGS,
        request={"text/plain": OpenApiTypes.STR},
        parameters=[OpenApiParameter("ttl", str, OpenApiParameter.HEADER, description="e.g. PT1H")],
        responses={204: None, **PROBLEM_RESPONSES},
    )
    def put(self, request, namespace: str, key: str):
        check(request.user, namespace, Action.WRITE)
        body = request.data if isinstance(request.data, str) else ""
        try:
            services.kv_set(
                namespace, key, typed_value(body), ttl=request.headers.get("ttl") or None
            )
        except services.KVError as exc:
            raise ApiProblem(str(exc), status_code=422) from exc
        return Response(status=204)

    @extend_schema(
        operation_id="kv_delete",
        tags=TAGS,
        responses={200: OpenApiTypes.BOOL, **PROBLEM_RESPONSES},
    )
    def delete(self, request, namespace: str, key: str):
        check(request.user, namespace, Action.WRITE)
        return Response(services.kv_delete(namespace, key))
