"""The flow page's "Tests" page: paste or edit a test suite for this flow and run it.

A thin adapter over ``flows.testsuite`` (the same runner as ``trellis flow test`` and the
API). The form starts from a suite generated for the flow (its required inputs, one
assertion on the final state). Running deploys a copy of the flow, so it needs write access
to the flow's namespace; the request waits for the cases (at most ``MAX_SECONDS`` each).
"""

from __future__ import annotations

import yaml
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from access.policy import Action, access_for
from flows.models import Flow
from flows.selectors import flow_spec
from flows.testsuite.runner import run_suite
from flows.testsuite.spec import SuiteError, parse_suite

MAX_SECONDS = 120.0


def starter_suite(flow: Flow) -> str:
    """A suite that runs: the flow's required inputs without defaults get a placeholder."""

    spec = flow_spec(flow)
    inputs = {
        i.id: "CHANGE ME"
        for i in spec.inputs
        if i.options.get("required", True) and i.options.get("defaults") is None
    }
    case: dict = {"id": "ends_successfully", "fixtures": {"inputs": inputs} if inputs else {}}
    if not inputs:
        case.pop("fixtures")
    case["assertions"] = [{"value": "{{ execution.state }}", "equalTo": "SUCCESS"}]
    suite = {"id": f"{flow.flow_id}_tests", "namespace": flow.namespace.name,
             "flowId": flow.flow_id, "testCases": [case]}  # fmt: skip
    return yaml.safe_dump(suite, sort_keys=False, allow_unicode=True)


def tests_view(request: HttpRequest, object_id: str) -> HttpResponse:
    flow = get_object_or_404(Flow.objects.select_related("namespace"), pk=object_id)
    namespace = flow.namespace.name
    access = access_for(request.user)
    if not access.allows(namespace, Action.READ):
        raise Http404("no such flow")
    can_run = access.allows(namespace, Action.WRITE) and not flow.deleted
    source, results, error = starter_suite(flow), None, None
    if request.method == "POST":
        if not can_run:
            raise PermissionDenied
        source = request.POST.get("suite", "")
        try:
            suite = parse_suite(source, "suite")
            if (suite.namespace, suite.flow_id) != (namespace, flow.flow_id):
                raise SuiteError(f"the suite tests {suite.namespace}.{suite.flow_id}, not {flow}")
        except SuiteError as exc:
            error = str(exc)
        else:
            results = run_suite(suite, timeout=MAX_SECONDS, actor=request.user)
    context = {
        **admin.site.each_context(request),
        "opts": Flow._meta,
        "title": f"{flow} — tests",
        "flow": flow,
        "source": source,
        "results": results,
        "error": error,
        "can_run": can_run,
        "change_url": reverse("admin:flows_flow_change", args=[flow.pk]),
    }
    return TemplateResponse(request, "admin/flows/flow/tests.html", context)
