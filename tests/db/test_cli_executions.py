"""``flow run`` without --wait and the ``execution`` commands, on a database only."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from executions.models import Execution, LogEntry, TaskRun
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db

FLOW = """
id: cli
namespace: t.cli
inputs:
  - id: n
    type: INT
  - id: doc
    type: FILE
    required: false
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.n }}"
"""


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture(autouse=True)
def flow():
    return flow_deploy(source=FLOW).flow


def test_flow_run_creates_a_typed_execution_with_labels_and_files(tmp_path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("hello")
    out = run("flow", "run", "t.cli", "cli", "--input", "n=3", "--label", "team=a",
              "--file-input", f"doc={data}", "--json")  # fmt: skip
    doc = json.loads(out)
    execution = Execution.objects.get(pk=doc["id"])
    assert execution.inputs["n"] == 3
    assert execution.inputs["doc"].endswith("/inputs/doc/data.txt")
    assert execution.labels == {"team": "a", "system.correlationId": execution.id}
    assert set(doc) >= {"id", "namespace", "flowId", "flowRevision", "state", "inputs",
                        "outputs", "labels", "taskRuns"}  # fmt: skip


def test_bad_inputs_exit_1_naming_each_input_and_create_nothing() -> None:
    with pytest.raises(CommandError) as err:
        run("flow", "run", "t.cli", "cli", "--input", "n=many", "--input", "zzz=1")
    assert err.value.returncode == 1
    assert "n:" in str(err.value)
    assert "zzz:" in str(err.value)
    assert Execution.objects.count() == 0


@pytest.mark.parametrize("args", [["--input", "novalue"], ["--label", "x"]])
def test_malformed_pairs_are_refused(args) -> None:
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run("flow", "run", "t.cli", "cli", *args)


def test_unknown_flow_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="no flow 'nope'"):
        run("flow", "run", "t.cli", "nope")


def test_execution_list_show_logs_and_actions() -> None:
    execution_id = run("flow", "run", "t.cli", "cli", "--input", "n=1").strip()
    TaskRun.objects.create(execution_id=execution_id, task_id="a", state=State.FAILED, seq=1)
    Execution.objects.filter(pk=execution_id).update(state=State.FAILED)
    from django.utils import timezone

    LogEntry.objects.create(execution_id=execution_id, task_id="a", timestamp=timezone.now(),
                            level="ERROR", message="it broke")  # fmt: skip
    assert execution_id in run("execution", "list", "--namespace", "t")
    assert run("execution", "list", "--state", "SUCCESS").strip() == ""
    shown = run("execution", "show", execution_id, "--logs")
    assert "FAILED" in shown
    assert "it broke" in shown
    doc = json.loads(run("execution", "show", execution_id, "--json", "--logs"))
    assert doc["logs"][0]["message"] == "it broke"
    assert "it broke" in run("execution", "logs", execution_id, "--level", "ERROR")
    assert run("execution", "logs", execution_id, "--level", "WARN").count("it broke") == 1
    with pytest.raises(CommandError, match="not PAUSED"):
        run("execution", "resume", execution_id)
    assert "is RESTARTED" in run("execution", "restart", execution_id)
    with pytest.raises(CommandError, match="no execution"):
        run("execution", "show", "missing")


def test_resume_takes_file_inputs_from_the_command_line(tmp_path, settings) -> None:
    from executions.services import execution_create
    from orchestrator.storage import default_storage

    settings.MEDIA_ROOT = tmp_path / "storage"
    flow = flow_deploy(
        source="id: gate\nnamespace: t.cli\ntasks:\n  - id: wait\n"
        "    type: io.kestra.plugin.core.flow.Pause\n    onResume:\n"
        "      - id: proof\n        type: FILE\n"
    ).flow
    execution = execution_create(flow=flow)
    Execution.objects.filter(pk=execution.pk).update(state=State.PAUSED)
    run_row = TaskRun.objects.create(execution=execution, task_id="wait", state=State.PAUSED, seq=1)
    proof = tmp_path / "proof.txt"
    proof.write_text("signed")

    with pytest.raises(CommandError, match="no such file"):
        run("execution", "resume", execution.id, "--file-input", f"proof={tmp_path / 'nope'}")
    assert "is RUNNING" in run(
        "execution", "resume", execution.id, "--file-input", f"proof={proof}"
    )

    uri = TaskRun.objects.get(pk=run_row.pk).outputs["onResume"]["proof"]
    with default_storage().open(uri) as handle:
        assert handle.read() == b"signed"
