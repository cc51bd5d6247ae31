"""The command line against real Celery workers: ``flow run --wait`` follows an execution to
its end, prints its logs and outputs, and exits non-zero when it does not succeed."""

from __future__ import annotations

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from executions.models import Execution
from flows.services import flow_deploy
from kernel.states import State
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HELLO = """
id: cli-wait
namespace: it.cli
inputs:
  - id: name
    type: STRING
    defaults: world
tasks:
  - id: hi
    type: io.kestra.plugin.core.log.Log
    message: hello {{ inputs.name }} from the cli
  - id: answer
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.name | upper }}"
outputs:
  - id: shout
    type: STRING
    value: "{{ outputs.answer.value }}"
"""


def test_flow_run_wait_prints_logs_outputs_and_success_last(workers) -> None:
    flow_deploy(source=HELLO)
    out = StringIO()

    call_command("flow", "run", "it.cli", "cli-wait", "--input", "name=ada", "--wait", stdout=out)

    lines = out.getvalue().splitlines()
    execution = Execution.objects.get()
    assert lines[0] == f"execution {execution.id} of it.cli.cli-wait rev 1"
    assert any(line.endswith("INFO  hi: hello ada from the cli") for line in lines)
    assert "  SUCCESS   hi" in lines
    assert "  SUCCESS   answer" in lines
    assert lines[-3:-1] == ["outputs:", "  shout: ADA"]
    assert lines[-1].startswith(f"SUCCESS {execution.id}")


def test_flow_run_wait_json_prints_only_the_final_document(workers) -> None:
    flow_deploy(source=HELLO)
    out = StringIO()

    call_command("flow", "run", "it.cli", "cli-wait", "--wait", "--json", stdout=out)

    doc = json.loads(out.getvalue())
    assert doc["state"] == "SUCCESS"
    assert doc["outputs"] == {"shout": "WORLD"}
    assert [(r["taskId"], r["state"]) for r in doc["taskRuns"]] == [
        ("hi", "SUCCESS"),
        ("answer", "SUCCESS"),
    ]


def test_flow_run_wait_exits_1_when_the_flow_fails(workers) -> None:
    flow_deploy(
        source="id: cli-fail\nnamespace: it.cli\ntasks:\n  - id: boom\n"
        "    type: io.kestra.plugin.core.execution.Fail\n    errorMessage: no luck\n"
    )
    out = StringIO()

    with pytest.raises(CommandError, match="ended FAILED") as err:
        call_command("flow", "run", "it.cli", "cli-fail", "--wait", stdout=out)

    assert err.value.returncode == 1
    assert "  FAILED    boom" in out.getvalue().splitlines()
    assert out.getvalue().splitlines()[-1].startswith("FAILED ")


def test_kill_from_the_cli_ends_a_running_execution_killed(workers) -> None:
    flow_deploy(
        source="id: cli-sleep\nnamespace: it.cli\ntasks:\n  - id: nap\n"
        "    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT60S\n"
    )
    execution_id = StringIO()
    call_command("flow", "run", "it.cli", "cli-sleep", stdout=execution_id)
    execution_id = execution_id.getvalue().strip()
    wait_for(lambda: Execution.objects.get(pk=execution_id).state == State.RUNNING)

    errors: list[CommandError] = []

    def wait_in_thread() -> None:
        try:
            call_command("execution", "wait", execution_id, "--timeout", "60", stdout=StringIO())
        except CommandError as exc:
            errors.append(exc)
        finally:
            connection.close()

    waiter = threading.Thread(target=wait_in_thread)
    waiter.start()
    call_command("execution", "kill", execution_id, stdout=StringIO())
    waiter.join(timeout=60)

    assert not waiter.is_alive()
    assert [str(e) for e in errors] == [f"execution {execution_id} ended KILLED"]
    assert Execution.objects.get(pk=execution_id).state == State.KILLED
