"""Secrets and script isolation on real workers (issue 9, security).

The workers know SECRET_DB_PASSWORD (`hunter2-secret`, see harness.py). A flow prints it from
a Shell task and through filters; afterwards no table of the database and no stored file
holds it in any form. Script tasks see a clean environment and a working directory of
their own that is gone once they end."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from executions.documents import execution_json
from executions.models import LogEntry, TaskRun
from executions.services import execution_create, execution_wait
from flows.services import flow_deploy
from kernel.states import State
from tests.cells import every_cell

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "hunter2-secret"
FORMS = {
    SECRET,
    SECRET[::-1],
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(SECRET.encode()).decode().rstrip("="),
    urllib.parse.quote(SECRET, safe=""),
    json.dumps(SECRET)[1:-1],
}

LEAKY = """
id: leaky
namespace: it.security
tasks:
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    env:
      PW: "{{ secret('DB_PASSWORD') }}"
    commands:
      - echo "plain $PW"
      - echo "upper $(printf %s "$PW" | tr a-z A-Z)"
      - echo "b64 $(printf %s "$PW" | base64)"
      - echo "inherited [$SECRET_DB_PASSWORD] [$DATABASE_URL] [$SECRET_KEY]"
      - echo "in the middle:${PW}:of a line" >&2
      - echo "wd $WORKING_DIR"
  - id: again
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "wd $WORKING_DIR"
  - id: filters
    type: io.kestra.plugin.core.log.Log
    message:
      - "{{ secret('DB_PASSWORD') | upper }}"
      - "{{ secret('DB_PASSWORD') | title }}"
      - "{{ secret('DB_PASSWORD') | base64encode }}"
      - "{{ secret('DB_PASSWORD') | urlencode }}"
      - "{{ secret('DB_PASSWORD') | reverse }}"
      - "{{ {'password': secret('DB_PASSWORD')} | json }}"
  - id: python
    type: io.kestra.plugin.scripts.python.Script
    script: |
      import os
      print("py", "{{ secret('DB_PASSWORD') }}", sorted(k for k in os.environ if "SECRET" in k))
  - id: fails
    type: io.kestra.plugin.core.flow.AllowFailure
    tasks:
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
        errorMessage: "cannot log in with {{ secret('DB_PASSWORD') }}"
"""


def leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [form for form in FORMS if form.lower() in lowered]


def test_a_secret_printed_every_way_is_stored_nowhere(workers) -> None:
    flow = flow_deploy(source=LEAKY).flow
    done = execution_wait(execution_create(flow=flow).id, timeout=90)

    messages = list(LogEntry.objects.filter(execution=done).values_list("message", flat=True))
    assert done.state == State.WARNING, messages
    # the run really printed it: each line is there, masked
    for expected in (
        "plain ********",
        "upper ********",
        "b64 ********",
        "inherited [] [] []",
        "in the middle:********:of a line",
        "********",
        '{"password":"********"}',
        "py ******** []",
        "cannot log in with ********",
    ):
        assert expected in messages, messages
    # nothing, anywhere, in any form
    found = [(table, cell[:120]) for table, cell in every_cell() if leaks(cell)]
    assert found == []
    storage = Path(settings.MEDIA_ROOT)
    files = [p for p in storage.rglob("*") if p.is_file()] if storage.exists() else []
    assert [p for p in files if leaks(p.read_bytes().decode("utf-8", errors="replace"))] == []


def test_script_working_directories_are_per_task_run_and_removed(workers) -> None:
    flow = flow_deploy(source=LEAKY.replace("id: leaky", "id: dirs")).flow
    done = execution_wait(execution_create(flow=flow).id, timeout=90)

    dirs = []
    for run in TaskRun.objects.filter(execution=done, task_id__in=["shell", "again"]):
        lines = LogEntry.objects.filter(task_run_id=run.id, message__startswith="wd ")
        dirs.extend(line.message[3:] for line in lines)
    assert len(dirs) == 2
    assert len(set(dirs)) == 2
    for folder in dirs:
        assert Path(folder).is_absolute()
        assert not Path(folder).exists()


def test_a_secret_in_task_outputs_is_stored_but_never_shown(
    workers, monkeypatch, superuser
) -> None:
    flow = flow_deploy(
        source="""
id: outputs-leak
namespace: it.security
tasks:
  - id: ret
    type: io.kestra.plugin.core.debug.Return
    format: "{{ secret('DB_PASSWORD') | upper }}"
  - id: vars
    type: io.kestra.plugin.scripts.shell.Commands
    env:
      PW: "{{ secret('DB_PASSWORD') }}"
    commands:
      - echo '::{"outputs":{"pw":"'"$PW"'"}}::'
outputs:
  - id: out
    type: STRING
    value: "{{ outputs.ret.value }}"
"""
    ).flow
    done = execution_wait(execution_create(flow=flow).id, timeout=90)
    monkeypatch.setenv("SECRET_DB_PASSWORD", base64.b64encode(SECRET.encode()).decode())
    api = APIClient()
    api.force_authenticate(superuser)

    assert done.state == State.SUCCESS
    # The Return's value came out of the sandbox marked (issue 21): it and the flow output
    # are sealed at rest. Only what the script printed, which no template derived, is
    # stored as the task returned it (a later task may need it), in the outputs column.
    assert {table for table, cell in every_cell() if leaks(cell)} == {TaskRun._meta.db_table}
    ret = TaskRun.objects.get(execution=done, task_id="ret")
    assert leaks(json.dumps(ret.outputs)) == []
    # shown masked: the API, the CLI's JSON
    document = api.get(f"/api/v1/executions/{done.id}")
    assert document.status_code == 200
    assert leaks(document.content.decode()) == []
    assert document.json()["outputs"] == {"out": "********"}
    assert leaks(json.dumps(execution_json(done))) == []
