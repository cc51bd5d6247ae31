"""Namespace file routes, mounted under /api/v1/ (Kestra's paths)."""

from django.urls import path

from namespaces import api

urlpatterns = [
    path("namespaces/<str:namespace>/files", api.NamespaceFilesView.as_view(),
         name="api-namespace-files"),
    path("namespaces/<str:namespace>/files/stats", api.NamespaceFileStatsView.as_view(),
         name="api-namespace-file-stats"),
    path("namespaces/<str:namespace>/files/directory", api.NamespaceDirectoryView.as_view(),
         name="api-namespace-directory"),
    path("namespaces/<str:namespace>/files/export", api.NamespaceExportView.as_view(),
         name="api-namespace-files-export"),
]  # fmt: skip
