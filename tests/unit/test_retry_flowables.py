"""A ``retry`` declared on a flowable retries the failing children that declare none (issue 22).

The first flows are Kestra's own (core/src/test/resources/flows/valids/retry-flowable*.yaml,
asserted by RetryCaseTest); the others are the neighbouring cases Kestra's documentation
implies: a Parallel, nested flowables that both declare a policy, a child with its own.
"""

from __future__ import annotations

from kernel.states import State
from tests.unit.engine_sim import Sim

FAIL = "io.kestra.plugin.core.execution.Fail"
LOG = "io.kestra.plugin.core.log.Log"


def retry(indent: int, attempts: int, extra: str = "") -> str:
    pad = " " * indent
    return (
        f"{pad}retry:\n{pad}  type: constant\n{pad}  interval: PT1S\n"
        f"{pad}  maxAttempts: {attempts}\n{extra}"
    )


def attempts(sim: Sim) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for run in sim.runs:
        found.setdefault(run.task_id, []).append(run.attempts)
    return found


def test_kestra_retry_flowable_gives_the_failing_child_the_flowables_attempts() -> None:
    sim = Sim(
        "id: retry-flowable\nnamespace: io.kestra.tests\ntasks:\n"
        "  - id: flowable\n    type: io.kestra.plugin.core.flow.Sequential\n"
        + retry(4, 3)
        + f"    tasks:\n      - id: child\n        type: {FAIL}\n",
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert [r.task_id for r in sim.runs] == ["flowable", "child"]
    assert sim.runs[1].attempts == 3  # Kestra: taskRunList[1].attemptNumber == 3
    assert [r.state for r in sim.runs] == [State.FAILED, State.FAILED]
    assert sim.runs[0].attempts == 0  # the flowable itself is not run again


def test_kestra_retry_flowable_child_keeps_its_own_policy() -> None:
    sim = Sim(
        "id: retry-flowable-child\nnamespace: io.kestra.tests\ntasks:\n"
        "  - id: flowable\n    type: io.kestra.plugin.core.flow.Sequential\n"
        f"    tasks:\n      - id: child\n        type: {FAIL}\n" + retry(8, 3),
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert sim.runs[1].attempts == 3


def test_kestra_retry_flowable_nested_child() -> None:
    sim = Sim(
        "id: retry-flowable-nested-child\nnamespace: io.kestra.tests\ntasks:\n"
        "  - id: flowable\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n"
        "      - id: flowable2\n        type: io.kestra.plugin.core.flow.Sequential\n"
        f"        tasks:\n          - id: child\n            type: {FAIL}\n" + retry(12, 3),
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert [r.task_id for r in sim.runs] == ["flowable", "flowable2", "child"]
    assert sim.runs[2].attempts == 3


def test_kestra_retry_flowable_parallel_retries_every_iteration() -> None:
    sim = Sim(
        "id: retry-flowable-parallel\nnamespace: io.kestra.tests\ntasks:\n"
        "  - id: flowable\n    type: io.kestra.plugin.core.flow.ForEach\n"
        "    concurrencyLimit: 0\n    values: [0, 1]\n"
        + retry(4, 3)
        + f"    tasks:\n      - id: child\n        type: {FAIL}\n",
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert attempts(sim) == {"flowable": [0], "child": [3, 3]}


def test_a_parallel_with_a_retry_retries_each_failing_branch() -> None:
    sim = Sim(
        "id: f\nnamespace: t\ntasks:\n"
        "  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n"
        + retry(4, 2)
        + "    tasks:\n"
        f"      - id: a\n        type: {FAIL}\n"
        f"      - id: b\n        type: {LOG}\n        message: fine\n",
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert attempts(sim) == {"par": [0], "a": [2], "b": [1]}


def test_nested_flowables_that_both_declare_a_retry_the_nearest_one_wins() -> None:
    sim = Sim(
        "id: f\nnamespace: t\ntasks:\n"
        "  - id: outer\n    type: io.kestra.plugin.core.flow.Sequential\n" + retry(4, 5)
        + "    tasks:\n      - id: inner\n        type: io.kestra.plugin.core.flow.Sequential\n"
        + retry(8, 2)
        + f"        tasks:\n          - id: child\n            type: {FAIL}\n",
        outcome=None,
    )  # fmt: skip

    assert sim.finish().state == State.FAILED
    assert attempts(sim)["child"] == [2]


def test_a_child_that_declares_its_own_retry_ignores_the_flowables() -> None:
    sim = Sim(
        "id: f\nnamespace: t\ntasks:\n"
        "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n" + retry(4, 5)
        + f"    tasks:\n      - id: child\n        type: {FAIL}\n" + retry(8, 2),
        outcome=None,
    )  # fmt: skip

    assert sim.finish().state == State.FAILED
    assert attempts(sim)["child"] == [2]


def test_a_child_that_succeeds_on_a_later_attempt_lets_the_block_go_on() -> None:
    source = (
        "id: f\nnamespace: t\ntasks:\n"
        "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n"
        + retry(4, 3, "      warningOnRetry: true\n")
        + f"    tasks:\n      - id: flaky\n        type: {LOG}\n        message: m\n"
        f"      - id: after\n        type: {LOG}\n        message: m\n"
    )
    sim = Sim(
        source, lambda task_id, n: State.FAILED if task_id == "flaky" and n < 2 else State.SUCCESS
    )

    assert sim.finish().state == State.WARNING
    assert attempts(sim) == {"seq": [0], "flaky": [2], "after": [1]}
    assert sim.run_of("flaky").state == State.WARNING


def test_a_flowable_retry_that_creates_a_new_execution_retries_nothing_in_place() -> None:
    sim = Sim(
        "id: f\nnamespace: t\ntasks:\n"
        "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n"
        + retry(4, 3, "      behavior: CREATE_NEW_EXECUTION\n")
        + f"    tasks:\n      - id: child\n        type: {FAIL}\n",
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert attempts(sim)["child"] == [1]


def test_without_any_flowable_retry_the_flows_policy_still_applies() -> None:
    sim = Sim(
        "id: f\nnamespace: t\n" + retry(0, 2) + "tasks:\n"
        "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n"
        f"    tasks:\n      - id: child\n        type: {FAIL}\n",
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    assert attempts(sim)["child"] == [2]


def test_a_retry_on_a_one_at_a_time_foreach_stops_the_loop_once_spent() -> None:
    sim = Sim(
        "id: f\nnamespace: t\ntasks:\n"
        "  - id: each\n    type: io.kestra.plugin.core.flow.ForEach\n"
        "    concurrencyLimit: 1\n    values: [a, b]\n"
        + retry(4, 3)
        + f"    tasks:\n      - id: child\n        type: {FAIL}\n",
        outcome=None,
    )

    assert sim.finish().state == State.FAILED
    # The first iteration's child used the loop's three attempts; no iteration started after.
    assert [(r.task_id, r.value, r.attempts) for r in sim.runs] == [
        ("each", None, 0),
        ("child", "a", 3),
    ]
