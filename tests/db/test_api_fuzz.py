"""Schemathesis against the live OpenAPI schema (issue 6): no request may answer a 5xx, and no
request from a user who may only read may change anything.

The schema is the one the running application serves at ``/api/v1/schema/``, loaded through
WSGI in this process, so the requests reach the same test database as the fixtures. Three
identities send generated requests to every operation: a superuser (to get past the
permission checks into the views), a reader (read access to the seeded namespaces: the
database must be exactly as it was after each request), and nobody (every answer must be 401,
except the webhook's, whose key is the credential).

The example count is bounded (``FUZZ_EXAMPLES``, default 15 per operation and identity) so
the run stays within about two minutes; ``make fuzz-api`` runs it (marker ``fuzz``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from access.models import NamespaceGrant
from executions.models import Execution, ExecutionLabel, LogEntry, TaskRun
from executions.services import execution_create
from flows.models import Flow, FlowLabel, FlowRevision
from flows.services import flow_deploy
from kernel.states import State
from namespaces.models import Namespace, NamespaceFile
from orchestrator.api.tokens import token_create
from templates.models import Template
from templates.services import template_deploy
from tests.conftest import flow_yaml
from tests.db.api_support import log_type_available  # noqa: F401 - autouse fixture
from triggers.models import TriggerState

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
#: Streams follow an execution until it ends (nothing runs here); ``wait=true`` is patched.
STREAMS = ("executions_follow", "logs_follow")


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "storage"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    """No worker runs here, so ``?wait=true`` answers at once instead of after the timeout."""
    monkeypatch.setattr(
        "executions.api.views.execution_wait",
        lambda execution_id, **_: Execution.objects.get(pk=execution_id),
    )


@pytest.fixture
def seeded(django_user_model) -> list[dict[str, Any]]:
    """Some of everything, and path parameters that reach it: random paths alone mostly meet
    404s, so most generated requests are aimed at these objects."""
    targets = []
    for ns in ("company.team", "company"):
        flow = flow_deploy(source=flow_yaml("hello", ns, extra="labels:\n  env: prod\n")).flow
        template_deploy(
            source=f"id: tpl\nnamespace: {ns}\ntasks:\n  - id: t\n    type: trellis.core.log.Log\n"
            "    message: hi\n"
        )
        for state in (State.SUCCESS, State.FAILED, State.RUNNING, State.PAUSED, State.QUEUED):
            execution = execution_create(flow=flow)
            Execution.objects.filter(pk=execution.pk).update(state=state)
            if state == State.FAILED:
                TaskRun.objects.create(execution=execution, task_id="say", state=state, seq=1)
            targets.append(
                {
                    "namespace": ns,
                    "flow_id": "hello",
                    "template_id": "tpl",
                    "revision": 1,
                    "execution_id": execution.id,
                    "type_name": "trellis.core.log.Log",
                }
            )
    return targets


@pytest.fixture
def wsgi_app():
    """The WSGI application, minus the per-request connection closing that would close the
    test's own database connection (Django's test client disconnects it the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db, wsgi_app):
    config = SchemathesisConfig.from_dict(
        {"generation": {"max-examples": EXAMPLES}, "phases": {"stateful": {"enabled": False}}}
    )
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, config=config)


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_create(user=user).key}"}


def fingerprint() -> tuple:
    """Everything a request could change."""
    return (
        list(
            Flow.objects.order_by("pk").values_list(
                "pk", "revision", "disabled", "deleted", "source"
            )
        ),
        FlowRevision.objects.count(),
        FlowLabel.objects.count(),
        Namespace.objects.count(),
        list(Template.objects.order_by("pk").values_list("pk", "revision", "source")),
        list(Execution.objects.order_by("pk").values_list("pk", "state", "version", "labels")),
        ExecutionLabel.objects.count(),
        list(TaskRun.objects.order_by("pk").values_list("pk", "state")),
        LogEntry.objects.count(),
        NamespaceGrant.objects.count(),
        list(TriggerState.objects.order_by("pk").values_list("pk", "disabled")),
        list(NamespaceFile.objects.order_by("pk").values_list("pk", "path")),
    )


def fuzz(
    schema, check: Callable[[Any, Any], None], headers: dict[str, str], targets: list[dict]
) -> list[str]:
    """Send ``EXAMPLES`` generated requests (valid and invalid ones, most of them aimed at the
    seeded objects) to every operation; ``check(case, response)`` raises AssertionError for a
    bad answer. Returns the failures, one line each (the first failing example of each
    operation, not shrunk: the run is time-bounded)."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in STREAMS:
            continue
        names = [p.name for p in operation.path_parameters]
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(mode))
            if names and all(n in targets[0] for n in names):
                strategies.extend(
                    operation.as_strategy(mode, path_parameters={n: t[n] for n in names})
                    for t in targets
                )

        @FUZZ_SETTINGS
        @given(case=st.one_of(strategies))
        def run(case) -> None:
            response = case.call(headers=headers)
            check(case, response)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation reports, then the test fails
            failures.append(f"{operation.method.upper()} {operation.path}: {first_cause(exc)}")
    return failures


def first_cause(exc: BaseException) -> str:
    """The first line of the innermost failure (Hypothesis wraps flaky ones in groups)."""
    while isinstance(getattr(exc, "exceptions", None), list | tuple) and exc.exceptions:
        exc = exc.exceptions[0]
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def answer(case, response) -> str:
    return f"{case.method} {case.formatted_path} {case.query or ''} -> {response.status_code} {response.text[:300]}"


def no_server_error(case, response) -> None:
    assert response.status_code < 500, answer(case, response)


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


def test_no_server_error_for_a_superuser(api_schema, seeded, fuzz_headers) -> None:
    failures = fuzz(api_schema, no_server_error, fuzz_headers["superuser"], seeded)

    assert not failures, "\n".join(failures)


def test_a_reader_changes_nothing(api_schema, seeded, fuzz_headers) -> None:
    def unchanged(case, response) -> None:
        no_server_error(case, response)
        assert fingerprint() == before[0], "changed data: " + answer(case, response)

    before = [fingerprint()]
    failures = fuzz(api_schema, unchanged, fuzz_headers["reader"], seeded)

    assert not failures, "\n".join(failures)


def test_nobody_gets_past_authentication(api_schema, seeded, fuzz_headers) -> None:
    def refused(case, response) -> None:
        no_server_error(case, response)
        if "/webhook/" not in case.path:
            assert response.status_code == 401, answer(case, response)

    failures = fuzz(api_schema, refused, {}, seeded)

    assert not failures, "\n".join(failures)


@pytest.fixture
def fuzz_headers(django_user_model) -> dict[str, Any]:
    root = django_user_model.objects.create_superuser(username="fuzz-root")
    reader = django_user_model.objects.create_user(username="fuzz-reader")
    for ns in ("company", "other", "x", "a"):
        NamespaceGrant.objects.create(user=reader, namespace=ns, permission="read")
    return {"superuser": bearer(root), "reader": bearer(reader)}
