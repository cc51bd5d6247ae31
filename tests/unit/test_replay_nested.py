"""Replay inside nested loops and branches, end to end through the pure engine (issue 22).

Each test runs a flow in the simulator, replays one of its task runs the way
``execution_replay`` does (``replay_plan`` picks the runs to copy; the replayed runnable is
RESTARTED, the flowables above it RUNNING), checks the count Kestra's ExecutionServiceTest
asserts right after the replay, then runs the replay to its end: the engine must recreate
exactly what the replay dropped, never a run it kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from kernel.engine.planner import all_tasks
from kernel.engine.replay import replay_plan
from kernel.engine.snapshot import TaskRunSnapshot
from kernel.plugin import FlowableTask
from kernel.registry import registry
from kernel.states import State
from tests.unit.engine_sim import Sim

LOG = "io.kestra.plugin.core.log.Log"


def log(task_id: str, indent: int) -> str:
    pad = " " * indent
    return f"{pad}- id: {task_id}\n{pad}  type: {LOG}\n{pad}  message: '{{{{ task.id }}}}'\n"


def ran(source: str, outcome=None) -> Sim:
    sim = Sim(source, outcome) if outcome else Sim(source)
    sim.finish()
    return sim


def find(sim: Sim, task_id: str, *values: str) -> TaskRunSnapshot:
    """The run of ``task_id`` whose enclosing loop values are ``values`` (outer first)."""
    by_id = {r.id: r for r in sim.runs}
    for run in sim.runs:
        if run.task_id != task_id:
            continue
        chain, node = [], run
        while node is not None:
            if node.value is not None and (not chain or chain[0] != node.value):
                chain.insert(0, node.value)
            node = by_id.get(node.parent_id) if node.parent_id else None
        if tuple(chain) == values:
            return run
    raise AssertionError(f"no run of {task_id} with values {values}")


def replay(original: Sim, run_id: str) -> Sim:
    """A new simulated execution holding what ``execution_replay`` would copy."""
    plan = replay_plan(original.flow, original.runs, run_id)
    tasks = {t.id: t for t in all_tasks(original.flow)}
    by_id = {r.id: r for r in original.runs}
    copies = []
    for seq, old_id in enumerate(plan.keep, start=1):
        run = by_id[old_id]
        changes: dict = {"id": f"old-{run.id}", "seq": seq}
        changes["parent_id"] = f"old-{run.parent_id}" if run.parent_id else None
        if old_id in plan.restart:
            flowable = issubclass(registry.get(tasks[run.task_id].type), FlowableTask)
            changes.update(state=State.RUNNING if flowable else State.RESTARTED, outputs={})
        copies.append(replace(run, **changes))
    sim = Sim(original.flow, original.outcome)
    sim.snap = replace(sim.snap, state=State.RESTARTED, task_runs=tuple(copies))
    return sim


def signature(sim: Sim) -> Counter:
    """Each run as (task, its values from the outermost loop in), counted."""
    by_id = {r.id: r for r in sim.runs}

    def values(run: TaskRunSnapshot) -> tuple:
        out, node = [], run
        while node is not None:
            out.insert(0, node.value)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return tuple(out)

    return Counter((r.task_id, values(r)) for r in sim.runs)


def replayed_to_the_end(original: Sim, run_id: str, kept: int) -> Sim:
    again = replay(original, run_id)
    assert len(again.runs) == kept  # Kestra's count right after the replay
    final = again.finish()
    assert final.state == original.snap.state
    assert signature(again) == signature(original)  # nothing kept was created again
    return again


EACH_PARALLEL_NESTED = (
    "id: each-parallel-nested\nnamespace: io.kestra.tests\ntasks:\n"
    "  - id: 1_each\n    type: io.kestra.core.tasks.flows.EachParallel\n"
    '    value: \'["value 1", "value 2", "value 3"]\'\n    tasks:\n'
    "      - id: 2-1_seq\n        type: io.kestra.core.tasks.flows.Sequential\n        tasks:\n"
    + log("2-1-1_t1", 8)
    + log("2-1-2_t2", 8)
    + log("2_end", 2)
)


def test_kestra_replay_each_parallel_keeps_the_other_iterations() -> None:
    original = ran(EACH_PARALLEL_NESTED)
    assert len(original.runs) == 11
    chosen = find(original, "2-1_seq", "value 1")

    plan = replay_plan(original.flow, original.runs, chosen.id)

    assert len(plan.keep) == 8  # Kestra's ExecutionServiceTest.replayEachPara
    assert plan.restart == {chosen.id, find(original, "1_each").id}
    replayed_to_the_end(original, chosen.id, kept=8)


PARALLEL_NESTED = (
    "id: parallel-nested\nnamespace: io.kestra.tests\ntasks:\n"
    "  - id: 1_par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
    + log("1-1", 6)
    + log("1-2", 6)
    + "      - id: 1-3_par\n        type: io.kestra.plugin.core.flow.Parallel\n        tasks:\n"
    + log("1-3-1", 10)
    + "          - id: 1-3-2_par\n            type: io.kestra.plugin.core.flow.Sequential\n"
    "            tasks:\n" + log("1-3-2-1", 14) + log("1-3-2-2_end", 14) + log("1-3-3_end", 10)
    + log("1-4_end", 6)
    + log("2_end", 2)
)  # fmt: skip


def test_kestra_replay_parallel_keeps_the_sibling_branches() -> None:
    original = ran(PARALLEL_NESTED)
    assert len(original.runs) == 11

    again = replayed_to_the_end(original, find(original, "1-3-2_par").id, kept=8)

    assert again.run_of("1-3-3_end").id.startswith("old-")  # a sibling branch, kept


#: A Sequential inside an EachParallel inside another loop (the case issue 22 reports).
LOOP_IN_LOOP = (
    "id: loops\nnamespace: t\ntasks:\n"
    "  - id: outer\n    type: io.kestra.plugin.core.flow.EachSequential\n"
    "    value: [x, y]\n    tasks:\n"
    "      - id: inner\n        type: io.kestra.plugin.core.flow.EachParallel\n"
    "        value: ['1', '2']\n        tasks:\n"
    "          - id: seq\n            type: io.kestra.plugin.core.flow.Sequential\n"
    "            tasks:\n" + log("t1", 14) + log("t2", 14) + log("end", 2)
)


def test_replay_in_a_later_iteration_keeps_every_earlier_iteration() -> None:
    original = ran(LOOP_IN_LOOP)
    assert len(original.runs) == 16
    chosen = find(original, "seq", "y", "1")

    plan = replay_plan(original.flow, original.runs, chosen.id)

    kept = set(plan.keep)
    assert find(original, "inner", "x").id in kept
    assert all(find(original, t, "x", v).id in kept for t in ("seq", "t1", "t2") for v in "12")
    assert find(original, "t1", "y", "2").id in kept  # the parallel sibling iteration
    assert find(original, "t1", "y", "1").id not in kept
    assert plan.restart == {chosen.id, find(original, "inner", "y").id, find(original, "outer").id}
    replayed_to_the_end(original, chosen.id, kept=13)


def test_replay_in_the_first_iteration_drops_the_later_ones() -> None:
    original = ran(LOOP_IN_LOOP)

    again = replayed_to_the_end(original, find(original, "seq", "x", "1").id, kept=6)

    assert again.snap.state == State.SUCCESS


def test_replay_of_a_runnable_deep_in_the_loops_restarts_it_and_its_parents() -> None:
    original = ran(LOOP_IN_LOOP)
    chosen = find(original, "t1", "y", "2")

    again = replay(original, chosen.id)

    states = {r.id.removeprefix("old-"): r.state for r in again.runs}
    assert states[chosen.id] == State.RESTARTED
    for parent in (find(original, "seq", "y", "2"), find(original, "inner", "y")):
        assert states[parent.id] == State.RUNNING
    assert find(original, "t2", "y", "2").id not in states
    assert find(original, "t2", "y", "1").id in states
    replayed_to_the_end(original, chosen.id, kept=14)


IF_IN_FOREACH = (
    "id: if-in-foreach\nnamespace: t\ntasks:\n"
    "  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [a, b]\n"
    "    tasks:\n"
    "      - id: check\n        type: io.kestra.plugin.core.flow.If\n"
    "        condition: '{{ taskrun.value == \"b\" }}'\n        then:\n"
    + log("then1", 10)
    + log("then2", 10)
    + "        else:\n"
    + log("other", 10)
    + log("after", 6)
    + log("end", 2)
)


def test_replay_from_a_task_in_an_if_inside_a_foreach() -> None:
    original = ran(IF_IN_FOREACH)
    assert Counter(r.task_id for r in original.runs) == {
        "each": 1, "check": 2, "then1": 1, "then2": 1, "other": 1, "after": 2, "end": 1,
    }  # fmt: skip
    chosen = find(original, "then1", "b")

    plan = replay_plan(original.flow, original.runs, chosen.id)

    dropped = {r.task_id for r in original.runs if r.id not in plan.keep}
    # After then1 in its branch: then2; after the loop: end. Kestra draws ForEach's
    # iterations (and the tasks of one iteration) side by side, so `after` is kept.
    assert dropped == {"then2", "end"}
    replayed_to_the_end(original, chosen.id, kept=len(original.runs) - 2)


ERRORS = (
    "id: errors\nnamespace: t\ntasks:\n"
    "  - id: failing\n    type: io.kestra.plugin.core.execution.Fail\nerrors:\n"
    + log("e1", 2)
    + log("e2", 2)
    + "finally:\n"
    + log("closing", 2)
)


def test_replay_from_an_errors_branch_keeps_the_failed_task_and_runs_the_rest_again() -> None:
    original = ran(
        ERRORS, outcome=lambda task_id, n: State.FAILED if task_id == "failing" else State.SUCCESS
    )
    assert [r.task_id for r in original.runs] == ["failing", "e1", "e2", "closing"]

    again = replayed_to_the_end(original, find(original, "e1").id, kept=2)

    assert again.snap.state == State.FAILED
    assert [r.task_id for r in again.runs] == ["failing", "e1", "e2", "closing"]


FOREACH = (
    "id: foreach\nnamespace: t\ntasks:\n"
    "  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n    values: [a, b]\n"
    "    tasks:\n" + log("first", 6) + log("second", 6) + log("end", 2)
)


def test_replay_in_a_foreach_keeps_what_kestras_graph_draws_beside_it() -> None:
    # Kestra's ForEach graph is parallel (whatever concurrencyLimit): a replayed run has no
    # successor among the loop's other runs, only after the loop.
    original = ran(FOREACH)
    chosen = find(original, "first", "a")

    plan = replay_plan(original.flow, original.runs, chosen.id)

    dropped = [(r.task_id, r.value) for r in original.runs if r.id not in plan.keep]
    assert dropped == [("end", None)]
    replayed_to_the_end(original, chosen.id, kept=len(original.runs) - 1)
