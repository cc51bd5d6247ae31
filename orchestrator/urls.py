from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orchestrator.api.base import ApiView, NotFoundView

api_patterns: list = [
    path("", include("flows.api.urls")),
    path("", include("templates.api.urls")),
    path("", include("plugins.api")),
    path("", include("executions.api.urls")),
    path("", include("triggers.api.urls")),
    path("", include("namespaces.urls")),
    # Last: any other path under /api/v1/ is a 404 in the API's error shape, not an HTML page.
    re_path(r"^.*$", NotFoundView.as_view(), name="api-not-found"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "api/v1/schema/",
        SpectacularAPIView.as_view(authentication_classes=ApiView.authentication_classes),
        name="schema",
    ),
    path(
        "api/v1/docs/",
        SpectacularSwaggerView.as_view(
            url_name="schema", authentication_classes=ApiView.authentication_classes
        ),
        name="api-docs",
    ),
    path("api/v1/", include(api_patterns)),
]
