"""Trigger routes, mounted under /api/v1/ (before the API's catch-all 404). Fixed paths come
before ``triggers/{namespace}/{flowId}``."""

from django.urls import path

from triggers.api import views_triggers as v
from triggers.api.views import WebhookView

_BULK = [
    ("pause", v.BackfillPauseByTriggersView, v.BackfillPauseByQueryView),
    ("unpause", v.BackfillUnpauseByTriggersView, v.BackfillUnpauseByQueryView),
    ("delete", v.BackfillDeleteByTriggersView, v.BackfillDeleteByQueryView),
]

urlpatterns = [
    path(
        "executions/webhook/<str:namespace>/<str:flow_id>/<str:key>",
        WebhookView.as_view(),
        name="api-webhook",
    ),
    path("triggers", v.TriggerUpdateView.as_view(), name="api-trigger-update"),
    path("triggers/search", v.TriggerSearchView.as_view(), name="api-trigger-search"),
    path(
        "triggers/set-disabled/by-triggers",
        v.SetDisabledByTriggersView.as_view(),
        name="api-trigger-set-disabled",
    ),
    path(
        "triggers/set-disabled/by-query",
        v.SetDisabledByQueryView.as_view(),
        name="api-trigger-set-disabled-query",
    ),
    path("triggers/backfill/pause", v.BackfillPauseView.as_view(), name="api-backfill-pause"),
    path("triggers/backfill/unpause", v.BackfillUnpauseView.as_view(), name="api-backfill-unpause"),
    path("triggers/backfill/delete", v.BackfillDeleteView.as_view(), name="api-backfill-delete"),
    *[
        p
        for name, by_triggers, by_query in _BULK
        for p in (
            path(
                f"triggers/backfill/{name}/by-triggers",
                by_triggers.as_view(),
                name=f"api-backfill-{name}-by-triggers",
            ),
            path(
                f"triggers/backfill/{name}/by-query",
                by_query.as_view(),
                name=f"api-backfill-{name}-by-query",
            ),
        )
    ],
    path(
        "triggers/<str:namespace>/<str:flow_id>",
        v.FlowTriggersView.as_view(),
        name="api-flow-triggers",
    ),
    path(
        "triggers/<str:namespace>/<str:flow_id>/<str:trigger_id>",
        v.TriggerDetailView.as_view(),
        name="api-trigger",
    ),
]
