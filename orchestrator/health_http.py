"""``/health/live`` and ``/health/ready``, answered by the first middleware.

They are answered before anything else runs: no login, no session, no CSRF, no HTTPS
redirect, and no ALLOWED_HOSTS check -- a Kubernetes or compose probe reaches the pod by its
address, not by the public host name, and would otherwise get 400. The answers hold nothing
but each part's name and status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from orchestrator.health import run_checks

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"


def live() -> JsonResponse:
    """The process is up and answers: nothing else is looked at (a restart would not help
    with a database outage, so liveness must not fail on one)."""
    return JsonResponse({"status": "ok"})


def ready() -> JsonResponse:
    checks = run_checks()
    healthy = all(c.ok for c in checks)
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {c.name: "ok" if c.ok else "failing" for c in checks},
    }
    return JsonResponse(body, status=200 if healthy else 503)


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/")
        if path == LIVE_PATH:
            return live()
        if path == READY_PATH:
            return ready()
        return self.get_response(request)
