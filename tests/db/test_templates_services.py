"""Templates: deploy rules, refused keys, delete, CLI and admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from kernel.spec.model import SpecError
from namespaces.models import Namespace
from templates.models import Template
from templates.selectors import template_get, template_spec
from templates.services import template_delete, template_deploy

pytestmark = pytest.mark.django_db


def template_yaml(
    template_id: str = "greet", namespace: str = "company.team", message: str = "hi"
) -> str:
    return (
        f"id: {template_id}\n"
        f"namespace: {namespace}\n"
        "tasks:\n"
        "  - id: say\n"
        "    type: trellis.core.log.Log\n"
        f"    message: {message}\n"
    )


def test_deploy_creates_then_updates_only_on_change():
    first = template_deploy(source=template_yaml())
    same = template_deploy(source=template_yaml())
    changed = template_deploy(source=template_yaml(message="bye"))

    assert (first.created, first.changed) == (True, True)
    assert (same.created, same.changed) == (False, False)
    assert (changed.created, changed.changed) == (False, True)
    template = template_get("company.team", "greet")
    assert template.revision == 2
    assert template.source == template_yaml(message="bye")
    assert template.tasks == [{"id": "say", "type": "trellis.core.log.Log", "message": "bye"}]
    assert list(Namespace.objects.values_list("name", flat=True)) == ["company", "company.team"]
    assert [t.id for t in template_spec(template).tasks] == ["say"]


def test_flow_only_keys_and_case_clashes_are_refused():
    with pytest.raises(SpecError) as excinfo:
        template_deploy(source=template_yaml() + "triggers: []\n", filename="t.yaml")
    assert [(p.line, p.path) for p in excinfo.value.problems] == [(7, "triggers")]

    template_deploy(source=template_yaml("greet"))
    with pytest.raises(SpecError, match="differ only by case"):
        template_deploy(source=template_yaml("Greet"))
    assert Template.objects.count() == 1


def test_delete_removes_the_template():
    template = template_deploy(source=template_yaml()).template

    template_delete(template=template)

    assert Template.objects.count() == 0


def test_template_command_deploys_all_or_nothing(tmp_path):
    (tmp_path / "a.yaml").write_text(template_yaml("a"))
    (tmp_path / "b.yaml").write_text(template_yaml("b") + "inputs: []\n")
    out = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("template", "deploy", str(tmp_path), stdout=out)

    assert excinfo.value.returncode == 1
    assert out.getvalue().startswith(f"{tmp_path / 'b.yaml'}:7:1: 'inputs' is not allowed")
    assert Template.objects.count() == 0

    (tmp_path / "b.yaml").write_text(template_yaml("b"))
    out = StringIO()
    call_command("template", "deploy", str(tmp_path), stdout=out)
    assert out.getvalue().splitlines() == [
        "company.team a revision 1 (created)",
        "company.team b revision 1 (created)",
    ]
    call_command("template", "delete", "company.team", "a", stdout=StringIO())
    assert list(Template.objects.values_list("template_id", flat=True)) == ["b"]


def test_template_admin_adds_and_edits_through_the_service(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("admin:templates_template_changelist")).status_code == 200

    client.post(reverse("admin:templates_template_add"), {"source": template_yaml(), "_save": "1"})
    template = template_get("company.team", "greet")
    change = reverse("admin:templates_template_change", args=[template.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"source": template_yaml(message="bye"), "_save": "1"})
    bad = client.post(change, {"source": template_yaml() + "triggers: []\n", "_save": "1"})

    template.refresh_from_db()
    assert (template.revision, template.source) == (2, template_yaml(message="bye"))
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["source"][0].startswith("line 7, col 1: 'triggers'")
