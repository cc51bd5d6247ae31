"""A third-party distribution with a broken plugin and two clashing ones, installed beside
Trellis's own (tests/unit/plugin_dist.py): deploy refuses only the flows using their types,
with the reason; every other flow deploys and runs; the CLI and the API show the problems."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from executions.models import TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.spec.model import SpecError
from tests.db.test_incremental_snapshots import (
    _checked_and_quiet,  # noqa: F401 - fixture: executions driven in this process
    drive,
)
from tests.unit.plugin_dist import acme_registry  # noqa: F401 - the `acme` fixture

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = """id: good
namespace: acme.team
tasks:
  - id: hello
    type: acme.ok.Hello
    name: "{{ flow.id }}"
  - id: one
    type: acme.one.One
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.hello.greeting }}"
"""


def refused(source: str) -> str:
    with pytest.raises(SpecError) as caught:
        flow_deploy(source=source)
    return str(caught.value)


def test_only_the_flows_of_the_broken_plugins_are_refused_and_the_others_run(acme):
    broken = refused(
        "id: broken\nnamespace: acme.team\ntasks:\n  - id: t\n    type: acme.broken.Thing\n"
    )
    clash = refused("id: clash\nnamespace: acme.team\ntasks:\n  - id: t\n    type: acme.Shared\n")
    flow = flow_deploy(source=GOOD).flow

    assert "comes from plugin 'acme-broken' (acme_broken), which failed to load" in broken
    assert "ModuleNotFoundError" in broken
    assert "plugin 'acme-one' (acme_one)" in clash
    assert "plugin 'acme-two' (acme_two)" in clash
    execution = execution_create(flow=flow)
    assert drive(str(execution.pk)) == "SUCCESS"
    runs = {r.task_id: r.outputs for r in TaskRun.objects.filter(execution=execution)}
    assert runs["hello"] == {"greeting": "hello good"}
    assert runs["one"] == {"who": "one"}


def test_plugins_list_shows_the_families_and_the_problems(acme):
    out = StringIO()
    call_command("plugins", "list", "--types", stdout=out)
    text = out.getvalue()

    assert text.splitlines()[0].split() == ["FAMILY", "TYPES", "ALIASES", "EXTRA", "MODULE"]
    assert "acme.ok.Hello" in text
    assert "acme (missing: trellis_test_optional_library_missing)" in text
    assert "load problems (2):" in text
    assert "plugin 'acme-broken' (acme_broken) failed to load: ModuleNotFoundError" in text
    assert "clash: type name 'acme.Shared' claimed by both" in text

    data = StringIO()
    call_command("plugins", "list", "--json", stdout=data)
    document = json.loads(data.getvalue())
    assert {p["kind"] for p in document["problems"]} == {"import", "clash"}
    with pytest.raises(CommandError):
        call_command("plugins", "list", "--strict", stdout=StringIO())


def test_the_api_shows_each_types_plugin_and_the_problems(acme, django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user(username="ana"))

    hello = client.get("/api/v1/plugins/acme.ok.Hello").json()
    needy = client.get("/api/v1/plugins/acme.ok.Needy").json()
    families = client.get("/api/v1/plugins/families")

    assert (hello["plugin"], hello["module"]) == ("acme-ok", "acme_ok")
    assert needy["extra"] == "acme"
    assert needy["requires"] == ["trellis_test_optional_library_missing"]
    assert families.status_code == 200
    body = families.json()
    by_name = {f["name"]: f for f in body["families"]}
    assert by_name["acme-broken"]["error"].startswith("ModuleNotFoundError")
    assert by_name["core.log"]["distribution"] == "trellis"
    assert [p["plugin"] for p in body["problems"] if p["kind"] == "import"] == ["acme-broken"]
    shared = client.get("/api/v1/plugins/acme.Shared")
    assert shared.status_code == 404
    assert "claimed by both" in shared.json()["detail"]
