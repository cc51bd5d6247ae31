"""The pure engine: plans over plain data, no database, no broker."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kernel.engine.planner import plan
from kernel.states import State
from tests.unit.engine_sim import T0, Sim

LOG = "io.kestra.plugin.core.log.Log"


def flow(tasks: str, extra: str = "") -> str:
    return f"id: f\nnamespace: t.engine\n{extra}tasks:\n{tasks}"


def log_task(task_id: str, indent: int = 2, more: str = "") -> str:
    pad = " " * indent
    return f"{pad}- id: {task_id}\n{pad}  type: {LOG}\n{pad}  message: hi\n{more}"


def fails(*ids: str):
    return lambda task_id, attempt: State.FAILED if task_id in ids else State.SUCCESS


def states(sim: Sim) -> dict[str, str]:
    return {r.task_id: r.state.value for r in sim.runs}


def test_tasks_run_one_after_the_other() -> None:
    sim = Sim(flow(log_task("a") + log_task("b") + log_task("c")))
    sim.step()
    assert [r.task_id for r in sim.runs] == ["a"]
    assert sim.snap.state == State.RUNNING
    assert sim.finish().state == State.SUCCESS
    assert [r.task_id for r in sim.runs] == ["a", "b", "c"]


def test_planning_twice_plans_nothing_new() -> None:
    sim = Sim(flow(log_task("a") + log_task("b")))
    sim.step()
    assert not plan(sim.flow, sim.snap, sim.now, sim.env)
    sim.work()
    sim.step()
    assert not plan(sim.flow, sim.snap, sim.now, sim.env)


def test_failure_stops_the_sequence_and_runs_errors_then_finally() -> None:
    source = flow(
        log_task("a") + log_task("b"),
        extra="errors:\n" + log_task("e") + "finally:\n" + log_task("z"),
    )
    sim = Sim(source, fails("a"))
    assert sim.finish().state == State.FAILED
    assert states(sim) == {"a": "FAILED", "e": "SUCCESS", "z": "SUCCESS"}


def test_finally_runs_after_success_and_errors_do_not() -> None:
    source = flow(log_task("a"), extra="errors:\n" + log_task("e") + "finally:\n" + log_task("z"))
    sim = Sim(source)
    assert sim.finish().state == State.SUCCESS
    assert states(sim) == {"a": "SUCCESS", "z": "SUCCESS"}


def test_allow_failure_gives_warning_and_the_flow_goes_on() -> None:
    sim = Sim(flow(log_task("a", more="    allowFailure: true\n") + log_task("b")), fails("a"))
    assert sim.finish().state == State.WARNING
    assert states(sim) == {"a": "FAILED", "b": "SUCCESS"}


def test_disabled_task_has_no_run_and_run_if_false_is_skipped() -> None:
    tasks = (
        log_task("off", more="    disabled: true\n")
        + log_task("maybe", more="    runIf: \"{{ inputs.go == 'yes' }}\"\n")
        + log_task("last")
    )
    sim = Sim(flow(tasks), inputs={"go": "no"})
    assert sim.finish().state == State.SUCCESS
    assert states(sim) == {"maybe": "SKIPPED", "last": "SUCCESS"}


def test_run_if_that_cannot_render_fails_the_task_with_a_log_line() -> None:
    sim = Sim(flow(log_task("x", more='    runIf: "{{ nope.missing }}"\n')))
    assert sim.finish().state == State.FAILED
    assert any("x:" in line.message for line in sim.logs)


def test_nested_flowables_are_planned_in_one_call() -> None:
    tasks = (
        "  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
        "      - id: seq\n        type: io.kestra.plugin.core.flow.Sequential\n        tasks:\n"
        + log_task("a", indent=10)
        + log_task("b", indent=6)
    )
    sim = Sim(flow(tasks))
    sim.step()
    assert sorted(r.task_id for r in sim.runs) == ["a", "b", "par", "seq"]
    assert sim.finish().state == State.SUCCESS


def test_parallel_respects_its_concurrency_limit() -> None:
    kids = "".join(log_task(k, indent=6) for k in "abcde")
    sim = Sim(flow(f"  - id: p\n    type: io.kestra.plugin.core.flow.Parallel\n"
                   f"    concurrent: 2\n    tasks:\n{kids}"))  # fmt: skip
    sim.step()
    assert len([r for r in sim.runs if r.task_id != "p"]) == 2
    assert sim.finish().state == State.SUCCESS
    assert len(sim.runs) == 6


def test_retry_makes_attempts_until_success_and_warning_on_retry() -> None:
    retry = (
        "    retry:\n      type: constant\n      interval: PT10S\n      maxAttempt: 4\n"
        "      warningOnRetry: true\n"
    )
    sim = Sim(
        flow(log_task("a", more=retry)), lambda t, n: State.SUCCESS if n == 3 else State.FAILED
    )
    assert sim.finish().state == State.WARNING
    run = sim.run_of("a")
    assert (run.attempts, run.state) == (3, State.WARNING)
    assert sim.now >= T0 + timedelta(seconds=20)


def test_retry_stops_at_max_attempt() -> None:
    retry = "    retry:\n      type: constant\n      interval: PT1S\n      maxAttempt: 3\n"
    sim = Sim(flow(log_task("a", more=retry)), fails("a"))
    assert sim.finish().state == State.FAILED
    assert sim.run_of("a").attempts == 3


def test_the_retry_log_line_does_not_repeat_the_task_id() -> None:
    """Log lines are shown as ``task: message``: a message naming the task read
    "flaky: flaky: attempt 1 failed"."""
    retry = "    retry:\n      type: constant\n      interval: PT1S\n      maxAttempt: 2\n"
    sim = Sim(flow(log_task("flaky", more=retry)), fails("flaky"))
    sim.finish()
    messages = [line.message for line in sim.logs if "attempt" in line.message]
    assert messages == ["attempt 1 failed, retrying"]


def test_a_retrying_run_waits_for_its_due_time() -> None:
    retry = "    retry:\n      type: constant\n      interval: PT30S\n      maxAttempt: 2\n"
    sim = Sim(flow(log_task("a", more=retry)), fails("a"))
    sim.step()
    sim.work()
    sim.step()
    run = sim.run_of("a")
    assert run.state == State.RETRYING
    assert run.due_at == T0 + timedelta(seconds=30)
    assert not sim.step()  # not due yet: nothing to do


def test_killing_kills_waiting_runs_and_ends_killed() -> None:
    retry = "    retry:\n      type: constant\n      interval: PT30S\n      maxAttempt: 5\n"
    sim = Sim(flow(log_task("a", more=retry) + log_task("b")), fails("a"))
    sim.step()
    sim.work()
    sim.step()
    from dataclasses import replace

    sim.snap = replace(sim.snap, state=State.KILLING)
    sim.step()
    assert sim.snap.state == State.KILLED
    assert states(sim) == {"a": "KILLED"}


def test_flow_outputs_are_rendered_at_the_end() -> None:
    source = (
        "id: f\nnamespace: t.engine\ntasks:\n"
        "  - id: r\n    type: io.kestra.plugin.core.debug.Return\n    format: x\n"
        'outputs:\n  - id: out\n    type: STRING\n    value: "{{ outputs.r.value }}!"\n'
    )
    sim = Sim(source, lambda t, n: (State.SUCCESS, {"value": "x"}))
    assert sim.finish().outputs == {"out": "x!"}


def test_an_output_that_cannot_render_fails_the_execution() -> None:
    source = (
        "id: f\nnamespace: t.engine\ntasks:\n" + log_task("a")
        + "outputs:\n  - id: out\n    type: STRING\n    value: \"{{ outputs.nothing.value }}\"\n"
    )  # fmt: skip
    sim = Sim(source)
    assert sim.finish().state == State.FAILED


@pytest.mark.parametrize("state", [State.SUCCESS, State.FAILED, State.KILLED])
def test_a_terminal_execution_is_never_planned(state: State) -> None:
    sim = Sim(flow(log_task("a")))
    from dataclasses import replace

    sim.snap = replace(sim.snap, state=state)
    assert not plan(sim.flow, sim.snap, sim.now, sim.env)


LISTENERS = """
listeners:
  - conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [FAILED]
    tasks:
      - id: on-failure
        type: io.kestra.plugin.core.log.Log
        message: failed
  - conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
    tasks:
      - id: on-success
        type: io.kestra.plugin.core.log.Log
        message: ok
afterExecution:
  - id: always
    type: io.kestra.plugin.core.log.Log
    message: done
"""


@pytest.mark.parametrize(("failing", "expected"), [(False, "on-success"), (True, "on-failure")])
def test_listeners_matching_the_state_run_and_never_change_it(failing, expected) -> None:
    sim = Sim(
        flow(log_task("a"), extra=LISTENERS),
        lambda t, n: State.FAILED if (t == "a" and failing) or t == expected else State.SUCCESS,
    )
    final = sim.finish()
    assert final.state == (State.FAILED if failing else State.SUCCESS)
    assert [r.task_id for r in sim.runs] == ["a", expected, "always"]
    assert sim.run_of(expected).state == State.FAILED  # a failing listener changes nothing


def test_wait_for_waits_its_interval_between_iterations_as_a_due_time() -> None:
    source = flow(
        "  - id: poll\n    type: io.kestra.plugin.core.flow.WaitFor\n"
        '    condition: "{{ outputs.poll.iterationCount >= 3 }}"\n'
        "    checkFrequency:\n      interval: PT30S\n    tasks:\n" + log_task("probe", indent=6)
    )
    sim = Sim(source)
    assert sim.finish().state == State.SUCCESS
    assert len([r for r in sim.runs if r.task_id == "probe"]) == 3
    assert sim.now >= T0 + timedelta(seconds=60)  # two pauses of 30 s, kept in the database


def test_a_flowable_past_its_timeout_fails_and_kills_what_waits() -> None:
    tasks = (
        "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    timeout: PT10S\n"
        "    tasks:\n" + log_task("slow", indent=6) + log_task("never", indent=6)
    )
    sim = Sim(flow(tasks))
    sim.step()  # seq starts `slow`, which a worker never finishes
    assert sim.run_of("seq").due_at == T0 + timedelta(seconds=10)
    sim.queue.clear()
    sim.now = T0 + timedelta(seconds=11)
    sim.step()
    assert sim.run_of("seq").state == State.FAILED
    assert sim.run_of("slow").state == State.KILLED
    assert sim.snap.state == State.FAILED
    assert any("Timeout after PT10S" in line.message for line in sim.logs)
