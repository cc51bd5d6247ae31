"""Issue 18 against real workers: ``/metrics`` moves by exactly what one execution did, a JSON
worker writes only JSON lines naming the execution, an execution whose flow cannot be loaded
ends FAILED with the reason, and ``--wait`` warns about a queue nobody consumes."""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from executions.models import Execution, LogEntry
from executions.services import execution_create
from flows.models import FlowRevision
from flows.services import flow_deploy
from kernel.states import TERMINAL, State
from tests.integration.conftest import wait_for
from tests.integration.harness import Processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THREE = """
id: three
namespace: it.metrics
tasks:
  - id: one
    type: io.kestra.plugin.core.debug.Return
    format: "1"
  - id: two
    type: io.kestra.plugin.core.debug.Return
    format: "2"
  - id: three
    type: io.kestra.plugin.core.debug.Return
    format: "3"
"""
FLOW = (("flow", "three"), ("namespace", "it.metrics"))
RETURN = (("state", "SUCCESS"), ("type", "trellis.core.debug.Return"))


def scrape() -> dict[tuple[str, tuple], float]:
    with override_settings(TRELLIS_METRICS_BROKER=False):
        body = Client().get("/metrics").content.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def moved(before: dict, after: dict) -> dict[str, float]:
    def delta(key: tuple) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    return {
        "started": delta(("trellis_executions_started_total", FLOW)),
        "ended": delta(("trellis_executions_ended_total", (*FLOW, ("state", "SUCCESS")))),
        "durations": delta(("trellis_task_run_duration_seconds_count", RETURN)),
        "under_inf": delta(
            ("trellis_task_run_duration_seconds_bucket", tuple(sorted((*RETURN, ("le", "+Inf")))))
        ),
    }


def finished(execution: Execution) -> Execution | None:
    execution.refresh_from_db()
    return execution if execution.state in TERMINAL else None


def test_one_flow_of_three_tasks_moves_the_counters_by_exactly_that(workers) -> None:
    flow = flow_deploy(source=THREE).flow
    time.sleep(1.5)  # counts of an earlier test still in a process's buffer land first
    before = scrape()

    execution = execution_create(flow=flow, inputs={})
    assert wait_for(lambda: finished(execution)).state == State.SUCCESS
    expected = {"started": 1, "ended": 1, "durations": 3, "under_inf": 3}
    wait_for(lambda: moved(before, scrape()) == expected, timeout=20)
    time.sleep(1.5)  # two more flush intervals: nothing was counted twice

    assert moved(before, scrape()) == expected


def test_heartbeats_of_a_running_task_reach_the_endpoint(workers) -> None:
    flow = flow_deploy(
        source="id: napping\nnamespace: it.metrics\ntasks:\n  - id: nap\n"
        "    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT3S\n"
    ).flow

    def heartbeats(samples: dict) -> float:
        return sum(v for (n, _), v in samples.items() if n == "trellis_worker_heartbeats_total")

    before = heartbeats(scrape())
    execution = execution_create(flow=flow, inputs={})
    # while it sleeps, the gauge shows the worker host's heartbeat as fresh
    ages = wait_for(lambda: [v for (n, _), v in scrape().items()
                             if n == "trellis_worker_heartbeat_age_seconds"], timeout=20)  # fmt: skip
    assert all(age < 6 for age in ages)  # within the harness's lease
    assert wait_for(lambda: finished(execution)).state == State.SUCCESS

    wait_for(lambda: heartbeats(scrape()) >= before + 2, timeout=10)  # one a second


def test_a_json_worker_writes_only_json_lines_naming_the_execution(workers, tmp_path) -> None:
    flow = flow_deploy(
        source=THREE.replace("id: three\nnamespace", "id: json-logs\nnamespace").replace(
            '    format: "3"\n', '    format: "3"\n    workerGroup:\n      key: jsonlogs\n'
        )
    ).flow
    fleet = Processes(tmp_path)
    fleet.env["LOG_FORMAT"] = "json"
    fleet.start_worker("jsonlogs", "wg.jsonlogs", concurrency=1)
    try:
        execution = execution_create(flow=flow, inputs={})
        assert wait_for(lambda: finished(execution)).state == State.SUCCESS

        def about_it() -> list[dict]:
            lines = [json.loads(line) for line in fleet.log_text("jsonlogs").splitlines() if line]
            mine = [line for line in lines if line.get("execution_id") == execution.id]
            return mine if any("task run ended" in m["message"] for m in mine) else []

        mine = wait_for(about_it, timeout=10)
        lines = fleet.log_text("jsonlogs").splitlines()
    finally:
        fleet.stop()

    parsed = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert len(parsed) == len([line for line in lines if line.strip()])
    assert any(p["logger"].startswith("celery") and p["message"].endswith(" ready.")
               for p in parsed)  # fmt: skip
    # The worker logs the task run's end, and (its fast path advancing the execution) the
    # execution's own move: each line names the run it was written for.
    ended = next(m for m in mine if "task run ended SUCCESS" in m["message"])
    assert {"timestamp", "level", "logger", "message"} <= set(ended)
    assert ended["namespace"] == "it.metrics"
    assert ended["flow_id"] == "json-logs"
    assert ended["task_run_id"]


def test_an_execution_whose_flow_cannot_be_loaded_ends_failed_with_the_reason(workers) -> None:
    flow = flow_deploy(source=THREE).flow
    # As if the plugin were missing on the executor host: the stored revision names a type
    # no installed plugin provides.
    FlowRevision.objects.filter(flow=flow).update(
        source=THREE.replace("io.kestra.plugin.core.debug.Return", "com.example.NotInstalled")
    )

    execution = execution_create(flow=flow, inputs={})

    assert wait_for(lambda: finished(execution), timeout=30).state == State.FAILED
    messages = list(LogEntry.objects.filter(execution=execution).values_list("message", flat=True))
    assert len(messages) == 3
    assert all("unknown type 'com.example.NotInstalled'" in m for m in messages)
    assert messages[-1].endswith("The execution failed.")
    out = StringIO()
    call_command("execution", "show", execution.id, stdout=out)
    assert "problem   The flow of this execution cannot be loaded (try 3 of 3)" in out.getvalue()


def test_wait_warns_when_no_worker_consumes_the_tasks_queue(workers) -> None:
    flow_deploy(
        source=THREE.replace("id: three\nnamespace", "id: stuck\nnamespace").replace(
            '    format: "1"\n', '    format: "1"\n    workerGroup:\n      key: nobody\n'
        )
    )
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="is still RUNNING"):
        call_command("flow", "run", "it.metrics", "stuck", "--wait", "--timeout", "6",
                     "--warn-after", "2", stdout=out, stderr=err)  # fmt: skip

    warnings = [line for line in err.getvalue().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "task runs are QUEUED on queue 'wg.nobody' (one)" in warnings[0]
    assert "No worker seems to be consuming it" in warnings[0]
    call_command("execution", "kill", Execution.objects.get(flow_id="stuck").id, stdout=StringIO())
