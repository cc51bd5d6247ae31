"""WorkingDirectory's declaration: only runnable tasks inside, Kestra's names, and its
``outputFiles`` taken from the last child that saved the folder."""

from __future__ import annotations

import pytest

from kernel.engine.snapshot import TaskRunSnapshot
from kernel.registry import registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from kernel.states import State
from plugins.core.flow.working_directory import SAVED, WorkingDirectory

FLOW = """id: w
namespace: a.b
tasks:
  - id: wdir
    type: io.kestra.plugin.core.flow.WorkingDirectory
    outputFiles: ["*.csv"]
    tasks:
      - id: one
        type: io.kestra.plugin.scripts.shell.Commands
        commands: [echo 1]
"""


@pytest.mark.parametrize(
    "name",
    ["io.kestra.plugin.core.flow.WorkingDirectory", "io.kestra.core.tasks.flows.WorkingDirectory",
     "io.kestra.core.tasks.flows.Worker"],
)  # fmt: skip
def test_kestra_names(name) -> None:
    assert registry.get(name) is WorkingDirectory


def test_only_runnable_tasks_may_sit_inside() -> None:
    source = FLOW + (
        "      - id: inner\n        type: io.kestra.plugin.core.flow.Sequential\n"
        "        tasks:\n          - id: l\n            type: io.kestra.plugin.core.log.Log\n"
        "            message: x\n"
    )
    with pytest.raises(SpecError) as caught:
        parse_flow(source)

    [problem] = caught.value.problems
    assert "only runnable tasks can run in a WorkingDirectory" in problem.message
    assert problem.path == "tasks[0].tasks[1].type"


class _Ctx:
    def __init__(self, runs):
        self._runs = runs

    def children(self, tasks=None, value=None):
        return self._runs


def _run(seq: int, outputs: dict) -> TaskRunSnapshot:
    return TaskRunSnapshot(
        id=f"r{seq}", task_id=f"t{seq}", parent_id="p", value=None, iteration=None,
        state=State.SUCCESS, outputs=outputs, seq=seq,
    )  # fmt: skip


def test_output_files_come_from_the_last_child_that_saved_the_folder() -> None:
    task = parse_flow(FLOW).tasks[0]
    runs = [
        _run(1, {SAVED: {"outputFiles": {"a.csv": "kestra:///1"}}}),
        _run(3, {SAVED: {"outputFiles": {"a.csv": "kestra:///3", "b.csv": "kestra:///b"}}}),
        _run(2, {"value": "a log task saves nothing"}),
    ]

    assert WorkingDirectory().outputs(task, _Ctx(runs)) == {
        "outputFiles": {"a.csv": "kestra:///3", "b.csv": "kestra:///b"}
    }
    assert WorkingDirectory().outputs(task, _Ctx([])) == {"outputFiles": {}}
