"""Namespace permissions through the API: user x namespace x action (issue 6).

Grants are on ``acme``; ``acme.team`` is inside it, ``acmex`` is not (whole segments). Each
action needs read, execute or write; an allowed one succeeds, a refused one is a 403 in the
error shape and leaves the database exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from access.models import NamespaceGrant
from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create
from flows.models import Flow, FlowRevision
from flows.services import flow_deploy
from kernel.states import State
from orchestrator.storage import default_storage
from templates.models import Template
from templates.services import template_deploy
from tests.conftest import flow_yaml
from tests.db.api_support import YAML, log_type_available, problem  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

INSIDE, OUTSIDE = "acme.team", "acmex"
LEVEL = {"read": 1, "execute": 2, "write": 3}


def template_yaml(namespace: str, message: str = "hi") -> str:
    return (
        f"id: tpl\nnamespace: {namespace}\ntasks:\n"
        f"  - id: t\n    type: trellis.core.log.Log\n    message: {message}\n"
    )


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "storage"


@pytest.fixture
def catalogue():
    """The same flow and template in both namespaces."""
    for ns in (INSIDE, OUTSIDE):
        flow_deploy(source=flow_yaml("hello", ns))
        template_deploy(source=template_yaml(ns))


def make_user(user_model, kind: str):
    """``kind``: stranger (no grant), reader/executor/writer (a grant on ``acme``),
    member (execute through a group), superuser."""
    if kind == "superuser":
        return user_model.objects.create_superuser(username=kind)
    user = user_model.objects.create_user(username=kind)
    if kind == "member":
        group = Group.objects.create(name="operators")
        user.groups.add(group)
        NamespaceGrant.objects.create(group=group, namespace="acme", permission="execute")
    elif kind != "stranger":
        permission = {"reader": "read", "executor": "execute", "writer": "write"}[kind]
        NamespaceGrant.objects.create(user=user, namespace="acme", permission=permission)
    return user


#: What each kind of user may do inside ``acme`` (0: nothing).
USER_LEVEL = {"stranger": 0, "reader": 1, "executor": 2, "member": 2, "writer": 3}


def execution_in(namespace: str, state: State, run_state: State | None = None) -> Execution:
    execution = execution_create(flow=Flow.objects.get(namespace__name=namespace))
    Execution.objects.filter(pk=execution.pk).update(state=state)
    if run_state is not None:
        TaskRun.objects.create(execution=execution, task_id="say", state=run_state, seq=1)
    execution.refresh_from_db()
    return execution


def stored_file(execution: Execution) -> str:
    """A file of ``execution`` in internal storage; its kestra:/// URI."""
    return default_storage().put_input(
        execution.namespace, execution.flow_id, execution.id, "doc", "doc.txt", b"hello"
    )


@dataclass(frozen=True)
class Case:
    name: str
    level: str
    call: Callable[[APIClient, str], object]


def _exec(state: State, run_state: State | None, request: Callable) -> Callable:
    def call(api: APIClient, ns: str):
        return request(api, execution_in(ns, state, run_state))

    return call


def _run(api: APIClient, ns: str):
    return api.post(f"/api/v1/executions/{ns}/hello", {}, format="json")


CASES = [
    # read
    Case("flow", "read", lambda api, ns: api.get(f"/api/v1/flows/{ns}/hello?source=true")),
    Case("revisions", "read", lambda api, ns: api.get(f"/api/v1/flows/{ns}/hello/revisions")),
    Case("graph", "read", lambda api, ns: api.get(f"/api/v1/flows/{ns}/hello/graph")),
    Case("namespace flows", "read", lambda api, ns: api.get(f"/api/v1/flows/{ns}")),
    Case("template", "read", lambda api, ns: api.get(f"/api/v1/templates/{ns}/tpl")),
    Case("namespace templates", "read", lambda api, ns: api.get(f"/api/v1/templates/{ns}")),
    Case(
        "validate inputs",
        "read",
        lambda api, ns: api.post(f"/api/v1/executions/{ns}/hello/validate", {}, format="json"),
    ),
    Case(
        "execution",
        "read",
        _exec(State.SUCCESS, None, lambda api, e: api.get(f"/api/v1/executions/{e.id}")),
    ),
    Case(
        "logs", "read", _exec(State.SUCCESS, None, lambda api, e: api.get(f"/api/v1/logs/{e.id}"))
    ),
    Case(
        "logs download",
        "read",
        _exec(State.SUCCESS, None, lambda api, e: api.get(f"/api/v1/logs/{e.id}/download")),
    ),
    Case(
        "file",
        "read",
        _exec(
            State.SUCCESS,
            None,
            lambda api, e: api.get(f"/api/v1/executions/{e.id}/file", {"path": stored_file(e)}),
        ),
    ),
    # execute
    Case("run", "execute", _run),
    Case(
        "kill",
        "execute",
        _exec(State.RUNNING, None, lambda api, e: api.delete(f"/api/v1/executions/{e.id}/kill")),
    ),
    Case(
        "restart",
        "execute",
        _exec(
            State.FAILED,
            State.FAILED,
            lambda api, e: api.post(f"/api/v1/executions/{e.id}/restart"),
        ),
    ),
    Case(
        "replay",
        "execute",
        _exec(State.SUCCESS, None, lambda api, e: api.post(f"/api/v1/executions/{e.id}/replay")),
    ),
    Case(
        "resume",
        "execute",
        _exec(State.PAUSED, None, lambda api, e: api.post(f"/api/v1/executions/{e.id}/resume")),
    ),
    Case(
        "force-run",
        "execute",
        _exec(State.QUEUED, None, lambda api, e: api.post(f"/api/v1/executions/{e.id}/force-run")),
    ),
    Case(
        "unqueue",
        "execute",
        _exec(State.QUEUED, None, lambda api, e: api.post(f"/api/v1/executions/{e.id}/unqueue")),
    ),
    Case(
        "change-status",
        "execute",
        _exec(
            State.SUCCESS,
            None,
            lambda api, e: api.post(f"/api/v1/executions/{e.id}/change-status?status=FAILED"),
        ),
    ),
    Case(
        "task run state",
        "execute",
        _exec(
            State.FAILED,
            State.FAILED,
            lambda api, e: api.post(
                f"/api/v1/executions/{e.id}/state",
                {"taskRunId": e.task_runs.get().id, "state": "SUCCESS"},
                format="json",
            ),
        ),
    ),
    Case(
        "labels",
        "execute",
        _exec(
            State.SUCCESS,
            None,
            lambda api, e: api.post(
                f"/api/v1/executions/{e.id}/labels", [{"key": "k", "value": "v"}], format="json"
            ),
        ),
    ),
    Case(
        "delete execution",
        "execute",
        _exec(State.SUCCESS, None, lambda api, e: api.delete(f"/api/v1/executions/{e.id}")),
    ),
    # write
    Case(
        "create flow",
        "write",
        lambda api, ns: api.post("/api/v1/flows", flow_yaml("fresh", ns), content_type=YAML),
    ),
    Case(
        "update flow",
        "write",
        lambda api, ns: api.put(
            f"/api/v1/flows/{ns}/hello", flow_yaml("hello", ns, message="Bye"), content_type=YAML
        ),
    ),
    Case("delete flow", "write", lambda api, ns: api.delete(f"/api/v1/flows/{ns}/hello")),
    Case(
        "restore revision",
        "write",
        lambda api, ns: api.post(f"/api/v1/flows/{ns}/hello/revisions/1/restore"),
    ),
    Case(
        "disable flow",
        "write",
        lambda api, ns: api.post(
            "/api/v1/flows/disable/by-ids", [{"namespace": ns, "id": "hello"}], format="json"
        ),
    ),
    Case(
        "deploy namespace",
        "write",
        lambda api, ns: api.post(
            f"/api/v1/flows/{ns}?delete=false", flow_yaml("other", ns), content_type=YAML
        ),
    ),
    Case(
        "create template",
        "write",
        lambda api, ns: api.post(
            "/api/v1/templates", template_yaml(ns).replace("id: tpl", "id: t2"), content_type=YAML
        ),
    ),
    Case(
        "update template",
        "write",
        lambda api, ns: api.put(
            f"/api/v1/templates/{ns}/tpl", template_yaml(ns, "bye"), content_type=YAML
        ),
    ),
    Case("delete template", "write", lambda api, ns: api.delete(f"/api/v1/templates/{ns}/tpl")),
]


def fingerprint() -> tuple:
    """Everything an action could change, to compare before and after a refused request."""
    return (
        sorted(Flow.objects.values_list("namespace__name", "flow_id", "revision", "disabled",
                                        "deleted")),
        FlowRevision.objects.count(),
        sorted(Template.objects.values_list("namespace__name", "template_id", "revision")),
        sorted(Execution.objects.values_list("id", "state", "version", "labels")),
        sorted(TaskRun.objects.values_list("id", "state")),
    )  # fmt: skip


def expected_allowed(kind: str, namespace: str, level: str) -> bool:
    if kind == "superuser":
        return True
    return namespace == INSIDE and USER_LEVEL[kind] >= LEVEL[level]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("namespace", [INSIDE, OUTSIDE])
@pytest.mark.parametrize(
    "kind", ["stranger", "reader", "executor", "member", "writer", "superuser"]
)
def test_permission_matrix(django_user_model, catalogue, kind, namespace, case) -> None:
    api = Recording(make_user(django_user_model, kind))

    response = case.call(api, namespace)

    if expected_allowed(kind, namespace, case.level):
        assert 200 <= response.status_code < 300, (response.status_code, response.content)
    else:
        body = problem(response, 403)
        assert f"may not {case.level}" in body["detail"] or "may not read" in body["detail"]
        assert namespace in body["detail"]
        assert fingerprint() == api.before, f"{case.name} changed data without permission"


class Recording:
    """An authenticated APIClient that fingerprints the database just before each request
    (a case first sets up its execution, then sends one request)."""

    def __init__(self, user) -> None:
        self.api = APIClient()
        self.api.force_authenticate(user)
        self.before: tuple | None = None

    def __getattr__(self, method: str):
        send = getattr(self.api, method)

        def request(*args, **kwargs):
            self.before = fingerprint()
            return send(*args, **kwargs)

        return request


# --- searches list only what the user may read; naming a foreign namespace is a 403 ----------


@pytest.fixture
def reader_api(django_user_model, catalogue):
    for ns in (INSIDE, OUTSIDE):
        execution_in(ns, State.SUCCESS)
        LogEntry.objects.create(
            execution=Execution.objects.filter(namespace=ns).first(),
            level="INFO",
            message=ns,
            timestamp=timezone.now(),
        )
    api = APIClient()
    api.force_authenticate(make_user(django_user_model, "reader"))
    return api


@pytest.mark.parametrize(
    ("url", "namespaces"),
    [
        ("/api/v1/flows/search", lambda b: {f["namespace"] for f in b["results"]}),
        ("/api/v1/executions/search", lambda b: {e["namespace"] for e in b["results"]}),
        ("/api/v1/logs/search", lambda b: {line["namespace"] for line in b["results"]}),
        ("/api/v1/templates/search", lambda b: {t["namespace"] for t in b["results"]}),
        ("/api/v1/flows/distinct-namespaces", lambda b: {n for n in b if "." in n}),
        ("/api/v1/namespaces", lambda b: {n["name"] for n in b if n["name"] != "acme"}),
    ],
)
def test_searches_list_only_readable_namespaces(reader_api, url, namespaces) -> None:
    response = reader_api.get(url)

    assert response.status_code == 200, response.content
    assert namespaces(response.json()) == {INSIDE}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/flows/search",
        "/api/v1/executions/search",
        "/api/v1/logs/search",
        "/api/v1/templates/search",
        "/api/v1/flows/export/by-query",
    ],
)
def test_a_search_inside_a_foreign_namespace_is_403_not_an_empty_list(reader_api, url) -> None:
    body = problem(reader_api.get(url, {"namespace": OUTSIDE}), 403)

    assert OUTSIDE in body["detail"]
    # a parent of a readable namespace is fine: the results are filtered
    assert reader_api.get(url, {"namespace": "acme"}).status_code == 200


def test_the_namespace_tree_shows_readable_namespaces_and_their_parents(reader_api) -> None:
    tree = reader_api.get("/api/v1/namespaces/tree").json()

    assert [root["name"] for root in tree] == ["acme"]
    assert tree[0]["flowCount"] == 0
    assert [(c["name"], c["flowCount"]) for c in tree[0]["children"]] == [(INSIDE, 1)]
    assert tree[0]["totalFlowCount"] == 1


def test_bulk_execution_actions_report_forbidden_ids_and_act_on_the_others(
    django_user_model, catalogue
) -> None:
    mine, foreign = execution_in(INSIDE, State.RUNNING), execution_in(OUTSIDE, State.RUNNING)
    api = APIClient()
    api.force_authenticate(make_user(django_user_model, "executor"))

    body = api.post("/api/v1/executions/kill/by-ids", [mine.id, foreign.id], format="json").json()

    assert body["count"] == 1
    assert [(r["id"], r["ok"]) for r in body["results"]] == [(mine.id, True), (foreign.id, False)]
    assert "may not execute" in body["results"][1]["message"]
    assert Execution.objects.get(pk=foreign.pk).state == State.RUNNING
    assert Execution.objects.get(pk=mine.pk).state == State.KILLING


def test_flow_bulk_actions_are_all_or_nothing_on_permission(django_user_model, catalogue) -> None:
    api = APIClient()
    api.force_authenticate(make_user(django_user_model, "writer"))
    refs = [{"namespace": INSIDE, "id": "hello"}, {"namespace": OUTSIDE, "id": "hello"}]

    body = problem(api.delete("/api/v1/flows/delete/by-ids", refs, format="json"), 403)

    assert body["errors"] == [
        {"field": "[1]", "message": f"you may not write in namespace {OUTSIDE!r}"}
    ]
    assert not Flow.objects.filter(deleted=True).exists()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_case_needs_authentication(catalogue, case) -> None:
    body = problem(case.call(APIClient(), INSIDE), 401)

    assert body["type"] == "urn:trellis:problem:unauthenticated"
