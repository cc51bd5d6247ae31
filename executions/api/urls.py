"""Execution and log routes, mounted under /api/v1/.

Fixed paths come before the ones they would otherwise match: ``executions/search`` before
``executions/{id}``, ``executions/<action>/by-ids`` (a flow named ``by-ids`` cannot be run)
and ``executions/{id}/kill`` (and ``file``, ``follow``) before
``executions/{namespace}/{flowId}``; those three still run a flow so named when POSTed to.
"""

from django.urls import path

from executions.api import (
    views,
    views_actions,
    views_bulk,
    views_eval,
    views_files,
    views_logs,
    views_search,
)

ACTION_ROUTES = [
    path(f"executions/<str:execution_id>/{name}", view.as_view(), name=f"api-exec-{name}")
    for name, view in views_actions.ACTIONS.items()
]

BY_IDS_ROUTES = [
    path(f"executions/{name}/by-ids", view.as_view(), name=f"api-exec-{name}-ids")
    for name, view in views_bulk.BY_IDS.items()
]

urlpatterns = [
    path("executions/search", views_search.ExecutionSearchView.as_view(), name="api-exec-search"),
    path(
        "executions/by-ids",
        views_search.ExecutionDeleteByIdsView.as_view(),
        name="api-exec-delete-ids",
    ),
    path(
        "executions/kill/by-ids",
        views_search.ExecutionKillByIdsView.as_view(),
        name="api-exec-kill-ids",
    ),
    *BY_IDS_ROUTES,
    path("executions/<str:execution_id>", views.ExecutionDetailView.as_view(), name="api-exec"),
    path(
        "executions/<str:execution_id>/kill",
        views.ExecutionKillView.as_view(),
        name="api-exec-kill",
    ),
    path(
        "executions/<str:execution_id>/file",
        views_files.ExecutionFileView.as_view(),
        name="api-exec-file",
    ),
    path(
        "executions/<str:execution_id>/follow",
        views_files.ExecutionFollowView.as_view(),
        name="api-exec-follow",
    ),
    path(
        "executions/<str:execution_id>/eval/<str:task_run_id>",
        views_eval.ExecutionEvalView.as_view(),
        name="api-exec-eval",
    ),
    *ACTION_ROUTES,
    path(
        "executions/<str:namespace>/<str:flow_id>",
        views.ExecutionCreateView.as_view(),
        name="api-exec-create",
    ),
    path(
        "executions/<str:namespace>/<str:flow_id>/validate",
        views.ExecutionValidateView.as_view(),
        name="api-exec-validate",
    ),
    path("logs/search", views_logs.LogSearchView.as_view(), name="api-log-search"),
    path("logs/<str:execution_id>", views_logs.LogsView.as_view(), name="api-logs"),
    path(
        "logs/<str:execution_id>/follow",
        views_logs.LogsFollowView.as_view(),
        name="api-logs-follow",
    ),
    path(
        "logs/<str:execution_id>/download",
        views_logs.LogsDownloadView.as_view(),
        name="api-logs-download",
    ),
]
