"""Namespace file and allowed-namespaces routes, mounted under /api/v1/ (Kestra's paths)."""

from django.urls import path

from namespaces import api, api_allowed

urlpatterns = [
    path("namespaces/<str:namespace>/files", api.NamespaceFilesView.as_view(),
         name="api-namespace-files"),
    path("namespaces/<str:namespace>/files/stats", api.NamespaceFileStatsView.as_view(),
         name="api-namespace-file-stats"),
    path("namespaces/<str:namespace>/files/directory", api.NamespaceDirectoryView.as_view(),
         name="api-namespace-directory"),
    path("namespaces/<str:namespace>/files/export", api.NamespaceExportView.as_view(),
         name="api-namespace-files-export"),
    path("namespaces/<str:namespace>/allowed-namespaces",
         api_allowed.AllowedNamespacesView.as_view(), name="api-namespace-allowed"),
    path("namespaces/<str:namespace>/allowed-namespaces/<str:allowed_namespace>",
         api_allowed.AllowedNamespaceDetailView.as_view(), name="api-namespace-allowed-entry"),
]  # fmt: skip
