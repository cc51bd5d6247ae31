"""KV routes, mounted under /api/v1/ (Kestra's paths)."""

from django.urls import path

from kv import api

urlpatterns = [
    path("namespaces/<str:namespace>/kv", api.KVListView.as_view(), name="api-kv-list"),
    path("namespaces/<str:namespace>/kv/<str:key>", api.KVDetailView.as_view(), name="api-kv"),
]
