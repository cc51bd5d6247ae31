"""The Namespace model moved from ``flows`` to ``namespaces`` (issue 16) without touching the
database: a database migrated before the move keeps its namespaces, the flows and templates
pointing at them, and the permissions granted on them.

The test migrates back to the state before the move (flows 0001, namespaces 0002, templates
0001), writes rows with the models of that state, then migrates forward again.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("flows", "0001_initial"), ("namespaces", "0002_allowed_namespaces"),
          ("templates", "0001_initial")]  # fmt: skip


def migrate(targets: list[tuple[str, str]]):
    """Migrate to ``targets`` (every other app at its latest) and return that state's apps."""
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    moved = {app for app, _ in targets}
    targets = [*targets, *(leaf for leaf in leaves if leaf[0] not in moved)]
    MigrationExecutor(connection).migrate(targets)
    executor = MigrationExecutor(connection)  # a fresh graph, as a new ``migrate`` would
    return executor.loader.project_state(targets).apps


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_namespaces_flows_templates_and_grants_survive_the_move() -> None:
    old = migrate(BEFORE)
    try:
        assert old.get_model("flows", "Namespace")._meta.db_table == "flows_namespace"
        old_ns = old.get_model("flows", "Namespace")
        top = old_ns.objects.create(name="company", depth=0)
        team = old_ns.objects.create(name="company.team", depth=1, parent=top)
        flow = old.get_model("flows", "Flow").objects.create(
            namespace=team, flow_id="hello", source="id: hello"
        )
        template = old.get_model("templates", "Template").objects.create(
            namespace=team, template_id="common", source="id: common"
        )
        content_types = old.get_model("contenttypes", "ContentType")
        ct, _ = content_types.objects.get_or_create(app_label="flows", model="namespace")
        permission = old.get_model("auth", "Permission").objects.create(
            content_type=ct, codename="view_namespace_move_test", name="test grant"
        )
        group = old.get_model("auth", "Group").objects.create(name="ns-move-viewers")
        group.permissions.add(permission)
    finally:
        new = migrate(latest())

    namespaces = new.get_model("namespaces", "Namespace")
    assert namespaces._meta.db_table == "flows_namespace"
    assert list(namespaces.objects.order_by("name").values_list("name", "parent__name")) == [
        ("company", None),
        ("company.team", "company"),
    ]
    assert new.get_model("flows", "Flow").objects.get(pk=flow.pk).namespace.name == "company.team"
    moved_template = new.get_model("templates", "Template").objects.get(pk=template.pk)
    assert moved_template.namespace.name == "company.team"
    granted = new.get_model("auth", "Group").objects.get(name="ns-move-viewers").permissions.get()
    assert (granted.content_type.app_label, granted.content_type.model) == (
        "namespaces",
        "namespace",
    )


def test_the_running_code_uses_the_moved_model_and_the_same_table() -> None:
    from flows.models import Flow
    from namespaces.models import Namespace
    from templates.models import Template

    assert Namespace._meta.app_label == "namespaces"
    assert Namespace._meta.db_table == "flows_namespace"
    assert Flow._meta.get_field("namespace").related_model is Namespace
    assert Template._meta.get_field("namespace").related_model is Namespace
