"""``flow run`` (without workers) and the ``execution`` commands on executions made directly:
what they create, what they print, and how they fail."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from executions.cli import format as fmt
from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create
from flows.services import flow_deploy
from kernel.states import State

pytestmark = pytest.mark.django_db

FLOW = """
id: typed
namespace: t.cli
labels:
  team: flow-default
inputs:
  - id: count
    type: INT
  - id: loud
    type: BOOLEAN
    defaults: false
  - id: doc
    type: FILE
    required: false
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.count }}"
"""


def cli(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout or StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def flow():
    return flow_deploy(source=FLOW).flow


def ended(flow, state: State = State.SUCCESS, **fields) -> Execution:
    """An execution created by the service, then moved to ``state`` as if it had run."""
    execution = execution_create(flow=flow, inputs={"count": 1})
    start = timezone.now() - timedelta(seconds=3)
    Execution.objects.filter(pk=execution.pk).update(
        state=state, started_at=start, ended_at=start + timedelta(seconds=2), **fields
    )
    execution.refresh_from_db()
    return execution


def log(execution: Execution, level: str, message: str, task_id: str = "say") -> LogEntry:
    return LogEntry.objects.create(
        execution=execution, task_id=task_id, level=level, message=message,
        timestamp=timezone.now(),
    )  # fmt: skip


# -- flow run --------------------------------------------------------------------------------


def test_flow_run_creates_a_created_execution_with_typed_inputs_and_labels(flow) -> None:
    out = cli("flow", "run", "t.cli", "typed", "--input", "count=42", "--input", "loud=true",
              "--label", "owner:ada", "--label", "url=http://x:1")  # fmt: skip

    execution = Execution.objects.get()
    assert out.strip() == execution.id
    assert execution.state == State.CREATED
    assert execution.flow_revision == 1
    assert execution.inputs["count"] == 42
    assert execution.inputs["loud"] is True
    assert execution.labels == {
        "team": "flow-default", "owner": "ada", "url": "http://x:1",
        "system.correlationId": execution.id,
    }  # fmt: skip


def test_flow_run_uploads_an_input_file(flow, tmp_path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n")

    cli("flow", "run", "t.cli", "typed", "--input", "count=1", "--input-file", f"doc={data}")

    assert Execution.objects.get().inputs["doc"].endswith("/inputs/doc/data.csv")


def test_bad_inputs_name_every_input_exit_1_and_create_nothing(flow) -> None:
    with pytest.raises(CommandError) as err:
        cli("flow", "run", "t.cli", "typed", "--input", "count=many", "--input", "loud=maybe")

    assert err.value.returncode == 1
    message = str(err.value)
    assert message.startswith("invalid inputs, nothing was started:")
    assert "  count: " in message
    assert "  loud: " in message
    assert Execution.objects.count() == 0


def test_a_missing_required_input_is_named(flow) -> None:
    with pytest.raises(CommandError, match="count"):
        cli("flow", "run", "t.cli", "typed")
    assert Execution.objects.count() == 0


def test_a_missing_input_file_creates_nothing(flow, tmp_path) -> None:
    with pytest.raises(CommandError, match="doc: no such file"):
        cli("flow", "run", "t.cli", "typed", "--input", "count=1",
            "--input-file", f"doc={tmp_path / 'nope'}")  # fmt: skip
    assert Execution.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--input", "novalue"], "KEY=VALUE"),
        (["--label", "x"], "KEY:VALUE or KEY=VALUE"),
        (["--input", "count=1", "--input", "count=2"], "'count' is given twice"),
        (["--revision", "7"], "has no revision 7"),
    ],
)
def test_malformed_arguments_are_refused(flow, args, error) -> None:
    with pytest.raises(CommandError, match=error):
        cli("flow", "run", "t.cli", "typed", *args)
    assert Execution.objects.count() == 0


def test_an_unknown_flow_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="no flow 'nope' in namespace 't.cli'"):
        cli("flow", "run", "t.cli", "nope")


# -- execution list / show / logs ------------------------------------------------------------


def test_list_filters_by_namespace_tree_flow_and_state(flow) -> None:
    done = ended(flow)
    failed = ended(flow, State.FAILED)
    flow_deploy(source=FLOW.replace("namespace: t.cli", "namespace: t.client"))

    assert set(cli("execution", "list", "--namespace", "t").split()) >= {done.id, failed.id}
    assert cli("execution", "list", "--namespace", "t.cl") == ""  # a tree, not a text prefix
    listed = cli("execution", "list", "--flow", "typed", "--state", "failed")
    header, row = listed.splitlines()
    assert header.split() == ["ID", "STATE", "FLOW", "REV", "CREATED", "DURATION"]
    assert row.split()[:4] == [failed.id, "FAILED", "t.cli.typed", "1"]
    assert len(cli("execution", "list", "--limit", "1").splitlines()) == 2  # header + 1


def test_list_columns_are_aligned_under_their_header(flow) -> None:
    ended(flow)
    flow_deploy(source=FLOW.replace("namespace: t.cli", "namespace: t.longer.name"))
    other = flow_deploy(source=FLOW.replace("namespace: t.cli", "namespace: t.longer.name")).flow
    ended(other, State.FAILED)

    lines = cli("execution", "list").splitlines()

    assert len(lines) == 3
    for title in ("STATE", "FLOW", "REV", "CREATED"):
        column = lines[0].index(title)
        assert {line[column - 2 : column] for line in lines} == {"  "}, title
        assert all(line[column] != " " for line in lines), title


def test_show_prints_details_and_task_runs_as_a_tree(flow) -> None:
    execution = ended(flow, outputs={"answer": {"n": 1}})
    start = execution.started_at
    parent = TaskRun.objects.create(
        execution=execution, task_id="each", seq=0, state=State.SUCCESS,
        started_at=start, ended_at=start + timedelta(seconds=90),
    )  # fmt: skip
    TaskRun.objects.create(
        execution=execution, task_id="say", parent_id=parent.id, value="a", seq=2,
        state=State.SUCCESS, attempts=2, started_at=start,
        ended_at=start + timedelta(milliseconds=250),
    )  # fmt: skip
    TaskRun.objects.create(execution=execution, task_id="after", seq=1, state=State.SKIPPED)

    shown = cli("execution", "show", execution.id).splitlines()

    assert shown[0] == f"execution {execution.id}"
    assert "flow      t.cli.typed rev 1" in shown
    assert "state     SUCCESS" in shown
    # PostgreSQL's jsonb orders keys its own way: look for the line, not its position
    assert "  count: 1" in shown[shown.index("inputs:") + 1 : shown.index("outputs:")]
    assert shown[shown.index("outputs:") + 1] == '  answer: {"n": 1}'
    assert "  team: flow-default" in shown
    runs = shown[shown.index("task runs:") + 1 :]
    assert runs == [
        "  SUCCESS   each  1m30s",
        "    SUCCESS   say[a]  attempts 2  0.25s",
        "  SKIPPED   after",
    ]


def test_show_json_and_logs(flow) -> None:
    execution = ended(flow)
    log(execution, "ERROR", "it broke\nsecond line")

    assert "ERROR say: it broke" in cli("execution", "show", execution.id, "--logs")
    doc = json.loads(cli("execution", "show", execution.id, "--json", "--logs"))
    assert doc["id"] == execution.id
    assert doc["logs"][0]["message"] == "it broke\nsecond line"


def test_logs_filter_by_level_default_info(flow) -> None:
    execution = ended(flow)
    for level in ("DEBUG", "INFO", "WARN", "ERROR"):
        log(execution, level, f"a {level.lower()} line")

    assert [line.split(" ", 1)[1] for line in cli("execution", "logs", execution.id).splitlines()] == [
        "INFO  say: a info line", "WARN  say: a warn line", "ERROR say: a error line",
    ]  # fmt: skip
    warn = cli("execution", "logs", execution.id, "--level", "warning")
    assert "a info line" not in warn
    assert "a warn line" in warn
    # --follow on an ended execution prints what there is and returns
    assert "a error line" in cli("execution", "logs", execution.id, "--follow")


def test_log_cursor_sees_a_line_committed_late_with_a_lower_id(flow) -> None:
    from executions.cli.run import LogCursor

    execution = ended(flow)
    first = log(execution, "INFO", "first")
    late = log(execution, "INFO", "late")
    cursor = LogCursor(execution.id)
    LogEntry.objects.filter(pk=late.pk).delete()  # as if not committed yet
    assert [e.message for e in cursor.new_lines()] == ["first"]
    LogEntry.objects.create(
        id=late.pk, execution=execution, task_id="say", level="INFO", message="late",
        timestamp=first.timestamp,
    )  # fmt: skip
    assert [e.message for e in cursor.new_lines()] == ["late"]
    assert cursor.new_lines() == []


def test_unknown_execution_is_a_clear_error() -> None:
    for sub in ("show", "logs", "kill", "wait"):
        with pytest.raises(CommandError, match="no execution 'missing'"):
            cli("execution", sub, "missing")


# -- execution kill / wait -------------------------------------------------------------------


def test_kill_moves_a_running_execution_to_killing(flow) -> None:
    execution = execution_create(flow=flow, inputs={"count": 1})
    Execution.objects.filter(pk=execution.pk).update(state=State.RUNNING)

    assert cli("execution", "kill", execution.id).strip() == f"kill: {execution.id} is KILLING"
    assert Execution.objects.get(pk=execution.pk).state == State.KILLING


def test_kill_refuses_an_ended_execution(flow) -> None:
    execution = ended(flow)
    with pytest.raises(CommandError, match="already ended SUCCESS") as err:
        cli("execution", "kill", execution.id)
    assert err.value.returncode == 1


def test_wait_prints_runs_logs_outputs_and_the_final_state_last(flow) -> None:
    execution = ended(flow, outputs={"answer": "42"})
    TaskRun.objects.create(execution=execution, task_id="say", state=State.SUCCESS, attempts=1)
    log(execution, "INFO", "hello there")

    lines = cli("execution", "wait", execution.id).splitlines()

    assert lines[0] == "  SUCCESS   say"
    assert lines[1].endswith("INFO  say: hello there")
    assert lines[2:] == [
        "execution SUCCESS", "outputs:", "  answer: 42", f"SUCCESS {execution.id}  in 2.00s",
    ]  # fmt: skip


def test_wait_exits_1_on_failure_and_on_timeout(flow) -> None:
    failed = ended(flow, State.FAILED)
    with pytest.raises(CommandError, match=f"execution {failed.id} ended FAILED") as err:
        cli("execution", "wait", failed.id)
    assert err.value.returncode == 1

    running = execution_create(flow=flow, inputs={"count": 1})
    Execution.objects.filter(pk=running.pk).update(state=State.RUNNING)
    with pytest.raises(CommandError, match="still RUNNING after 0.3s") as err:
        cli("execution", "wait", running.id, "--timeout", "0.3")
    assert err.value.returncode == 1


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_wait_on_a_terminal_draws_a_live_table(flow) -> None:
    execution = ended(flow)
    TaskRun.objects.create(execution=execution, task_id="say", state=State.SUCCESS, attempts=1)
    log(execution, "INFO", "hello there")

    out = cli("execution", "wait", execution.id, stdout=Terminal())

    assert "hello there" in out
    assert "attempts" in out  # the table's header
    assert f"SUCCESS {execution.id}" in out.splitlines()[-1]


# -- formatting helpers (no database) --------------------------------------------------------


def run(id_: str, parent: str | None, seq: int, task: str = "t") -> SimpleNamespace:
    return SimpleNamespace(id=id_, parent_id=parent, seq=seq, task_id=task, value=None)


def test_tree_is_depth_first_in_creation_order_and_keeps_orphans() -> None:
    runs = [run("b", None, 2), run("a", None, 0), run("a2", "a", 3), run("a1", "a", 1),
            run("x", "gone", 4)]  # fmt: skip
    assert [(d, r.id) for d, r in fmt.tree(runs)] == [
        (0, "a"), (1, "a1"), (1, "a2"), (0, "b"), (0, "x"),
    ]  # fmt: skip


@pytest.mark.parametrize(("seconds", "text"), [(0.5, "0.50s"), (63, "1m03s"), (7500, "2h05m")])
def test_duration_text(seconds, text) -> None:
    start = timezone.now()
    assert fmt.duration(start, start + timedelta(seconds=seconds)) == text
    assert fmt.duration(None, start) == ""
