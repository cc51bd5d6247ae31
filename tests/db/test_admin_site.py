"""The admin as Trellis: its name, `/` to the dashboard, Django's and beat's tables only for
superusers in a "System" section, beat's rows read-only, a favicon."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from orchestrator.admin_site import TrellisAdminSite

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="sam", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_execution", "view_flow", "view_user", "view_periodictask"]
        )
    )
    return user


def sections(response) -> list[str]:
    return [app["name"] for app in response.context["available_apps"]]


def test_the_site_is_trellis() -> None:
    assert isinstance(admin.site, TrellisAdminSite)  # admin.site is a lazy proxy of it


def test_index_is_branded_and_system_is_for_superusers_only(client, superuser, staff) -> None:
    client.force_login(superuser)
    page = client.get("/admin/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<title>Control room | Trellis</title>" in html
    assert "Django administration" not in html
    assert 'rel="icon"' in html
    names = sections(page)
    assert names[-1] == "System"
    assert "Periodic tasks" not in " ".join(names)  # not an app of its own any more
    system = page.context["available_apps"][-1]
    assert {m["object_name"] for m in system["models"]} >= {"User", "Group", "PeriodicTask"}
    assert not {"Authentication and Authorization", "Periodic Tasks"} & set(names)

    client.force_login(staff)
    page = client.get("/admin/")
    assert page.status_code == 200
    names = sections(page)
    assert "System" not in names
    assert not {"Authentication and Authorization", "Periodic Tasks"} & set(names)
    assert "/admin/django_celery_beat/" not in page.content.decode()


def test_beat_rows_are_read_only_even_for_superusers(client, superuser) -> None:
    schedule = CrontabSchedule.objects.create(minute="0", hour="*")
    task = PeriodicTask.objects.create(name="trellis:a:b:c", task="x", crontab=schedule)
    client.force_login(superuser)

    page = client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert 'name="_save"' not in page.content.decode()
    assert client.get("/admin/django_celery_beat/periodictask/add/").status_code == 403
    response = client.post(
        f"/admin/django_celery_beat/periodictask/{task.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert PeriodicTask.objects.filter(pk=task.pk).exists()


def test_root_goes_to_the_dashboard_and_the_favicon_is_served(client, superuser) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    client.force_login(superuser)
    assert client.get("/", follow=True).templates[0].name == "admin/executions/dashboard.html"
    icon = client.get("/favicon.ico")
    assert icon.status_code == 302
    assert icon["Location"].endswith("orchestrator/favicon.svg")
