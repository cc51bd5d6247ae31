"""``POST /api/v1/tests/run``: run a flow test suite (the YAML body) and answer its results.

The same service as ``trellis flow test``: each case is a real execution in a throwaway
namespace, so the request holds until the cases end (``timeout`` seconds each, at most
``MAX_TIMEOUT``) and needs a running executor and worker. Running a suite deploys a copy of
the flow, so it needs write access to the flow's namespace.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from access.policy import Action, check
from flows.testsuite.runner import run_suite
from flows.testsuite.spec import SuiteError, parse_suite
from orchestrator.api.base import YamlBodyView
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES, YAML_REQUEST

#: The longest a case may take through the API (a CLI run may wait longer).
MAX_TIMEOUT = 600.0


class CaseResultSerializer(serializers.Serializer):
    suiteId = serializers.CharField()  # noqa: N815 - Kestra's casing
    testCaseId = serializers.CharField()  # noqa: N815
    status = serializers.ChoiceField(["passed", "failed", "error", "skipped"])
    seconds = serializers.FloatField()
    executionId = serializers.CharField(allow_null=True)  # noqa: N815
    state = serializers.CharField(allow_null=True)
    failures = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()


class SuiteResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    results = CaseResultSerializer(many=True)


class TestSuiteRunView(YamlBodyView):
    @extend_schema(
        operation_id="tests_run",
        request=YAML_REQUEST,
        parameters=[
            OpenApiParameter("timeout", float, description="seconds per case (default 60)"),
            OpenApiParameter("case", str, many=True, description="run only these cases"),
        ],
        responses={200: SuiteResultSerializer, **PROBLEM_RESPONSES},
        description="Run a flow test suite (Kestra's test-suite YAML) and return one result "
        "per case; `ok` is false when any case failed.",
    )
    def post(self, request):
        try:
            suite = parse_suite(self.yaml_body(request), "<body>")
        except SuiteError as exc:
            raise ApiProblem(str(exc), status_code=422, code="invalid-document") from None
        check(request.user, suite.namespace, Action.WRITE)
        try:
            timeout = min(float(request.query_params.get("timeout", 60)), MAX_TIMEOUT)
        except ValueError:
            raise ApiProblem("timeout must be a number of seconds", status_code=400) from None
        cases = set(request.query_params.getlist("case"))
        results = run_suite(suite, case_ids=cases, timeout=timeout, actor=request.user)
        return Response(
            {"ok": all(r.ok for r in results), "results": [r.as_dict() for r in results]}
        )
