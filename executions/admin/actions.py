"""The buttons of the execution page: each POST parses its form and calls one service.

A refused action (wrong state, bad input) changes nothing and comes back with the service's
message; the resume form comes back with its messages beside the fields.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from executions.admin.forms import InputsForm
from executions.admin.views import execution_page, execution_spec, on_resume_specs
from executions.models import Execution, TaskRun
from executions.services import (
    ExecutionError,
    InputsError,
    execution_force_run,
    execution_kill,
    execution_pause,
    execution_replay,
    execution_restart,
    execution_resume,
    execution_unqueue,
    task_run_set_state,
)
from kernel.states import IllegalTransition

REFUSED = (ExecutionError, IllegalTransition)


def _page(execution_id: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:executions_execution_change", args=[execution_id]))


def _kill(request: HttpRequest, execution: Execution) -> str:
    killed = execution_kill(execution, actor=request.user)
    return f"Kill requested: the execution is {killed.state}."


def _restart(request: HttpRequest, execution: Execution) -> str:
    execution_restart(execution, actor=request.user)
    return "Restarted from its failed task runs."


def _pause(request: HttpRequest, execution: Execution) -> str:
    execution_pause(execution, actor=request.user)
    return "Paused: what runs finishes, nothing new starts until it is resumed."


def _force_run(request: HttpRequest, execution: Execution) -> str:
    execution_force_run(execution, actor=request.user)
    return "The execution runs now."


def _unqueue(request: HttpRequest, execution: Execution) -> str:
    state = request.POST.get("state") or "CANCELLED"
    moved = execution_unqueue(execution, state, actor=request.user)
    return f"Taken out of the queue: {moved.state}."


def _set_state(request: HttpRequest, execution: Execution) -> str:
    task_run_id = request.POST.get("task_run") or ""
    state = request.POST.get("state") or ""
    run = TaskRun.objects.filter(execution=execution, pk=task_run_id).first()
    task_run_set_state(execution, task_run_id, state, actor=request.user)
    return f"Task run {run.task_id if run else task_run_id} set to {state.upper()}."


SIMPLE: dict[str, Callable[[HttpRequest, Execution], str]] = {
    "kill": _kill,
    "restart": _restart,
    "pause": _pause,
    "force-run": _force_run,
    "unqueue": _unqueue,
    "set-state": _set_state,
}


def dispatch(
    model_admin: ModelAdmin, request: HttpRequest, execution: Execution, action: str
) -> HttpResponse:
    """Run ``action`` on ``execution`` (POST only, change permission needed)."""
    if request.method != "POST":
        return _page(execution.id)
    if not model_admin.has_change_permission(request, execution):
        raise PermissionDenied
    if action == "replay":
        return _replay(request, execution)
    if action == "resume":
        return _resume(model_admin, request, execution)
    handler = SIMPLE.get(action)
    if handler is None:
        raise Http404(f"no action {action!r}")
    try:
        text = handler(request, execution)
    except REFUSED as exc:
        messages.error(request, f"Nothing changed: {exc}")
    else:
        messages.success(request, text)
    return _page(execution.id)


def _replay(request: HttpRequest, execution: Execution) -> HttpResponse:
    """A new execution from a chosen task run (or from the start); opens the new one."""
    task_run_id = request.POST.get("task_run") or None
    try:
        replay = execution_replay(execution, task_run_id, actor=request.user)
    except REFUSED as exc:
        messages.error(request, f"Nothing changed: {exc}")
        return _page(execution.id)
    messages.success(request, f"Replay of {execution.id} started.")
    return _page(replay.id)


def _resume(model_admin: ModelAdmin, request: HttpRequest, execution: Execution) -> HttpResponse:
    """Resume with the ``onResume`` inputs (FILE ones uploaded with the form); bad ones
    re-show the page with field errors and keep no file."""

    spec, _ = execution_spec(execution)
    runs = list(TaskRun.objects.filter(execution=execution))
    form = InputsForm(on_resume_specs(spec, runs), request.POST, request.FILES)
    if not form.is_valid():
        return execution_page(model_admin, request, execution.id, resume_form=form)
    values, files = form.submitted()
    try:
        execution_resume(execution, values, files=files, actor=request.user)
    except InputsError as exc:
        form.show_inputs_error(exc)
        return execution_page(model_admin, request, execution.id, resume_form=form)
    except REFUSED as exc:
        messages.error(request, f"Nothing changed: {exc}")
        return _page(execution.id)
    messages.success(request, "Resumed.")
    return _page(execution.id)
