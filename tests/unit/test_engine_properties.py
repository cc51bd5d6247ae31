"""Property tests of the engine over generated Sequential/Parallel trees and outcomes."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.states import TERMINAL, State
from tests.unit.engine_sim import Sim

LOG = "io.kestra.plugin.core.log.Log"
SEQ = "io.kestra.plugin.core.flow.Sequential"
PAR = "io.kestra.plugin.core.flow.Parallel"

leaf = st.just(("leaf",))
trees = st.recursive(
    leaf,
    lambda kids: st.tuples(
        st.sampled_from(["seq", "par"]),
        st.integers(min_value=0, max_value=3),
        st.lists(kids, min_size=1, max_size=4),
    ),
    max_leaves=14,
)


def render(nodes, counter, indent: int, limits: dict[str, int], leaves: list[str]) -> str:
    pad = " " * indent
    out = ""
    for node in nodes:
        task_id = f"t{next(counter)}"
        if node[0] == "leaf":
            leaves.append(task_id)
            out += f"{pad}- id: {task_id}\n{pad}  type: {LOG}\n{pad}  message: m\n"
            continue
        kind, concurrent, kids = node
        out += f"{pad}- id: {task_id}\n{pad}  type: {SEQ if kind == 'seq' else PAR}\n"
        if kind == "par":
            out += f"{pad}  concurrent: {concurrent}\n"
            limits[task_id] = concurrent
        out += f"{pad}  tasks:\n" + render(kids, counter, indent + 4, limits, leaves)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roots=st.lists(trees, min_size=1, max_size=3),
    failing=st.sets(st.integers(min_value=1, max_value=60), max_size=3),
)
def test_every_generated_flow_terminates_by_the_worst_state_rule(roots, failing) -> None:
    limits: dict[str, int] = {}
    leaves: list[str] = []
    body = render(roots, itertools.count(1), 2, limits, leaves)
    failing_ids = {f"t{n}" for n in failing}
    sim = Sim(
        f"id: gen\nnamespace: t.props\ntasks:\n{body}",
        lambda task_id, attempt: State.FAILED if task_id in failing_ids else State.SUCCESS,
    )
    for _ in range(400):
        planned = sim.step()
        for parent_id, limit in limits.items():
            runs = [r for r in sim.runs if r.task_id == parent_id]
            if limit and runs:
                active = [
                    r for r in sim.runs if r.parent_id == runs[0].id and r.state not in TERMINAL
                ]
                assert len(active) <= limit
        worked = sim.work()
        if sim.snap.state in TERMINAL or not (planned or worked):
            break
    assert sim.snap.state in TERMINAL, "the execution never ended"
    keys = [(r.parent_id, r.task_id, r.value) for r in sim.runs]
    assert len(keys) == len(set(keys)), "a task run was created twice"
    ran = {r.task_id for r in sim.runs if r.task_id in leaves}
    if ran & failing_ids:
        assert sim.snap.state == State.FAILED
    else:
        assert sim.snap.state == State.SUCCESS
        assert ran == set(leaves), "every task runs when nothing fails"
    assert all(r.state in TERMINAL for r in sim.runs)
