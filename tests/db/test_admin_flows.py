"""Admin pages render, show YAML problems at their lines, and save through the services."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from flows.models import Flow, FlowRevision
from flows.selectors import flow_get
from flows.services import flow_deploy
from tests.conftest import flow_yaml

pytestmark = pytest.mark.django_db

BROKEN = "id: hello\nnamespace: company.team\ntasks:\n  - id: t\n"  # line 4: task without type


@pytest.fixture
def client(client, superuser):
    client.force_login(superuser)
    return client


def change_url(flow: Flow) -> str:
    return reverse("admin:flows_flow_change", args=[flow.pk])


def test_namespace_tree_lists_counts(client):
    flow_deploy(source=flow_yaml("one", "a.b"))
    flow_deploy(source=flow_yaml("two", "a.b.c"))

    url = reverse("admin:namespaces_namespace_changelist")
    page = client.get(url)

    assert url == "/admin/namespaces/namespace/"  # the model moved to namespaces (issue 16)
    assert page.status_code == 200
    rows = page.context["cl"].result_list
    assert [(ns.name, ns.live_flows) for ns in rows] == [("a", 0), ("a.b", 1), ("a.b.c", 1)]
    assert [page.context["cl"].model_admin.flows_inside(ns) for ns in rows] == [2, 2, 1]
    assert 'href="/admin/flows/flow/?namespace=a.b"' in page.content.decode()


def test_the_old_namespace_admin_address_redirects(client):
    page = client.get("/admin/flows/namespace/?q=a")

    assert page.status_code == 301
    assert page["Location"] == "/admin/namespaces/namespace/?q=a"


def test_flow_list_filters_by_namespace_prefix_label_and_disabled(client):
    flow_deploy(source=flow_yaml("one", "a.b", extra="labels:\n  team: data\n"))
    flow_deploy(source=flow_yaml("two", "a.bc", extra="labels:\n  team: web\n"))
    flow_deploy(source=flow_yaml("three", "a.b.c", extra="disabled: true\n"))
    url = reverse("admin:flows_flow_changelist")

    def listed(query: str) -> list[str]:
        page = client.get(f"{url}?{query}")
        assert page.status_code == 200
        return sorted(f.flow_id for f in page.context["cl"].result_list)

    assert listed("") == ["one", "three", "two"]
    assert listed("namespace=a.b") == ["one", "three"]
    assert listed("label=team%3Ddata") == ["one"]
    assert listed("disabled__exact=1") == ["three"]


def test_add_page_deploys_through_the_service(client, superuser):
    assert client.get(reverse("admin:flows_flow_add")).status_code == 200

    response = client.post(reverse("admin:flows_flow_add"), {"source": flow_yaml(), "_save": "1"})

    assert response.status_code == 302
    flow = flow_get("company.team", "hello")
    assert (flow.revision, flow.source) == (1, flow_yaml())
    assert FlowRevision.objects.get(flow=flow).author == superuser


def test_invalid_source_lists_every_problem_at_its_line_and_saves_nothing(client):
    response = client.post(reverse("admin:flows_flow_add"), {"source": BROKEN, "_save": "1"})

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["source"]
    assert all(e.startswith("line ") and ", col " in e for e in form.errors["source"])
    bad_lines = [line.number for line in form.annotated_source() if line.messages]
    assert bad_lines == [p.line for p in form.problems]
    html = response.content.decode()
    assert 'id="source-problems"' in html
    assert '<tr class="bad">' in html
    assert Flow.objects.count() == 0


def test_change_page_edits_source_and_lists_revisions(client):
    flow = flow_deploy(source=flow_yaml()).flow

    page = client.get(change_url(flow))
    assert page.status_code == 200
    assert 'id="revisions"' in page.content.decode()

    response = client.post(change_url(flow), {"source": flow_yaml(message="v2"), "_save": "1"})

    assert response.status_code == 302
    flow.refresh_from_db()
    assert (flow.revision, flow.source) == (2, flow_yaml(message="v2"))


def test_saving_an_unchanged_page_makes_no_revision_despite_crlf(client):
    flow = flow_deploy(source=flow_yaml()).flow

    client.post(change_url(flow), {"source": flow_yaml().replace("\n", "\r\n"), "_save": "1"})

    flow.refresh_from_db()
    assert (flow.revision, flow.source) == (1, flow_yaml())


def test_change_page_refuses_a_source_for_another_flow(client):
    flow = flow_deploy(source=flow_yaml("hello")).flow
    flow_deploy(source=flow_yaml("other"))

    response = client.post(change_url(flow), {"source": flow_yaml("other"), "_save": "1"})

    assert response.status_code == 200
    assert (
        "this page edits company.team.hello"
        in response.context["adminform"].form.errors["source"][0]
    )
    add = client.post(reverse("admin:flows_flow_add"), {"source": flow_yaml("Other"), "_save": "1"})
    assert "differ only by case" in add.context["adminform"].form.errors["source"][0]
    assert Flow.objects.get(pk=flow.pk).revision == 1


def test_revision_page_shows_diff_and_restore_makes_a_new_revision(client, superuser):
    flow = flow_deploy(source=flow_yaml(message="v1")).flow
    flow_deploy(source=flow_yaml(message="v2"))

    page = client.get(reverse("admin:flows_flow_revision", args=[flow.pk, 2]))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<span class="del">-    message: v1</span>' in html
    assert '<span class="add">+    message: v2</span>' in html

    assert (
        client.get(reverse("admin:flows_flow_revision_restore", args=[flow.pk, 1])).status_code
        == 403
    )
    response = client.post(reverse("admin:flows_flow_revision_restore", args=[flow.pk, 1]))

    assert response.status_code == 302
    flow.refresh_from_db()
    assert (flow.revision, flow.source) == (3, flow_yaml(message="v1"))
    assert FlowRevision.objects.get(flow=flow, revision=3).author == superuser


def test_delete_in_admin_is_a_soft_delete(client):
    flow = flow_deploy(source=flow_yaml()).flow

    response = client.post(reverse("admin:flows_flow_delete", args=[flow.pk]), {"post": "yes"})

    assert response.status_code == 302
    flow.refresh_from_db()
    assert (flow.deleted, flow.revision) == (True, 2)
    assert FlowRevision.objects.get(flow=flow, revision=2).deleted is True


def test_disable_action_goes_through_the_service(client):
    flow = flow_deploy(source=flow_yaml()).flow

    client.post(
        reverse("admin:flows_flow_changelist"),
        {"action": "disable_flows", "_selected_action": [flow.pk]},
    )

    flow.refresh_from_db()
    assert (flow.disabled, flow.revision) == (True, 1)


def test_flow_page_shows_the_next_fire_of_a_schedule(client, settings, monkeypatch):
    from triggers import sync

    settings.TIME_ZONE = "UTC"
    monkeypatch.setattr(sync, "clock", lambda: datetime(2025, 1, 6, 9, 30, tzinfo=UTC))
    schedule = (
        "triggers:\n  - id: nightly\n    type: io.kestra.plugin.core.trigger.Schedule\n"
        "    cron: '0 2 * * *'\n"
    )
    flow = flow_deploy(source=flow_yaml("nightly", extra=schedule)).flow

    html = " ".join(client.get(change_url(flow)).content.decode().split())

    # trigger, type, armed, next fire (02:00 after the deploy at 09:30), last fire
    assert (
        '<tr><td>nightly</td><td>Schedule</td> <td>yes</td> <td><time class="trellis-time" '
        'datetime="2025-01-07T02:00:00+00:00">2025-01-07 02:00:00 UTC</time></td> <td>—</td></tr>'
    ) in html
