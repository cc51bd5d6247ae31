"""The flow page's Execute form: one field per typed input, then ``execution_create``.

Hooked into the flow admin's URLs (``flows.admin``); lives here because it is an execution
use case. Bad input comes back with each message beside its field and creates nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from executions.admin.forms import InputsForm
from executions.services import ExecutionError, InputsError, execution_create
from flows.models import Flow
from flows.selectors import flow_spec


def can_execute(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Running a flow creates an execution: the "add execution" permission."""
    return user.has_perm("executions.add_execution")


def execute_view(model_admin: ModelAdmin, request: HttpRequest, flow: Flow) -> HttpResponse:
    """GET: the form with defaults filled in. POST: create the execution and open its page."""
    if not can_execute(request.user):
        raise PermissionDenied
    spec = flow_spec(flow)
    if request.method == "POST":
        form = InputsForm(spec.inputs, request.POST, request.FILES, with_labels=True)
        if form.is_valid():
            labels = form.labels()
            if labels is not None:
                values, files = form.submitted()
                try:
                    execution = execution_create(
                        flow=flow,
                        inputs=values,
                        files=files,
                        labels=labels,
                        actor=request.user,
                    )
                except InputsError as exc:
                    form.show_inputs_error(exc)
                except ExecutionError as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, f"Execution {execution.id} created.")
                    return HttpResponseRedirect(
                        reverse("admin:executions_execution_change", args=[execution.id])
                    )
    else:
        form = InputsForm(spec.inputs, with_labels=True)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Execute {flow}",
        "subtitle": f"revision {flow.revision}",
        "flow": flow,
        "form": form,
        "disabled": flow.disabled,
        "change_url": reverse("admin:flows_flow_change", args=[flow.pk]),
    }
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "admin/executions/execute.html", context, status=status)
