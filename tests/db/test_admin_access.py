"""The admin agrees with the API on namespace access (issue 6): a staff user with every model
permission still sees and acts only where their namespace grants allow."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from access.models import NamespaceGrant
from executions.models import Execution
from executions.services import execution_create
from flows.models import Flow
from flows.services import flow_deploy
from kernel.states import State
from tests.conftest import flow_yaml

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model, client):
    """Staff with every flows/executions/templates model permission, and read on ``acme``."""
    user = django_user_model.objects.create_user(username="staff", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["flows", "executions", "templates"])
    )
    NamespaceGrant.objects.create(user=user, namespace="acme", permission="read")
    client.force_login(user)
    return user


@pytest.fixture
def executions():
    found = {}
    for ns in ("acme.team", "beta"):
        flow = flow_deploy(source=flow_yaml("hello", ns)).flow
        execution = execution_create(flow=flow)
        Execution.objects.filter(pk=execution.pk).update(state=State.RUNNING)
        found[ns] = execution
    return found


def test_lists_show_only_readable_namespaces(staff, client, executions) -> None:
    flows = client.get(reverse("admin:flows_flow_changelist"))
    runs = client.get(reverse("admin:executions_execution_changelist"))

    assert [str(f) for f in flows.context["cl"].result_list] == ["acme.team.hello"]
    assert [e.namespace for e in runs.context["cl"].result_list] == ["acme.team"]


def test_a_foreign_execution_page_is_403(staff, client, executions) -> None:
    foreign = executions["beta"]

    assert (
        client.get(reverse("admin:executions_execution_state", args=[foreign.id])).status_code
        == 403
    )
    mine = client.get(
        reverse("admin:executions_execution_state", args=[executions["acme.team"].id])
    )
    assert mine.status_code == 200


def test_acting_needs_execute_even_with_the_change_permission(staff, client, executions) -> None:
    mine = executions["acme.team"]
    url = reverse("admin:executions_execution_action", args=[mine.id, "kill"])

    assert client.post(url).status_code == 403
    assert Execution.objects.get(pk=mine.pk).state == State.RUNNING

    NamespaceGrant.objects.filter(user=staff).update(permission="execute")
    assert client.post(url).status_code == 302
    assert Execution.objects.get(pk=mine.pk).state == State.KILLING


def test_saving_a_flow_needs_write(staff, client, executions) -> None:
    flow = Flow.objects.get(namespace__name="acme.team")
    url = reverse("admin:flows_flow_change", args=[flow.pk])

    response = client.post(url, {"source": flow_yaml("hello", "acme.team", message="Bye")})

    assert response.status_code == 403
    flow.refresh_from_db()
    assert flow.revision == 1


def test_superusers_grant_access_in_the_admin(superuser, client, django_user_model) -> None:
    user = django_user_model.objects.create_user(username="ana")
    client.force_login(superuser)

    response = client.post(
        reverse("admin:access_namespacegrant_add"),
        {"namespace": "acme.team", "permission": "execute", "user": user.pk, "group": ""},
    )

    assert response.status_code == 302, response.content
    assert NamespaceGrant.objects.get().permission == "execute"
    refused = client.post(
        reverse("admin:access_namespacegrant_add"),
        {"namespace": "not a namespace", "permission": "read", "user": user.pk, "group": ""},
    )
    assert refused.status_code == 200
    assert NamespaceGrant.objects.count() == 1


def test_the_trigger_links_an_upstream_execution_only_where_it_may_be_read(
    staff, client, executions
) -> None:
    flow = Flow.objects.get(namespace__name="acme.team", flow_id="hello")

    def started_after(upstream: Execution) -> str:
        trigger = {"id": "after", "type": "io.kestra.plugin.core.trigger.Flow",
                   "variables": {"executionId": upstream.id}}  # fmt: skip
        execution = execution_create(flow=flow, trigger=trigger)
        url = reverse("admin:executions_execution_change", args=[execution.id])
        return client.get(url).content.decode()

    readable_html = started_after(executions["acme.team"])
    foreign_html = started_after(executions["beta"])

    assert 'id="trigger-upstream"' in readable_html
    assert "acme.team.hello</td>" in readable_html
    assert 'id="trigger-upstream"' not in foreign_html
    assert f"<code>{executions['beta'].id}</code>" in foreign_html  # the id only, no link
    assert "beta.hello" not in foreign_html
