from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import permissions

from orchestrator.api.base import ApiView, NotFoundView
from orchestrator.api.tenants import tenant_scoped
from orchestrator.observability.views import metrics_view

#: The schema and its docs page are public, by one rule: the page's JavaScript loads the
#: schema, so a page open to more people than the schema would show them an error, and
#: clients fetch the schema before they hold a token. Neither holds data; the endpoints
#: they describe still answer 401 to anonymous callers.
SCHEMA_ACCESS = {
    "authentication_classes": ApiView.authentication_classes,
    "permission_classes": [permissions.AllowAny],
}

unscoped_patterns: list = [
    path("", include("flows.api.urls")),
    path("", include("templates.api.urls")),
    path("", include("orchestrator.api.plugins")),
    path("", include("executions.api.urls")),
    path("", include("triggers.api.urls")),
    path("", include("namespaces.urls")),
    path("", include("kv.api_urls")),
    # Kestra 1.x's names for routes Trellis spells differently (actions/..., set-disabled).
    path("", include("orchestrator.api.kestra_urls")),
]

api_patterns: list = [
    *unscoped_patterns,
    # Kestra 1.x's form, /api/v1/{tenant}/..., after the unscoped routes so that those win
    # any tie (a namespace named like a route); the tenant must be "main" (docs/architecture.md).
    path("<str:tenant>/", include(tenant_scoped(unscoped_patterns))),
    # Last: any other path under /api/v1/ is a 404 in the API's error shape, not an HTML page.
    re_path(r"^[\s\S]*$", NotFoundView.as_view(), name="api-not-found"),  # newlines too
]


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """The icon's static URL, looked up per request: with hashed static files the name comes
    from collectstatic's manifest, which need not exist when the URLconf is imported (a
    ``check`` before ``collectstatic`` must not fail)."""
    return HttpResponseRedirect(static("orchestrator/favicon.svg"))


urlpatterns = [
    # The admin is the product's home: `/` opens its dashboard (not a 404).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path(
        "api/v1/schema/",
        SpectacularAPIView.as_view(**SCHEMA_ACCESS),
        name="schema",
    ),
    path(
        "api/v1/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", **SCHEMA_ACCESS),
        name="api-docs",
    ),
    path("api/v1/", include(api_patterns)),
]
