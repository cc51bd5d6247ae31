"""Trigger routes, mounted under /api/v1/ (before the API's catch-all 404)."""

from django.urls import path

from triggers.api.views import WebhookView

urlpatterns = [
    path(
        "executions/webhook/<str:namespace>/<str:flow_id>/<str:key>",
        WebhookView.as_view(),
        name="api-webhook",
    ),
]
