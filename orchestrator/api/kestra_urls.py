"""Kestra 1.x's names for routes Trellis serves under another path, mounted under /api/v1/
(and so also under /api/v1/{tenant}/). Each is the same view as the Trellis route.

Kestra 1.x moved the single-execution actions under ``executions/{id}/actions/...``
(``DELETE .../actions/kill``, ``POST .../actions/restart``, ``.../actions/eval/{taskRunId}``);
Trellis's older ``executions/{id}/<action>`` paths stay as they are. Kestra 2 reads outputs
from ``outputs/...`` rather than from the execution document.
"""

from django.urls import path

from executions.api import views, views_actions, views_eval, views_outputs

urlpatterns = [
    path(
        "outputs/executions/<str:execution_id>",
        views_outputs.ExecutionOutputsView.as_view(),
        name="kestra-outputs-execution",
    ),
    path(
        "outputs/tasks/<str:execution_id>",
        views_outputs.TaskOutputsView.as_view(),
        name="kestra-outputs-tasks",
    ),
    path(
        "outputs/tasks/<str:execution_id>/<str:task_run_id>",
        views_outputs.TaskRunOutputsView.as_view(),
        name="kestra-outputs-task-run",
    ),
    path(
        "executions/<str:execution_id>/actions/kill",
        views.ExecutionKillView.as_view(),
        name="kestra-exec-kill",
    ),
    path(
        "executions/<str:execution_id>/actions/eval/<str:task_run_id>",
        views_eval.ExecutionEvalView.as_view(),
        name="kestra-exec-eval",
    ),
    *[
        path(
            f"executions/<str:execution_id>/actions/{name}",
            view.as_view(),
            name=f"kestra-exec-{name}",
        )
        for name, view in views_actions.ACTIONS.items()
    ],
]
