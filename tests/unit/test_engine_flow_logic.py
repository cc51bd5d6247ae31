"""Flow logic that needs the runtime, seen from the pure engine: what it plans for Pause,
Exit, Labels, Subflow and a missing Template (the runtime's part is integration-tested)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kernel.engine.plan import SetLabels, StartSubflow
from kernel.states import State
from tests.unit.engine_sim import T0, Sim

LOG = "io.kestra.plugin.core.log.Log"


def flow(tasks: str) -> str:
    return f"id: f\nnamespace: t.logic\ntasks:\n{tasks}"


def pause(props: str) -> str:
    return f"  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n{props}"


AFTER = f"  - id: after\n    type: {LOG}\n    message: m\n"


def test_pause_without_delay_pauses_the_execution_until_resumed() -> None:
    sim = Sim(flow(pause("") + AFTER))
    sim.step()
    assert sim.run_of("wait").state == State.PAUSED
    assert sim.snap.state == State.PAUSED
    assert sim.run_of("wait").due_at is None
    assert not sim.step()  # nothing happens by itself


def test_pause_delay_resumes_at_its_due_time() -> None:
    sim = Sim(flow(pause("    delay: PT5M\n") + AFTER))
    sim.step()
    assert sim.run_of("wait").due_at == T0 + timedelta(minutes=5)
    assert sim.finish().state == State.SUCCESS
    assert sim.now >= T0 + timedelta(minutes=5)
    assert [r.task_id for r in sim.runs] == ["wait", "after"]


def test_pause_timeout_fails_the_pause_and_nothing_after_runs() -> None:
    sim = Sim(flow(pause("    timeout: PT1M\n") + AFTER))
    assert sim.finish().state == State.FAILED
    assert [(r.task_id, r.state) for r in sim.runs] == [("wait", State.FAILED)]


def test_exit_ends_the_execution_in_its_state_and_kills_what_waits() -> None:
    tasks = (
        "  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
        f"      - id: slow\n        type: {LOG}\n        message: m\n"
        "      - id: stop\n        type: io.kestra.plugin.core.execution.Exit\n"
        "        state: WARNING\n"
    )
    sim = Sim(flow(tasks))
    sim.step()
    sim.queue.clear()  # `slow` never reaches a worker
    sim.step()
    assert sim.snap.state == State.WARNING
    assert sim.run_of("slow").state == State.KILLED


def test_labels_and_subflow_ask_the_runtime_once_with_rendered_values() -> None:
    tasks = (
        "  - id: tag\n    type: io.kestra.plugin.core.execution.Labels\n"
        '    labels:\n      env: "{{ inputs.env }}"\n'
        "  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n"
        "    namespace: t.child\n    flowId: child\n"
        '    inputs:\n      n: "{{ inputs.env }}"\n    wait: false\n'
    )
    sim = Sim(flow(tasks), inputs={"env": "prod"})
    from kernel.engine.planner import plan

    first = plan(sim.flow, sim.snap, sim.now, sim.env)
    labels = first.of(SetLabels)
    assert [dict(a.labels) for a in labels] == [{"env": "prod"}]
    sim.step()
    sim.step()
    starts = [a for a in plan(sim.flow, sim.snap, sim.now, sim.env).of(StartSubflow)]
    assert starts == []  # asked once, when the run was created
    run = sim.run_of("call")
    assert run.state == State.RUNNING  # the runtime ends it when the child does
    sim.snap = replace(sim.snap, task_runs=tuple(
        replace(r, state=State.SUCCESS) if r.id == run.id else r for r in sim.snap.task_runs
    ))  # fmt: skip
    assert sim.finish().state == State.SUCCESS


def test_a_template_that_was_not_found_fails_with_its_reason() -> None:
    from plugins.core.flow.template import MISSING

    sim = Sim(
        flow(
            "  - id: tpl\n    type: io.kestra.plugin.core.flow.Template\n"
            "    namespace: t\n    templateId: nope\n"
        )
    )
    tpl = sim.flow.tasks[0]
    sim.flow = replace(
        sim.flow,
        tasks=(replace(tpl, properties={**tpl.properties, MISSING: "template t.nope not found"}),),
    )
    assert sim.finish().state == State.FAILED
    assert any("template t.nope not found" in line.message for line in sim.logs)


def test_a_failed_subflow_is_retried_with_a_new_child_until_its_policy_says_stop() -> None:
    from kernel.engine.planner import plan

    tasks = (
        "  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n"
        "    namespace: t.child\n    flowId: child\n"
        "    retry:\n      type: constant\n      interval: PT10S\n      maxAttempt: 3\n"
    )
    sim = Sim(flow(tasks))
    assert len(plan(sim.flow, sim.snap, sim.now, sim.env).of(StartSubflow)) == 1
    sim.step()
    for attempt in (1, 2, 3):
        run = sim.run_of("call")
        assert run.state == State.RUNNING
        # the runtime: the child of this attempt failed
        sim._put(replace(run, state=State.FAILED, attempts=attempt))
        sim.step()
        if attempt == 3:
            break
        assert sim.run_of("call").state == State.RETRYING
        assert sim.run_of("call").due_at == sim.now + timedelta(seconds=10)
        assert not plan(sim.flow, sim.snap, sim.now, sim.env).of(StartSubflow)  # not yet due
        sim.now += timedelta(seconds=10)
        again = plan(sim.flow, sim.snap, sim.now, sim.env).of(StartSubflow)
        assert [a.task_run_id for a in again] == [run.id]  # the same run, a new child
        sim.step()

    assert sim.snap.state == State.FAILED
    assert len([r for r in sim.runs if r.task_id == "call"]) == 1
