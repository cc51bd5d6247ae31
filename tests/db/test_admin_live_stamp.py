"""The execution page refreshes itself when its stamp moves, so the stamp it is rendered with
must be no newer than what it shows: a worker that claims a task run while the page is being
rendered must still make the page refresh."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from executions.admin import views as admin_views
from executions.models import TaskRun, TaskRunAttempt
from executions.runtime.advance import advance_execution
from executions.services import execution_create
from flows.services import flow_deploy

pytestmark = pytest.mark.django_db

FLOW = "id: nap\nnamespace: company.team\ntasks:\n  - id: a\n    type: trellis.core.log.Log\n    message: hi\n"  # fmt: skip


def test_a_claim_while_the_page_renders_still_refreshes_it(
    client, superuser, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.force_login(superuser)
    execution = execution_create(flow=flow_deploy(source=FLOW).flow)
    advance_execution(execution.id)  # run "a" CREATED, its attempt queued
    real_spec = admin_views.execution_spec

    def claimed_meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # Between the page's read of the task runs and the rest: a worker claims "a".
        TaskRun.objects.filter(execution=execution).update(state="RUNNING")
        TaskRunAttempt.objects.filter(execution=execution).update(
            state="RUNNING", started_at=timezone.now()
        )
        return real_spec(*args, **kwargs)

    monkeypatch.setattr(admin_views, "execution_spec", claimed_meanwhile)
    page = client.get(reverse("admin:executions_execution_change", args=[execution.id]))
    assert page.status_code == 200
    rendered = re.search(r'data-stamp="([^"]+)"', page.content.decode()).group(1)
    state_url = reverse("admin:executions_execution_state", args=[execution.id])
    now = client.get(state_url).json()["stamp"]
    assert rendered != now  # the page's next poll sees a change and shows the run RUNNING
