"""Namespace access decided once, in ``access.policy``, and enforced by the services, so the
API, the admin and the CLI agree (issue 6)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from access.models import NamespaceGrant
from access.policy import AccessDenied, Action, allows, check, readable
from executions.models import Execution
from executions.services import execution_create, execution_kill
from flows.models import Flow, FlowRevision
from flows.services import flow_delete, flow_deploy, flow_set_disabled, flows_deploy_folder
from kernel.states import State
from templates.models import Template
from templates.services import template_deploy
from tests.conftest import flow_yaml
from tests.db.api_support import log_type_available  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ana")


def grant(namespace: str, permission: str, **who) -> NamespaceGrant:
    return NamespaceGrant.objects.create(namespace=namespace, permission=permission, **who)


@pytest.mark.parametrize(
    ("namespace", "allowed"),
    [("acme", True), ("acme.team", True), ("acme.team.etl", True), ("acmex", False),
     ("acm", False), ("other.acme", False)],
)  # fmt: skip
def test_a_grant_covers_its_namespace_and_those_inside_by_whole_segments(
    user, namespace, allowed
) -> None:
    grant("acme", "read", user=user)

    assert allows(user, namespace, Action.READ) is allowed


@pytest.mark.parametrize(
    ("permission", "read", "execute", "write"),
    [("read", True, False, False), ("execute", True, True, False), ("write", True, True, True)],
)
def test_permissions_are_cumulative(user, permission, read, execute, write) -> None:
    grant("acme", permission, user=user)

    assert [allows(user, "acme.x", a) for a in Action] == [read, execute, write]


def test_group_grants_apply_to_members_and_the_best_grant_wins(user) -> None:
    group = Group.objects.create(name="ops")
    user.groups.add(group)
    grant("acme", "read", user=user)
    grant("acme.team", "write", group=group)

    assert allows(user, "acme.team.etl", Action.WRITE)
    assert not allows(user, "acme.other", Action.EXECUTE)


def test_superusers_may_do_everything_and_inactive_or_anonymous_users_nothing(
    django_user_model, user
) -> None:
    root = django_user_model.objects.create_superuser(username="root")
    grant("acme", "write", user=user)
    user.is_active = False
    user.save()

    assert allows(root, "anything.at.all", Action.WRITE)
    assert not allows(user, "acme", Action.READ)
    assert not allows(AnonymousUser(), "acme", Action.READ)
    assert allows(None, "acme", Action.WRITE)  # a trusted operator (CLI, triggers)


def test_access_denied_is_a_django_permission_denied_naming_what_was_refused(user) -> None:
    with pytest.raises(PermissionDenied) as caught:
        check(user, "acme.team", Action.EXECUTE)

    assert isinstance(caught.value, AccessDenied)
    assert str(caught.value) == "you may not execute in namespace 'acme.team'"


def test_readable_filters_a_queryset_by_namespace(user) -> None:
    for ns in ("acme.a", "acmex", "zed"):
        flow_deploy(source=flow_yaml("f", ns))
    grant("acme", "read", user=user)
    grant("zed", "read", user=user)

    names = readable(Flow.objects.all(), user, "namespace__name").values_list(
        "namespace__name", flat=True
    )
    assert sorted(names) == ["acme.a", "zed"]
    assert readable(Flow.objects.all(), None, "namespace__name").count() == 3
    assert not readable(Flow.objects.all(), AnonymousUser(), "namespace__name").exists()


def test_a_grant_is_for_a_user_or_a_group_and_names_a_valid_namespace(user) -> None:
    group = Group.objects.create(name="ops")
    with pytest.raises(ValidationError):
        NamespaceGrant(namespace="not a namespace!", permission="read", user=user).full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        grant("acme", "read", user=user, group=group)
    with transaction.atomic(), pytest.raises(IntegrityError):
        grant("acme", "read")


# --- the services enforce it ------------------------------------------------------------------


def test_deploy_needs_write_and_a_refused_deploy_writes_nothing(user) -> None:
    grant("acme", "execute", user=user)

    with pytest.raises(AccessDenied):
        flow_deploy(source=flow_yaml("f", "acme.team"), author=user)
    with pytest.raises(AccessDenied):
        template_deploy(
            source="id: t\nnamespace: acme\ntasks:\n  - id: a\n    type: trellis.core.log.Log\n"
            "    message: hi\n",
            author=user,
        )

    assert not Flow.objects.exists()
    assert not Template.objects.exists()


def test_a_folder_deploy_touching_one_forbidden_namespace_deploys_nothing(user) -> None:
    grant("acme", "write", user=user)
    documents = [("a.yml", flow_yaml("a", "acme")), ("b.yml", flow_yaml("b", "beta"))]

    with pytest.raises(AccessDenied, match="'beta'"):
        flows_deploy_folder(documents=documents, author=user)

    assert not Flow.objects.exists()


def test_delete_and_disable_need_write(user) -> None:
    flow = flow_deploy(source=flow_yaml("f", "acme")).flow
    grant("acme", "execute", user=user)

    with pytest.raises(AccessDenied):
        flow_delete(flow=flow, author=user)
    with pytest.raises(AccessDenied):
        flow_set_disabled(flow=flow, disabled=True, author=user)

    flow.refresh_from_db()
    assert (flow.deleted, flow.disabled, FlowRevision.objects.count()) == (False, False, 1)


def test_running_and_killing_need_execute(user) -> None:
    flow = flow_deploy(source=flow_yaml("f", "acme")).flow
    grant("acme", "read", user=user)

    with pytest.raises(AccessDenied):
        execution_create(flow=flow, actor=user)
    assert not Execution.objects.exists()

    execution = execution_create(flow=flow)  # a trusted caller (a trigger, the CLI)
    Execution.objects.filter(pk=execution.pk).update(state=State.RUNNING)
    execution.refresh_from_db()
    with pytest.raises(AccessDenied):
        execution_kill(execution, actor=user)
    assert Execution.objects.get(pk=execution.pk).state == State.RUNNING


def test_the_cli_is_a_trusted_operator(tmp_path) -> None:
    (tmp_path / "f.yml").write_text(flow_yaml("f", "acme"))

    call_command("flow", "deploy", str(tmp_path), stdout=StringIO(), stderr=StringIO())

    assert Flow.objects.filter(namespace__name="acme", flow_id="f").exists()
