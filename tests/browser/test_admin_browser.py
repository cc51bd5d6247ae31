"""The admin in a real browser against real workers: deploy with an inline error, execute with
a FILE input, live logs, Gantt (rows coloured by state, live) and topology, a download, kill,
and restoring a revision.

Each test saves screenshots under TRELLIS_HOME/screenshots (look at them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from executions.admin.common import STATE_COLORS
from executions.models import Execution
from flows.models import Flow
from flows.services import flow_deploy
from kernel.states import TERMINAL, State
from tests.browser.test_editor_browser import set_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BROKEN = """id: etl
namespace: company.team
tasks:
  - id: hello
    message: no type on this task
"""
FIXED = """id: etl
namespace: company.team
description: First version
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: first
"""
ETL = """id: etl
namespace: company.team
description: Upper-cases a file, slowly.
inputs:
  - id: data
    type: FILE
  - id: rounds
    type: INT
    defaults: 5
    min: 1
    max: 10
tasks:
  - id: start
    type: trellis.core.log.Log
    message: "received {{ inputs.data }}"
  - id: work
    type: trellis.scripts.shell.Commands
    inputFiles:
      data.txt: "{{ read(inputs.data) }}"
    commands:
      - 'for i in $(seq 1 {{ inputs.rounds }}); do echo "round $i"; sleep 1; done'
      - tr a-z A-Z < data.txt > result.txt
    outputFiles:
      - result.txt
  - id: done
    type: trellis.core.log.Log
    level: WARN
    message: finished
"""
SLEEPY = """id: sleepy
namespace: company.team
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT60S
  - id: after
    type: trellis.core.log.Log
    message: never
"""


def flow_url(flow: Flow) -> str:
    return f"/admin/flows/flow/{flow.pk}/change/"


def test_deploy_shows_inline_errors_then_restore_an_old_revision(admin_page, screenshot):
    page = admin_page
    screenshot(page, "dashboard")
    page.goto("/admin/flows/flow/add/")

    set_source(page, BROKEN)
    page.click("input[name=_continue]")

    # The server's table of problems is in the page; with JavaScript the editor shows the
    # same problem at its line instead, once.
    page.wait_for_selector("#source-problems tr.bad", state="attached")
    bad = page.locator("#source-problems tr.bad")
    assert "line 4" in bad.first.text_content()
    page.wait_for_selector("#trellis-editor-problems .problem.error")
    assert (
        page.locator("#trellis-editor-problems .problem.error")
        .first.inner_text()
        .startswith("line 4")
    )
    assert Flow.objects.count() == 0
    screenshot(page, "editor-error")

    set_source(page, FIXED)
    page.click("input[name=_continue]")
    page.wait_for_selector("#revisions")
    flow = Flow.objects.get(flow_id="etl")
    assert flow.revision == 1

    set_source(page, FIXED.replace("message: first", "message: second"))
    page.click("input[name=_continue]")
    page.wait_for_selector("text=is now at revision 2")
    page.click("#revisions >> text=source and diff")
    page.wait_for_selector("#diff")
    screenshot(page, "revision-diff")

    page.goto(flow_url(flow))
    page.click("#restore-1")
    page.wait_for_selector("text=Revision 1 restored as revision 3")
    flow.refresh_from_db()
    assert flow.revision == 3
    assert "message: first" in flow.source
    screenshot(page, "restored")


def test_execute_with_a_file_watch_logs_live_and_download_the_output(
    admin_page, workers, screenshot, tmp_path: Path
):
    page = admin_page
    flow = flow_deploy(source=ETL).flow
    upload = tmp_path / "words.txt"
    upload.write_text("hello trellis\n")

    page.goto(flow_url(flow))
    assert page.locator("svg.trellis-topology g.topology-node[data-task=work]").count() == 1
    screenshot(page, "flow-page")
    page.click("#execute-button")
    page.wait_for_selector("#execute-form")
    assert page.input_value("#id_input-rounds") == "5"

    page.fill("#id_input-rounds", "11")  # too many: the error shows beside the field
    page.set_input_files("#id_input-data", str(upload))
    page.click("#execute-submit")
    page.wait_for_selector("#row-input-rounds .errorlist")
    assert "must be less than `10`" in page.inner_text("#row-input-rounds")
    assert Execution.objects.count() == 0
    screenshot(page, "execute-error")

    page.fill("#id_input-rounds", "5")
    page.set_input_files("#id_input-data", str(upload))
    page.click("#execute-submit")
    page.wait_for_selector("#trellis-logs")
    page.evaluate("window.__sameDocument = true")
    execution = Execution.objects.get()

    page.wait_for_selector("#trellis-logs >> text=round 1", timeout=60_000)
    running = Execution.objects.get(pk=execution.pk).state
    assert running not in TERMINAL  # the line arrived while it ran, without a reload
    page.wait_for_selector("#trellis-logs >> text=round 5", timeout=60_000)
    page.wait_for_selector("#execution-state:text('SUCCESS')", timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True

    page.wait_for_selector(
        "svg.trellis-topology g.topology-node[data-task=work][data-state=SUCCESS]"
    )
    assert page.locator("svg.trellis-gantt g.gantt-row").count() == 3
    screenshot(page, "execution-success")

    page.select_option("#trellis-log-level", "WARN")
    page.wait_for_selector("#trellis-logs >> text=finished")
    assert "round 1" not in page.inner_text("#trellis-logs")

    with page.expect_download() as download:
        page.click("#taskruns a.file-link:has-text('result.txt')")
    assert Path(download.value.path()).read_text() == "HELLO TRELLIS\n"


def test_kill_a_running_execution(admin_page, workers, screenshot):
    page = admin_page
    flow = flow_deploy(source=SLEEPY).flow
    page.goto(flow_url(flow))
    page.click("#execute-button")
    page.click("#execute-submit")
    page.wait_for_selector(
        "svg.trellis-topology g.topology-node[data-task=nap][data-state=RUNNING]", timeout=60_000
    )
    screenshot(page, "running")

    page.click("#action-kill")
    page.wait_for_selector("#execution-state:text('KILLED')", timeout=60_000)

    assert Execution.objects.get().state == State.KILLED
    screenshot(page, "killed")
    page.goto("/admin/executions/execution/?state__exact=KILLED")
    assert page.locator("#result_list .trellis-badge.state-KILLED").count() == 1
    screenshot(page, "list")
    page.goto("/admin/")
    page.wait_for_selector("#dashboard-workers")
    assert page.locator("svg.trellis-chart rect[data-state=KILLED]").count() == 1
    screenshot(page, "dashboard")


def quiet_execution(flow, state: State = State.SUCCESS) -> Execution:
    """An execution row nobody wakes: the workers other tests started must not plan it
    while the test writes its task runs and logs (on PostgreSQL the two deadlocked)."""
    return Execution.objects.create(
        namespace=flow.namespace.name,
        flow_id=flow.flow_id,
        flow_revision=flow.revision,
        state=state,
    )


def test_a_100k_line_log_opens_at_its_end_and_pages_back(admin_page, screenshot):
    from django.utils import timezone

    from executions.models import LogEntry

    flow = flow_deploy(source=FIXED).flow
    execution = quiet_execution(flow)
    now = timezone.now()
    LogEntry.objects.bulk_create(
        (
            LogEntry(execution=execution, timestamp=now, level="INFO", message=f"line {i}")
            for i in range(100_000)
        ),
        batch_size=5000,
    )
    page = admin_page

    page.goto(f"/admin/executions/execution/{execution.id}/change/")
    page.wait_for_selector("#trellis-logs >> text=line 99999")
    assert page.locator("#trellis-logs .line").count() == 500
    first = "document.querySelector('#trellis-logs .line').dataset.id"
    for _ in range(5):
        before = page.evaluate(first)
        page.click("#trellis-log-older")
        page.wait_for_function(f"{first} !== '{before}'")

    assert page.locator("#trellis-logs .line").count() == 2000  # bounded, whatever the log
    assert page.locator("#trellis-log-latest").is_visible()
    screenshot(page, "big-log")


def rgb(hex_colour: str) -> str:
    """``#2e7d32`` as the browser computes it: ``rgb(46, 125, 50)``."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


GANTT_ROWS = """Array.from(document.querySelectorAll('svg.trellis-gantt g.gantt-row')).map(g => [
  g.querySelector('text').textContent, g.dataset.state,
  getComputedStyle(g.querySelector('rect')).fill,
  Array.from(g.querySelectorAll('rect.gantt-attempt')).map(r => getComputedStyle(r).fill),
])"""


def test_gantt_rows_carry_their_task_run_state_and_follow_it_live(admin_page, screenshot):
    from datetime import timedelta

    from django.db.models import F
    from django.utils import timezone

    from executions.models import TaskRun, TaskRunAttempt

    flow = flow_deploy(source=ETL).flow
    execution = quiet_execution(flow, State.RUNNING)
    now = timezone.now()
    ago = now - timedelta(seconds=30)
    runs = {}
    for seq, (task_id, state) in enumerate(
        [("start", State.SUCCESS), ("work", State.FAILED), ("done", State.RUNNING)], start=1
    ):
        ended = None if state == State.RUNNING else ago + timedelta(seconds=10 * seq)
        runs[task_id] = TaskRun.objects.create(
            execution=execution, task_id=task_id, state=state, seq=seq,
            started_at=ago + timedelta(seconds=10 * (seq - 1)), ended_at=ended,
        )  # fmt: skip
    work = runs["work"]
    for number, state in ((1, State.FAILED), (2, State.FAILED)):
        TaskRunAttempt.objects.create(
            task_run=work, execution=execution, number=number, state=state,
            started_at=work.started_at, ended_at=work.ended_at,
        )  # fmt: skip
    page = admin_page

    page.goto(f"/admin/executions/execution/{execution.id}/change/")
    page.wait_for_selector("svg.trellis-gantt g.gantt-row")

    assert page.evaluate(GANTT_ROWS) == [
        ["start", "SUCCESS", rgb(STATE_COLORS[State.SUCCESS]), []],
        ["work", "FAILED", rgb(STATE_COLORS[State.FAILED]), [rgb(STATE_COLORS[State.FAILED])] * 2],
        ["done", "RUNNING", rgb(STATE_COLORS[State.RUNNING]), []],
    ]
    screenshot(page, "gantt-states")
    page.evaluate("window.__sameDocument = true")

    TaskRun.objects.filter(pk=runs["done"].pk).update(state=State.SUCCESS, ended_at=now)
    Execution.objects.filter(pk=execution.pk).update(state=State.FAILED, version=F("version") + 1)
    page.wait_for_selector("svg.trellis-gantt g.gantt-row[data-state=SUCCESS] >> nth=1")

    assert page.evaluate(GANTT_ROWS)[2] == ["done", "SUCCESS", rgb(STATE_COLORS[State.SUCCESS]), []]
    assert page.evaluate("window.__sameDocument") is True  # swapped in place, no reload
