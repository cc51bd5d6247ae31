"""The control room in a real browser against real workers (issue 20): durations tick while a
task runs, a failed execution opens with its error summary whose link shows the log line,
the Gantt has a legend, and the flows list shows the last execution.

Screenshots go under TRELLIS_HOME/screenshots (look at them)."""

from __future__ import annotations

import re

import pytest

from executions.models import Execution
from flows.services import flow_deploy
from kernel.states import State

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAP_THEN_FAIL = """id: nap_then_fail
namespace: company.team
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT8S
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: the disk is full
errors:
  - id: handle
    type: trellis.core.log.Log
    message: handled
finally:
  - id: cleanup
    type: trellis.core.log.Log
    message: cleaned up
"""


def seconds(shown: str) -> float:
    """A duration as the page prints it ("90ms", "3.2s", "1m5s", "1h2m") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)", shown)
    assert parts, f"not a duration: {shown!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def test_durations_tick_while_running_then_the_failure_is_summed_up(
    admin_page, workers, screenshot
):
    page = admin_page
    flow = flow_deploy(source=NAP_THEN_FAIL).flow
    page.goto(f"/admin/flows/flow/{flow.pk}/change/")
    page.click("#execute-button")
    page.click("#execute-submit")
    running = "#taskruns tr[data-task=nap][data-state=RUNNING] .run-duration"
    page.wait_for_selector(running, timeout=60_000)

    # No state changes while the task sleeps, yet its duration and the execution's move on.
    first = page.locator(running).inner_text()
    overall = page.locator("#execution-duration").inner_text()
    page.wait_for_timeout(3_200)
    assert page.locator(running).count() == 1, "the nap ended too soon to watch it tick"
    later = page.locator(running).inner_text()
    assert later != first
    assert seconds(later) >= seconds(first) + 2, (first, later)
    assert page.locator("#execution-duration").inner_text() != overall
    screenshot(page, "running")

    # The page follows the execution to its end and opens the summary at the top.
    page.wait_for_selector("#failure-summary", timeout=60_000)
    summary = page.locator("#failure-summary")
    assert "boom" in summary.inner_text()
    assert "the disk is full" in summary.inner_text()
    assert page.locator("#execution-state").inner_text() == "FAILED"
    assert Execution.objects.get().state == State.FAILED
    box = summary.bounding_box()
    overview = page.locator("#overview").bounding_box()
    assert box["y"] < overview["y"]  # at the top of the page
    assert page.locator("#gantt-legend").is_visible()
    assert (
        "on error"
        in page.locator("#topology g.topology-branch[data-relation=error]").text_content()
    )
    assert page.locator("#topology g.topology-branch[data-relation=finally]").count() == 1
    screenshot(page, "failed")

    # The topology fits its panel; + zooms in (and scrolls), fit comes back.
    svg, panel = (
        page.locator("#topology svg.trellis-topology"),
        page.locator("#topology .trellis-scroll"),
    )
    fitted = svg.bounding_box()["width"]
    assert fitted <= panel.bounding_box()["width"]
    page.click("#topology .trellis-zoom button:text-is('+')")
    page.click("#topology .trellis-zoom button:text-is('+')")
    assert svg.bounding_box()["width"] > fitted * 1.4
    page.click("#topology .trellis-zoom button:text-is('fit')")
    assert abs(svg.bounding_box()["width"] - fitted) < 2

    summary.locator("a.failure-log").click()
    target = page.locator("#trellis-logs .line.target")
    target.wait_for()
    assert "the disk is full" in target.inner_text()
    assert target.is_visible()
    screenshot(page, "log-line")

    # The flows list shows the last execution's state, and nothing alarming for the flow.
    page.goto("/admin/flows/flow/")
    row = page.locator("#result_list tr", has_text="nap_then_fail")
    assert row.locator(".trellis-badge.state-FAILED").count() == 1
    assert row.locator("img[src$='icon-no.svg']").count() == 0
    row.locator("time.trellis-time[data-local]").first.wait_for()  # in the browser's zone
    screenshot(page, "flows-list")
    page.goto("/admin/executions/execution/")
    assert page.locator("#result_list th.column-duration_display").count() == 1
    screenshot(page, "executions-list")
