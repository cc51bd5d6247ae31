"""Kestra 1.x's tenant-scoped paths (``/api/v1/{tenant}/...``) over the same views.

Kestra puts a tenant in every API path since 1.0, and its clients (kestrapy, the terraform
provider) build only those paths. Trellis has one tenant, ``main`` (the open-source Kestra
tenant's name). Rather than a second set of views, the API's URL patterns are mounted a
second time under ``<tenant>/`` with every view wrapped: the wrapper refuses any tenant but
``main`` with a 404 naming it, drops the ``tenant`` argument and calls the view unchanged.
The wrapper keeps the DRF view's attributes (``cls``, ``initkwargs``) so the OpenAPI schema
documents both forms. Kestra's search filters (``filters[namespace][EQUALS]=...``) are
rewritten into Trellis's parameters first (orchestrator/api/kestra_filters.py). One thing
differs in the answers on the tenant form: a follow stream closes without
Trellis's ``end`` event, as Kestra's does (its clients parse every event as the object).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import URLPattern, URLResolver
from rest_framework.exceptions import NotFound

from orchestrator.api import kestra_filters
from orchestrator.api.base import ApiView
from orchestrator.api.errors import PROBLEM_CONTENT_TYPE, ApiProblem, problem_body

#: The one tenant Trellis serves: Kestra's open-source default.
TENANT = "main"

END_FRAME = b"event: end\n"


class UnknownTenantView(ApiView):
    """Any path under a tenant but ``main``: a 404 naming it, after authentication (an
    anonymous caller gets the 401 every other path gives, not a hint)."""

    schema = None

    def perform_content_negotiation(self, request, force=False):
        # every answer is the JSON problem: a ``format`` it cannot render must not turn the
        # 401 an anonymous caller is owed into a 404
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    def http_method_not_allowed(self, request, *args, **kwargs):
        tenant = kwargs.get("tenant", "")
        raise NotFound(f"tenant {tenant!r} does not exist: this server has one tenant, {TENANT!r}")


unknown_tenant = UnknownTenantView.as_view()


def _without_end_frames(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if not chunk.startswith(END_FRAME):
            yield chunk


def _kestra_stream(response: HttpResponse) -> HttpResponse:
    """A follow stream as Kestra sends it: events only, then the stream closes.

    Trellis ends a follow with an ``end`` event; Kestra's clients read every event's data
    as the followed object (a log line, an execution), so here the stream just closes.
    """
    if isinstance(response, StreamingHttpResponse) and response.get("Content-Type", "").startswith(
        "text/event-stream"
    ):
        response.streaming_content = _without_end_frames(response.streaming_content)
    return response


def _scoped(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request, *args, tenant: str, **kwargs):
        if tenant != TENANT:
            return unknown_tenant(request, tenant=tenant)
        try:
            flat = kestra_filters.translate(request.GET)
        except ApiProblem as exc:
            body = problem_body(400, str(exc.detail), errors=exc.errors)
            return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
        if flat is not None:
            request.GET = flat
        return _kestra_stream(view(request, *args, **kwargs))

    return wrapper


def tenant_scoped(patterns: Iterable) -> list:
    """``patterns`` again, every view wrapped by the tenant check (includes are walked)."""
    scoped: list = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            scoped.append(
                URLResolver(
                    entry.pattern,
                    tenant_scoped(entry.url_patterns),
                    entry.default_kwargs,
                    entry.app_name,
                    entry.namespace,
                )
            )
        elif isinstance(entry, URLPattern):
            scoped.append(
                URLPattern(entry.pattern, _scoped(entry.callback), entry.default_args, entry.name)
            )
    return scoped
