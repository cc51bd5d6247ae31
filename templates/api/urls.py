"""Template routes, mounted under /api/v1/."""

from django.urls import path

from templates.api import views

urlpatterns = [
    path("templates", views.TemplateCreateView.as_view(), name="api-template-create"),
    path("templates/search", views.TemplateSearchView.as_view(), name="api-template-search"),
    path(
        "templates/<str:namespace>",
        views.TemplateNamespaceView.as_view(),
        name="api-template-namespace",
    ),
    path(
        "templates/<str:namespace>/<str:template_id>",
        views.TemplateDetailView.as_view(),
        name="api-template",
    ),
]
