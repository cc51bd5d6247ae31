"""The flowable plugins (If, Switch, ForEach and its deprecated forms, AllowFailure, Dag,
WaitFor) driven by the pure engine through the DB-free simulator: happy paths, failures
with ``errors``/``finally``, concurrency limits, and Kestra's own flows from the corpus."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from textwrap import dedent, indent
from typing import Any

import pytest
import yaml

from kernel.engine.context import loop_path
from kernel.engine.planner import plan
from kernel.registry import registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from kernel.states import TERMINAL, State
from plugins.core.flow.dag import Dag
from plugins.core.flow.foreach import EachParallel, EachSequential, ForEach, parse_values
from plugins.core.flow.wait_for import WaitFor
from tests.unit.engine_sim import T0, Sim

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "kestra-corpus"


# -- helpers -----------------------------------------------------------------------------


def flow(tasks: str, extra: str = "") -> str:
    """A flow document around ``tasks`` (YAML list items, written at column 0)."""
    return "id: f\nnamespace: tests\n" + extra + "tasks:\n" + indent(dedent(tasks), "  ")


def log(task_id: str, message: str = "x") -> str:
    return f"- id: {task_id}\n  type: io.kestra.plugin.core.log.Log\n  message: '{message}'\n"


def fail_on(*task_ids: str) -> Callable[[str, int], State]:
    """A worker outcome: these tasks fail, the others succeed."""
    return lambda task_id, attempt: State.FAILED if task_id in task_ids else State.SUCCESS


def block(key: str, *items: str) -> str:
    """``key:`` followed by task items indented under it."""
    return f"{key}:\n" + indent("".join(items), "  ")


def task(head: str, *blocks: str) -> str:
    """A list item ``head`` (``- id: ...\\n  type: ...\\n``) followed by nested blocks."""
    return head + "".join(indent(b, "  ") for b in blocks)


def ids(sim: Sim) -> list[str]:
    return [r.task_id for r in sim.runs]


def active(sim: Sim, *task_ids: str) -> int:
    return sum(1 for r in sim.runs if r.task_id in task_ids and r.state not in TERMINAL)


def settled(sim: Sim) -> bool:
    """Planning again after the last applied plan plans nothing (idempotence)."""
    return not plan(sim.flow, sim.snap, sim.now, sim.env)


# -- If ----------------------------------------------------------------------------------

IF_HEAD = "- id: check\n  type: io.kestra.plugin.core.flow.If\n  condition: '{{ vars.c }}'\n"


def if_flow(value: Any, *, with_else: bool = True, handlers: bool = False) -> str:
    parts = [block("then", log("yes"))]
    if with_else:
        parts.append(block("else", log("no")))
    if handlers:
        parts += [block("errors", log("oops")), block("finally", log("always"))]
    extra = "variables:\n  c: " + yaml.safe_dump(value, default_flow_style=True).strip() + "\n"
    extra = extra.replace("\n...", "")
    return flow(task(IF_HEAD, *parts) + log("after"), extra)


@pytest.mark.parametrize(
    ("value", "branch"),
    [
        (True, "yes"),
        (False, "no"),
        ("true", "yes"),
        ("false", "no"),
        ("FALSE", "no"),
        ("0", "no"),
        ("-0", "no"),
        ("", "no"),
        ("anything", "yes"),
        (1, "yes"),
        (0, "no"),
    ],
)
def test_if_runs_the_branch_chosen_by_kestra_truthiness(value: Any, branch: str) -> None:
    sim = Sim(if_flow(value))
    assert sim.finish().state == State.SUCCESS
    assert ids(sim) == ["check", branch, "after"]
    assert sim.run_of("check").decision == {"branch": "then" if branch == "yes" else "else"}
    assert settled(sim)


def test_if_without_else_and_a_falsy_condition_succeeds_with_no_child() -> None:
    sim = Sim(if_flow(False, with_else=False))
    assert sim.finish().state == State.SUCCESS
    assert ids(sim) == ["check", "after"]
    assert sim.run_of("check").state == State.SUCCESS


def test_if_decides_once_even_when_the_condition_changes_later() -> None:
    source = flow(
        task(
            "- id: check\n  type: io.kestra.plugin.core.flow.If\n"
            '  condition: "{{ outputs.first is defined }}"\n',
            block("then", log("first"), log("second")),
        )
    )
    sim = Sim(source)
    sim.finish()
    assert ids(sim) == ["check"]  # no output existed when it started: else, which is empty
    assert sim.run_of("check").decision == {"branch": "else"}


def test_if_failing_branch_runs_errors_then_finally() -> None:
    sim = Sim(if_flow(True, handlers=True), fail_on("yes"))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["check", "yes", "oops", "always"]
    assert sim.run_of("check").state == State.FAILED


def test_if_with_a_broken_condition_fails_with_an_error_log() -> None:
    source = flow(
        task(
            "- id: check\n  type: io.kestra.plugin.core.flow.If\n  condition: '{{ nope.x }}'\n",
            block("then", log("yes")),
        )
    )
    sim = Sim(source)
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["check"]
    assert any(line.level == "ERROR" and "check" in line.message for line in sim.logs)


# -- Switch ------------------------------------------------------------------------------


def switch_flow(value: str, *, defaults: bool = True, handlers: bool = False) -> str:
    head = f'- id: sw\n  type: io.kestra.plugin.core.flow.Switch\n  value: "{value}"\n'
    cases = "cases:\n" + indent(block("A", log("a1"), log("a2")) + block("1", log("one")), "  ")
    cases += indent(block("'true'", log("yes")), "  ")
    parts = [cases]
    if defaults:
        parts.append(block("defaults", log("other")))
    if handlers:
        parts += [block("errors", log("oops")), block("finally", log("always"))]
    return flow(task(head, *parts))


@pytest.mark.parametrize(
    ("value", "expected", "is_default"),
    [
        ("A", ["a1", "a2"], False),
        ("{{ 'A' }}", ["a1", "a2"], False),
        ("{{ 1 }}", ["one"], False),
        ("{{ 1 == 1 }}", ["yes"], False),
        ("B", ["other"], True),
        ("a", ["other"], True),
    ],
)
def test_switch_runs_the_matching_case_or_the_defaults(
    value: str, expected: list[str], is_default: bool
) -> None:
    sim = Sim(switch_flow(value))
    assert sim.finish().state == State.SUCCESS
    assert ids(sim) == ["sw", *expected]
    rendered = {"{{ 'A' }}": "A", "{{ 1 }}": "1", "{{ 1 == 1 }}": "true"}.get(value, value)
    assert sim.run_of("sw").outputs == {"value": rendered, "defaults": is_default}
    assert settled(sim)


def test_switch_without_a_match_nor_defaults_fails_clearly() -> None:
    sim = Sim(switch_flow("Z", defaults=False))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["sw"]
    errors = [line.message for line in sim.logs if line.level == "ERROR"]
    assert len(errors) == 1
    assert "no case matches the value 'Z'" in errors[0]
    assert "A, 1, true" in errors[0]


def test_switch_failing_case_runs_errors_then_finally() -> None:
    sim = Sim(switch_flow("A", handlers=True), fail_on("a1"))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["sw", "a1", "oops", "always"]


# -- ForEach -----------------------------------------------------------------------------


def foreach_flow(
    values: str, *, limit: int | None = None, kind: str = "ForEach", handlers: bool = False
) -> str:
    prop = "values" if kind == "ForEach" else "value"
    head = f"- id: loop\n  type: io.kestra.plugin.core.flow.{kind}\n  {prop}: {values}\n"
    if limit is not None:
        key = "concurrencyLimit" if kind == "ForEach" else "concurrent"
        head += f"  {key}: {limit}\n"
    parts = [block("tasks", log("t1", "{{ taskrun.value }}"), log("t2"))]
    if handlers:
        parts += [block("errors", log("oops")), block("finally", log("always"))]
    return flow(task(head, *parts) + log("after"))


def test_foreach_runs_each_value_in_turn_with_its_tasks_in_sequence() -> None:
    sim = Sim(foreach_flow("[a, b, c]"))
    assert sim.finish().state == State.SUCCESS
    loop = [(r.task_id, r.value, r.iteration) for r in sim.runs if r.task_id in ("t1", "t2")]
    assert loop == [
        ("t1", "a", 0), ("t2", "a", 0), ("t1", "b", 1), ("t2", "b", 1),
        ("t1", "c", 2), ("t2", "c", 2),
    ]  # fmt: skip
    assert (ids(sim)[0], ids(sim)[-1]) == ("loop", "after")
    assert sim.run_of("loop").decision == {"values": ["a", "b", "c"], "concurrency": 1}
    assert settled(sim)


@pytest.mark.parametrize(("limit", "at_once"), [(1, 1), (2, 2), (0, 4), (9, 4)])
def test_foreach_keeps_at_most_concurrency_limit_iterations_active(
    limit: int, at_once: int
) -> None:
    sim = Sim(foreach_flow("[a, b, c, d]", limit=limit))
    peak = 0
    for _ in range(100):
        sim.step()
        peak = max(peak, len({r.iteration for r in sim.runs if r.iteration is not None
                              and r.state not in TERMINAL}))  # fmt: skip
        if not sim.work():
            break
    assert peak == at_once
    assert sim.snap.state == State.SUCCESS
    assert len([r for r in sim.runs if r.task_id == "t2"]) == 4


def test_foreach_first_step_starts_exactly_the_allowed_iterations() -> None:
    sim = Sim(foreach_flow("[a, b, c, d]", limit=2))
    sim.step()
    assert [(r.task_id, r.value) for r in sim.runs if r.state not in TERMINAL and
            r.task_id != "loop"] == [("t1", "a"), ("t1", "b")]  # fmt: skip
    sim.work()
    sim.step()  # t1 ended in both: t2 follows in both, no third iteration yet
    assert active(sim, "t1", "t2") == 2
    assert sorted(r.value for r in sim.runs if r.task_id == "t2") == ["a", "b"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ("'[\"x\", 2, true]'", ["x", "2", "true"]),
        ('"{{ vars.items }}"', ["p", "q"]),
        ('"{{ vars.items | json }}"', ["p", "q"]),
        ("['{{ vars.items[0] }}', z]", ["p", "z"]),
        ("[{k: v, n: 1}, [1, 2]]", ['{"k":"v","n":1}', "[1,2]"]),
        ("[a, b, a]", ["a", "b"]),
    ],
)
def test_foreach_values_become_the_strings_users_see(values: str, expected: list[str]) -> None:
    source = foreach_flow(values).replace("tasks:\n", "variables:\n  items: [p, q]\ntasks:\n", 1)
    sim = Sim(source)
    assert sim.finish().state == State.SUCCESS
    assert [r.value for r in sim.runs if r.task_id == "t1"] == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("'[1, null]'", "Found '1' null values on Each, with values=[1, null]"),
        ("'not json'", "must be a list or a JSON array"),
        ("'{\"a\": 1}'", "must be a list, not dict"),
    ],
)
def test_foreach_refuses_values_that_are_not_a_list(values: str, message: str) -> None:
    sim = Sim(foreach_flow(values))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["loop"]
    assert any(message in line.message for line in sim.logs if line.level == "ERROR")


def test_foreach_with_no_values_succeeds_at_once() -> None:
    sim = Sim(foreach_flow("[]", handlers=True))
    assert sim.finish().state == State.SUCCESS
    assert ids(sim) == ["loop", "always", "after"]


def test_foreach_failure_stops_new_iterations_then_errors_and_finally_run_once() -> None:
    seen: list[str] = []

    def second_t2_fails(task_id: str, attempt: int) -> State:
        seen.append(task_id)
        return State.FAILED if seen.count("t2") == 2 and task_id == "t2" else State.SUCCESS

    sim = Sim(foreach_flow("[a, b, c]", handlers=True), second_t2_fails)
    assert sim.finish().state == State.FAILED
    assert [(r.task_id, r.value) for r in sim.runs] == [
        ("loop", None), ("t1", "a"), ("t2", "a"), ("t1", "b"), ("t2", "b"),
        ("oops", None), ("always", None),
    ]  # fmt: skip
    assert sim.run_of("oops").iteration is None
    assert sim.run_of("loop").state == State.FAILED


def test_foreach_failure_lets_running_iterations_finish() -> None:
    sim = Sim(foreach_flow("[a, b, c]", limit=0, handlers=True), fail_on("t1"))
    assert sim.finish().state == State.FAILED
    assert [r.value for r in sim.runs if r.task_id == "t1"] == ["a", "b", "c"]
    assert not [r for r in sim.runs if r.task_id == "t2"]
    assert ids(sim)[-2:] == ["oops", "always"]


def test_foreach_allowed_failure_counts_as_a_warning() -> None:
    source = foreach_flow("[a, b]").replace("- id: t2\n", "- id: t2\n        allowFailure: true\n")
    sim = Sim(source, fail_on("t2"))
    assert sim.finish().state == State.WARNING
    assert sim.run_of("loop").state == State.WARNING
    assert len([r for r in sim.runs if r.task_id == "t2"]) == 2


def test_foreach_with_every_task_disabled_ends() -> None:
    source = flow(
        "- id: loop\n  type: io.kestra.plugin.core.flow.ForEach\n  values: [a, b]\n"
        "  tasks:\n    - id: t\n      type: io.kestra.plugin.core.log.Log\n"
        "      message: m\n      disabled: true\n"
    )
    sim = Sim(source)
    assert sim.finish().state == State.SUCCESS
    assert ids(sim) == ["loop"]


def test_nested_loops_key_outputs_by_both_values_and_see_the_parent_value() -> None:
    source = flow(
        "- id: outer\n  type: io.kestra.plugin.core.flow.ForEach\n  values: [x, y]\n"
        "  tasks:\n"
        "    - id: inner\n      type: io.kestra.plugin.core.flow.ForEach\n"
        "      values: '[1, 2]'\n      tasks:\n"
        "        - id: ret\n          type: io.kestra.plugin.core.debug.Return\n"
        "          format: '{{ parent.taskrun.value }}-{{ taskrun.value }}'\n"
        "- id: last\n  type: io.kestra.plugin.core.debug.Return\n"
        "  format: \"{{ outputs.ret['y']['2'].value }}\"\n"
    )
    sim = Sim(source, None)
    assert sim.finish().state == State.SUCCESS
    assert [r.outputs["value"] for r in sim.runs if r.task_id == "ret"] == [
        "x-1", "x-2", "y-1", "y-2",
    ]  # fmt: skip
    assert sim.run_of("last").outputs == {"value": "y-2"}
    assert [r.value for r in sim.runs if r.task_id == "inner"] == ["x", "y"]


def test_each_sequential_and_each_parallel_are_deprecated_loops() -> None:
    assert registry.get("io.kestra.core.tasks.flows.EachSequential") is EachSequential
    assert registry.get("io.kestra.plugin.core.flow.EachParallel") is EachParallel
    assert registry.get("io.kestra.core.tasks.flows.ForEach") is ForEach
    assert EachSequential.deprecated == EachParallel.deprecated == "use ForEach"
    spec = parse_flow(foreach_flow("[a]", kind="EachSequential"))
    assert any("deprecated" in w.message for w in spec.warnings)


def test_each_parallel_starts_everything_unless_limited() -> None:
    sim = Sim(foreach_flow("[a, b, c]", kind="EachParallel"))
    sim.step()
    assert active(sim, "t1") == 3
    limited = Sim(foreach_flow("[a, b, c]", kind="EachParallel", limit=2))
    limited.step()
    assert active(limited, "t1") == 2
    sequential = Sim(foreach_flow("[a, b, c]", kind="EachSequential"))
    sequential.step()
    assert active(sequential, "t1") == 1
    assert limited.finish().state == sequential.finish().state == State.SUCCESS


def test_parse_values_keeps_order_and_drops_repeats() -> None:
    assert parse_values(["b", "a", "b", 1, "1"]) == ["b", "a", "1"]


# -- AllowFailure ------------------------------------------------------------------------

ALLOW = "- id: tolerant\n  type: io.kestra.plugin.core.flow.AllowFailure\n"


def test_allow_failure_turns_a_failed_block_into_a_warning_after_its_errors() -> None:
    source = flow(
        task(ALLOW, block("tasks", log("a"), log("b")), block("errors", log("oops")),
             block("finally", log("always"))) + log("after")
    )  # fmt: skip
    sim = Sim(source, fail_on("a"))
    assert sim.finish().state == State.WARNING
    assert ids(sim) == ["tolerant", "a", "oops", "always", "after"]
    assert sim.run_of("tolerant").state == State.WARNING


def test_allow_failure_that_succeeds_is_a_success() -> None:
    sim = Sim(flow(task(ALLOW, block("tasks", log("a"), log("b")))))
    assert sim.finish().state == State.SUCCESS
    assert ids(sim) == ["tolerant", "a", "b"]


# -- Dag ---------------------------------------------------------------------------------


def dag_item(task_id: str, *deps: str, extra: str = "") -> str:
    depends = f"  dependsOn: [{', '.join(deps)}]\n" if deps else ""
    return (
        f"- task:\n    id: {task_id}\n    type: io.kestra.plugin.core.log.Log\n"
        f"    message: m\n{extra}" + depends
    )


DIAMOND = [dag_item("a"), dag_item("b", "a"), dag_item("c", "a"), dag_item("d", "b", "c")]


def dag_flow(items: list[str], concurrent: int | str | None = None, handlers: bool = False) -> str:
    head = "- id: dag\n  type: io.kestra.plugin.core.flow.Dag\n"
    if concurrent is not None:
        head += f"  concurrent: {concurrent}\n"
    parts = [block("tasks", *items)]
    if handlers:
        parts += [block("errors", log("oops")), block("finally", log("always"))]
    return flow(task(head, *parts))


def test_dag_starts_a_task_only_once_its_dependencies_ended() -> None:
    sim = Sim(dag_flow(DIAMOND))
    depends = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    started: list[list[str]] = []
    for _ in range(50):
        before = {r.task_id for r in sim.runs}
        sim.step()
        new = [r.task_id for r in sim.runs if r.task_id not in before and r.task_id != "dag"]
        for task_id in new:
            assert all(sim.run_of(d).state == State.SUCCESS for d in depends[task_id])
        if new:
            started.append(new)
        if not sim.work():
            break
    assert started == [["a"], ["b", "c"], ["d"]]
    assert sim.snap.state == State.SUCCESS
    assert settled(sim)


@pytest.mark.parametrize(("concurrent", "peak"), [(1, 1), (2, 2), (0, 3)])
def test_dag_runs_at_most_concurrent_tasks(concurrent: int, peak: int) -> None:
    items = [dag_item("a"), dag_item("b"), dag_item("c"), dag_item("d", "a")]
    sim = Sim(dag_flow(items, concurrent))
    seen = 0
    for _ in range(50):
        sim.step()
        seen = max(seen, active(sim, "a", "b", "c", "d"))
        if not sim.work():
            break
    assert seen == peak
    assert sim.snap.state == State.SUCCESS
    assert len(sim.runs) == 5


def test_dag_failure_stops_new_starts_then_errors_and_finally_run() -> None:
    sim = Sim(dag_flow(DIAMOND, handlers=True), fail_on("b"))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["dag", "a", "b", "c", "oops", "always"]
    assert sim.run_of("dag").state == State.FAILED


def test_dag_allowed_failure_and_disabled_tasks_do_not_block_dependents() -> None:
    items = [
        dag_item("a", extra="    allowFailure: true\n"),
        dag_item("b", extra="    disabled: true\n"),
        dag_item("c", "a", "b"),
    ]
    sim = Sim(dag_flow(items), fail_on("a"))
    assert sim.finish().state == State.WARNING
    assert ids(sim) == ["dag", "a", "c"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([dag_item("t1", "t2"), dag_item("t2", "t1")], "dag: Cyclic dependency detected: t1, t2"),
        ([dag_item("t1", "tX")], "dag: Not existing task id in dependency: tX"),
    ],
)
def test_dag_refuses_cycles_and_unknown_dependencies_at_deploy(
    items: list[str], message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_flow(dag_flow(items))
    assert [p.message for p in caught.value.problems] == [message]


def test_dag_validate_refuses_a_negative_concurrency() -> None:
    assert Dag.validate({"concurrent": -1}) == [("concurrent", "must be 0 (no limit) or more")]
    assert Dag.validate({"concurrent": "{{ 2 }}"}) == []
    with pytest.raises(SpecError, match="must be 0"):
        parse_flow(dag_flow([dag_item("a")], -1))


def test_dag_with_a_rendered_negative_concurrency_fails_at_run_time() -> None:
    sim = Sim(dag_flow([dag_item("a")], "'{{ 0 - 1 }}'"))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["dag"]


# -- WaitFor -----------------------------------------------------------------------------


def wait_flow(condition: str, frequency: str = "", fail: bool = False, extra: str = "") -> str:
    head = (
        "- id: poll\n  type: io.kestra.plugin.core.flow.WaitFor\n"
        f'  condition: "{condition}"\n{extra}'
    )
    if frequency:
        head += f"  checkFrequency: {frequency}\n"
    if fail:
        head += "  failOnMaxReached: true\n"
    probe = (
        "- id: probe\n  type: io.kestra.plugin.core.debug.Return\n"
        "  format: '{{ outputs.poll.iterationCount }}'\n"
    )
    return flow(task(head, block("tasks", log("step"), probe)))


def probes(sim: Sim) -> list[str]:
    return [r.outputs.get("value") for r in sim.runs if r.task_id == "probe"]


def test_wait_for_repeats_until_the_condition_holds_counting_from_one() -> None:
    sim = Sim(wait_flow("{{ outputs.probe.value == '3' }}", "{interval: PT0S}"), None)
    assert sim.finish().state == State.SUCCESS
    assert probes(sim) == ["1", "2", "3"]
    assert sim.run_of("poll").outputs == {"iterationCount": 3}
    assert [r.value for r in sim.runs if r.task_id == "step"] == ["1", "2", "3"]
    assert settled(sim)


def test_wait_for_stops_after_one_iteration_when_the_condition_holds_at_once() -> None:
    sim = Sim(wait_flow("{{ true }}"), None)
    assert sim.finish().state == State.SUCCESS
    assert probes(sim) == ["1"]
    assert sim.now == T0  # no pause after the last iteration


@pytest.mark.parametrize(("fail", "state"), [(False, State.SUCCESS), (True, State.FAILED)])
def test_wait_for_max_iterations_ends_the_loop(fail: bool, state: State) -> None:
    sim = Sim(wait_flow("{{ false }}", "{maxIterations: 3, interval: PT0S}", fail), None)
    assert sim.finish().state == state
    assert probes(sim) == ["1", "2", "3"]


def test_wait_for_waits_its_interval_as_a_due_time() -> None:
    sim = Sim(wait_flow("{{ outputs.probe.value == '2' }}", "{interval: PT30S}"), None)
    sim.step()
    sim.work()
    sim.step()  # step and probe are over: the pause starts
    sim.work()
    sim.step()
    assert sim.run_of("poll").due_at == T0 + timedelta(seconds=30)
    assert sim.run_of("poll").state == State.RUNNING
    assert probes(sim) == ["1"]
    assert sim.finish().state == State.SUCCESS
    assert probes(sim) == ["1", "2"]
    assert T0 + timedelta(seconds=30) <= sim.now < T0 + timedelta(seconds=31)


def test_wait_for_max_duration_ends_the_loop() -> None:
    frequency = "{maxDuration: PT15M, interval: PT10M}"
    sim = Sim(wait_flow("{{ false }}", frequency, fail=True), None)
    assert sim.finish().state == State.FAILED
    # started at 0 and 10 minutes; at 20 minutes the budget is spent: no third iteration
    assert probes(sim) == ["1", "2"]


def test_wait_for_own_timeout_is_not_mistaken_for_its_pause() -> None:
    source = wait_flow("{{ outputs.probe.value == '3' }}", extra="  timeout: PT1H\n")
    sim = Sim(source, None)
    assert sim.finish().state == State.SUCCESS
    assert probes(sim) == ["1", "2", "3"]
    assert sim.now < T0 + timedelta(seconds=3)


def test_wait_for_failed_iteration_runs_errors_and_finally_and_stops() -> None:
    source = flow(
        task(
            "- id: poll\n  type: io.kestra.plugin.core.flow.WaitFor\n  condition: '{{ false }}'\n",
            block("tasks", log("step")),
            block("errors", log("oops")),
            block("finally", log("always")),
        )
    )
    sim = Sim(source, fail_on("step"))
    assert sim.finish().state == State.FAILED
    assert ids(sim) == ["poll", "step", "oops", "always"]


@pytest.mark.parametrize(
    ("frequency", "problem"),
    [
        ({"every": "PT1S"}, "unknown checkFrequency key 'every'"),
        ({"interval": "soon"}, "ISO-8601"),
        ({"maxIterations": 0}, "1 or more"),
    ],
)
def test_wait_for_validate_checks_check_frequency(frequency: dict, problem: str) -> None:
    found = WaitFor.validate({"checkFrequency": frequency})
    assert len(found) == 1
    assert problem in found[0][1]
    assert WaitFor.validate({"checkFrequency": {"interval": "{{ vars.i }}"}}) == []


# -- every type documents itself ---------------------------------------------------------


@pytest.mark.parametrize("name", ["If", "Switch", "ForEach", "Dag", "WaitFor"])
def test_examples_parse_and_run(name: str) -> None:
    cls = registry.get(f"trellis.core.flow.{name}")
    assert cls.examples
    for example in cls.examples:
        spec = parse_flow(example)
        inputs = {i.id: i.options["defaults"] for i in spec.inputs if "defaults" in i.options}
        sim = Sim(spec, None, inputs=inputs)
        assert sim.finish().state == State.SUCCESS


# -- Kestra's flows ----------------------------------------------------------------------

CORPUS_FLOWS = {
    "If": ["if.yaml", "if-condition.yaml", "if-without-else.yaml"],
    "Switch": ["switch.yaml", "switch-impossible.yaml"],
    "ForEach": [
        "foreach-non-concurrent.yaml", "each-object.yaml", "each-empty.yaml", "each-null.yaml",
    ],
    "EachSequential": ["each-sequential.yaml", "each-sequential-nested.yaml"],
    "AllowFailure": ["allow-failure.yaml"],
    "Dag": ["dag.yaml"],
    "WaitFor": ["waitfor.yaml", "waitfor-max-iterations.yaml"],
}  # fmt: skip


def corpus_scenarios() -> list[Any]:
    if not CORPUS.exists():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no Kestra corpus"))]
    entries = yaml.safe_load((CORPUS / "expectations.yaml").read_text())["entries"]
    by_file = {entry["file"]: entry for entry in entries}
    params = []
    for kind, files in CORPUS_FLOWS.items():
        for name in files:
            for scenario in by_file[name].get("scenarios", []):
                if "expected" in scenario and "steps" not in scenario:
                    params.append(
                        pytest.param(name, scenario, id=f"{kind}:{name}:{scenario['name']}")
                    )
    return params


@pytest.mark.parametrize(("name", "scenario"), corpus_scenarios())
def test_kestra_corpus_flow(name: str, scenario: dict) -> None:
    sim = Sim((CORPUS / "flows" / name).read_text(), None, inputs=scenario.get("inputs") or {})
    final = sim.finish()
    expected = scenario["expected"]
    where = ([(r.task_id, r.value, str(r.state)) for r in sim.runs], sim.logs, sim.task_logs)
    if expected.get("state") not in (None, "unknown"):
        assert final.state == expected["state"], where
    if isinstance(expected.get("taskrun_count"), int):
        assert len(sim.runs) == expected["taskrun_count"], where
    for check in [*(expected.get("asserts") or []), *(expected.get("asserts_extra") or [])]:
        found = lookup(sim, check["path"])
        value = lookup(sim, check["value_from"]) if "value_from" in check else check.get("value")
        usable = "value" in check or "value_from" in check or check["op"] == "empty"
        if not usable or found is _UNKNOWN or value is _UNKNOWN:
            continue  # a path or an operator this small reader does not know
        assert_op(found, check["op"], value, check["path"], where)
    for line in expected.get("logs") or []:
        messages = [entry.message for entry in sim.logs] + [m for _, m in sim.task_logs]
        assert any(line["value"] in m for m in messages), where


_UNKNOWN = object()
_PATH = re.compile(
    r"(?:taskRunList\[(?P<index>\d+)\]|(?P<kind>taskruns?)\((?P<task>[^),\[]+)"
    r"(?:, \[(?P<loop>[^\]]*)\])?\))(?P<rest>(?:\.\w[\w-]*)*)$"
)


def lookup(sim: Sim, path: str) -> Any:
    """The value at a corpus assertion path, for the shapes these flows use: a run by index,
    by task id (and enclosing loop values), then ``.state``, ``.taskId`` or ``.outputs...``;
    ``'text' + path`` concatenates."""
    prefix, plus, tail = path.partition(" + ")
    if plus and prefix.startswith("'") and prefix.endswith("'"):
        found = lookup(sim, tail)
        return _UNKNOWN if found is _UNKNOWN else prefix[1:-1] + str(found)
    match = _PATH.match(path)
    if not match:
        return _UNKNOWN
    if match["kind"] == "taskruns":
        return _UNKNOWN if match["rest"] else [r for r in sim.runs if r.task_id == match["task"]]
    if match["index"] is not None:
        run = sim.runs[int(match["index"])]
    else:
        by_id = {r.id: r for r in sim.runs}
        wanted = [v.strip().strip("'") for v in match["loop"].split(",")] if match["loop"] else None
        matching = [
            r
            for r in sim.runs
            if r.task_id == match["task"] and wanted in (None, loop_path(r, by_id))
        ]
        if not matching:
            return _UNKNOWN
        run = matching[0]
    value: Any = {"taskId": run.task_id, "state": str(run.state), "outputs": dict(run.outputs)}
    for key in match["rest"].split(".")[1:]:
        if not isinstance(value, dict) or key not in value:
            return _UNKNOWN
        value = value[key]
    return value


def assert_op(found: Any, op: str, value: Any, path: str, where: Any) -> None:
    if op == "eq":
        assert found == value, (path, where)
    elif op == "contains":
        assert value in found, (path, where)
    elif op == "size":
        assert len(found) == value, (path, where)
    elif op == "empty":
        assert not found, (path, where)
