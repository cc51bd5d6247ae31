"""``GET /metrics``: Prometheus's text format, open unless ``TRELLIS_METRICS_TOKEN`` is set."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from orchestrator.observability import metrics
from orchestrator.observability.scrape import TrellisCollector


def authorized(request: HttpRequest) -> bool:
    """No token configured: open. Otherwise ``Authorization: Bearer <token>`` (Prometheus's
    ``authorization`` / ``bearer_token`` scrape settings), compared in constant time."""
    token = settings.TRELLIS_METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not authorized(request):
        response = HttpResponse("metrics need a bearer token\n", status=401,
                                content_type="text/plain")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    metrics.flush()  # this web process's own counts (webhook triggers) without waiting
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrellisCollector(broker=settings.TRELLIS_METRICS_BROKER))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
