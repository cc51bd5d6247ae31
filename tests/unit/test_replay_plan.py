"""Which task runs a replay keeps (Kestra's ExecutionService.replay tests, by count), pure."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.engine.replay import replay_plan
from kernel.spec.parse import parse_flow

CORPUS = (
    Path(
        os.environ.get(
            "TRELLIS_KESTRA_CORPUS", Path(__file__).resolve().parents[3] / "shared/kestra-corpus"
        )
    )
    / "flows"
)
LOG = "io.kestra.plugin.core.log.Log"


@dataclass(frozen=True)
class Run:
    id: str
    task_id: str
    parent_id: str | None = None


def flow(tasks: str) -> object:
    return parse_flow(f"id: f\nnamespace: t\ntasks:\n{tasks}")


def log(task_id: str, indent: int = 2) -> str:
    pad = " " * indent
    return f"{pad}- id: {task_id}\n{pad}  type: {LOG}\n{pad}  message: m\n"


def test_a_sequence_keeps_what_came_before_and_restarts_the_chosen_run() -> None:
    spec = flow(log("t1") + log("t2") + log("t3"))
    runs = [Run("r1", "t1"), Run("r2", "t2"), Run("r3", "t3")]

    plan = replay_plan(spec, runs, "r2")

    assert plan.keep == ("r1", "r2")
    assert plan.restart == {"r2"}


def test_a_parallel_branch_beside_the_chosen_one_is_kept() -> None:
    spec = flow(
        "  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
        + log("a", 6) + log("b", 6) + log("after")
    )  # fmt: skip
    runs = [Run("p", "par"), Run("ra", "a", "p"), Run("rb", "b", "p"), Run("rz", "after")]

    plan = replay_plan(spec, runs, "ra")

    assert plan.keep == ("p", "ra", "rb")
    assert plan.restart == {"p", "ra"}


def test_a_dag_drops_only_what_waits_for_the_chosen_task() -> None:
    spec = flow(
        "  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
        f"      - task: {{id: a, type: {LOG}, message: m}}\n"
        f"      - task: {{id: b, type: {LOG}, message: m}}\n        dependsOn: [a]\n"
        f"      - task: {{id: c, type: {LOG}, message: m}}\n"
    )
    runs = [Run("d", "dag"), Run("ra", "a", "d"), Run("rc", "c", "d"), Run("rb", "b", "d")]

    plan = replay_plan(spec, runs, "ra")

    assert plan.keep == ("d", "ra", "rc")


@pytest.mark.skipif(not CORPUS.exists(), reason="the Kestra corpus is not next to the project")
@pytest.mark.parametrize(("chosen", "kept"), [(("1-2_each", "s1"), 5),
                                               (("1-2-1_return", "s1|a a"), 6)])  # fmt: skip
def test_kestra_replay_counts_in_a_nested_loop(chosen, kept) -> None:
    spec = parse_flow((CORPUS / "each-sequential-nested.yaml").read_text())
    runs: list[Run] = [Run("each", "1_each")]
    for outer in ("s1", "s2", "s3"):
        runs.append(Run(f"1-1|{outer}", "1-1_return", "each"))
        runs.append(Run(f"1-2_each|{outer}", "1-2_each", "each"))
        for inner in ("a a", "b b"):
            for task in ("1-2-1_return", "1-2-2_return"):
                runs.append(Run(f"{task}|{outer}|{inner}", task, f"1-2_each|{outer}"))
        runs.append(Run(f"1-3|{outer}", "1-3_return", "each"))
    runs.append(Run("2", "2_return"))
    assert len(runs) == 23

    plan = replay_plan(spec, runs, "|".join(chosen))

    assert len(plan.keep) == kept
    assert "each" in plan.restart


def test_a_working_directory_started_again_runs_all_its_tasks_again() -> None:
    spec = flow(
        "  - id: wdir\n    type: io.kestra.plugin.core.flow.WorkingDirectory\n    tasks:\n"
        "      - id: one\n        type: io.kestra.plugin.scripts.shell.Commands\n"
        "        commands: [touch x]\n"
        "      - id: two\n        type: io.kestra.plugin.scripts.shell.Commands\n"
        "        commands: [cat x]\n"
    )
    runs = [Run("w", "wdir"), Run("r1", "one", "w"), Run("r2", "two", "w")]

    plan = replay_plan(spec, runs, "r2")

    assert plan.keep == ("w",)
    assert plan.restart == {"w"}
