"""Whatever dies, nothing is lost and nothing runs twice beyond what retries allow.

Each scenario submits a mixed workload, kills processes at random while it runs, restarts
them, and checks invariants from the database afterwards. Sizes are bounded by
TRELLIS_CHAOS_EXECUTIONS (default 40) so CI stays fast; raise it to soak.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.services import execution_create
from executions.states import TERMINAL, State
from flows.services import flow_deploy
from tests.chaos.conftest import EXECUTORS, TASK_WORKERS

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
SIZE = int(os.environ.get("TRELLIS_CHAOS_EXECUTIONS", "40"))


def workload(effects) -> list:  # noqa: ANN001
    shell = flow_deploy(
        source=f"""
id: effect
namespace: chaos
tasks:
  - id: append
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep 0.3
      - echo "{{{{ taskrun.id }}}}:{{{{ taskrun.attemptsCount }}}}" >> {effects}
"""
    ).flow
    nap = flow_deploy(
        source="""
id: nap
namespace: chaos
tasks:
  - id: par
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: a
        type: io.kestra.plugin.core.flow.Sleep
        duration: PT0.5S
      - id: b
        type: io.kestra.plugin.core.debug.Return
        format: b
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: done
"""
    ).flow
    child = flow_deploy(
        source="id: child\nnamespace: chaos\ntasks:\n  - id: c\n"
        "    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT0.2S\n"
    ).flow
    parent = flow_deploy(
        source="id: parent\nnamespace: chaos\ntasks:\n  - id: call\n"
        "    type: io.kestra.plugin.core.flow.Subflow\n    namespace: chaos\n    flowId: child\n"
    ).flow
    return [shell, nap, parent, child]


def wait_all_terminal(ids: list[str], timeout: float) -> list[Execution]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Execution.objects.filter(id__in=ids))
        if all(r.state in TERMINAL for r in rows):
            return rows
        time.sleep(0.5)
    stuck = Execution.objects.filter(id__in=ids).exclude(state__in=[str(s) for s in TERMINAL])
    pytest.fail(
        f"{stuck.count()} executions not terminal: {list(stuck.values_list('id', 'state'))[:5]}"
    )


def check_invariants(executions: list[Execution], effects) -> None:  # noqa: ANN001
    assert {e.state for e in executions} == {State.SUCCESS}, Counter(e.state for e in executions)
    runs = TaskRun.objects.filter(execution__in=executions)
    for run in runs.filter(task_id__in=["append", "a", "b", "c", "last"]):
        attempts = list(run.attempt_rows.order_by("number"))
        assert [a.state for a in attempts][-1] == State.SUCCESS
        assert all(a.note.startswith("lease expired") for a in attempts[:-1]), run.id
    keys = [(r.execution_id, r.parent_id, r.task_id, r.value) for r in runs]
    assert len(keys) == len(set(keys)), "a task run was created twice"
    lines = Counter(effects.read_text().split()) if effects.exists() else Counter()
    for run in runs.filter(task_id="append"):
        # attemptsCount counts the attempts before the running one, from 0.
        assert lines[f"{run.id}:{run.attempts - 1}"] == 1, f"effect of {run.id} not exactly once"


def chaos_run(fleet, tmp_path, victims: tuple[str, ...], queues: str, kills: int) -> None:  # noqa: ANN001
    effects = tmp_path / "effects.txt"
    flows = workload(effects)
    ids = [execution_create(flow=flows[i % 3]).id for i in range(SIZE)]
    rng = random.Random(7)
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 1.5))
        victim = rng.choice(victims)
        fleet.kill(victim, signal.SIGKILL)
        fleet.start_worker(victim, queues, concurrency=2)
    executions = wait_all_terminal(ids, timeout=90)
    check_invariants(executions, effects)


def test_task_workers_sigkilled_under_load(fleet, tmp_path) -> None:
    chaos_run(fleet, tmp_path, TASK_WORKERS, "default", kills=4)
    assert TaskRunAttempt.objects.filter(note__startswith="lease expired").exists()


def test_executors_sigkilled_under_load(fleet, tmp_path) -> None:
    chaos_run(fleet, tmp_path, EXECUTORS, "executor", kills=4)
