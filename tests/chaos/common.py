"""What every chaos scenario shares: a deterministic mixed workload, waiting that survives a
database restart, the invariants (nothing lost, nothing doubled) as numbers, and a digest
of an execution's final state to compare a faulty run with a clean one."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.db.utils import DatabaseError, InterfaceError

from executions.models import Execution, LogEntry, TaskRun
from executions.services import execution_create
from flows.models import Flow
from flows.services import flow_deploy
from kernel.states import TERMINAL, State

#: CI's bounded size; raise it (e.g. 500, as issue 9 names) to soak.
SIZE = int(os.environ.get("TRELLIS_CHAOS_EXECUTIONS", "40"))
_ID = re.compile(r"\b[0-9a-f]{32}\b")
_DONE = [str(s) for s in TERMINAL]


def size(variable: str, default: int) -> int:
    """A scenario's load: CI's bounded default, or the full size a user asks for."""
    return int(os.environ.get(variable, str(default)))


def patience(executions: int) -> float:
    """How long a scenario waits for its executions: bounded sizes finish in well under a
    minute; the full sizes get time in proportion."""
    return 90 + executions * 0.5


def workload(effects: Path) -> list[Flow]:
    """Mixed flows whose final state depends only on their definition: a Shell task with a
    side effect (a line appended per attempt), Parallel + Sleep, ForEach, and a Subflow."""
    sources = [
        f"""
id: effect
namespace: chaos
tasks:
  - id: append
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep 0.3
      - echo "{{{{ taskrun.id }}}}:{{{{ taskrun.attemptsCount }}}}" >> {effects}
""",
        """
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
""",
        """
id: parent
namespace: chaos
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: chaos
    flowId: child
""",
        """
id: loop
namespace: chaos
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3]
    tasks:
      - id: item
        type: io.kestra.plugin.core.debug.Return
        format: "item {{ taskrun.value }}"
  - id: sum
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.item['2'].value }}"
""",
    ]
    flows = [flow_deploy(source=s).flow for s in sources]
    flow_deploy(
        source="id: child\nnamespace: chaos\ntasks:\n  - id: c\n"
        "    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT0.2S\n"
    )
    return flows


def submit(flows: list[Flow], count: int) -> list[str]:
    return [execution_create(flow=flows[i % len(flows)]).id for i in range(count)]


def resilient(query: Callable[[], Any], retry_for: float = 120.0) -> Any:
    """Run a read, reconnecting while the database restarts."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return query()
        except (DatabaseError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            connection.close()
            time.sleep(0.5)
        finally:
            close_old_connections()


def wait_all_terminal(
    ids: list[str], timeout: float, tick: Callable[[], object] | None = None
) -> float:
    """Wait until every execution is terminal; returns when that happened (monotonic).
    ``tick`` runs at every poll (e.g. a supervisor restarting what died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tick is not None:
            tick()
        left = resilient(lambda: Execution.objects.filter(id__in=ids).exclude(state__in=_DONE))
        if not resilient(left.exists):
            return time.monotonic()
        time.sleep(0.5)
    stuck = Execution.objects.filter(id__in=ids).exclude(state__in=_DONE)
    pytest.fail(f"{stuck.count()} not terminal: {list(stuck.values_list('id', 'state'))[:5]}")


def lost(ids: list[str], expected: State = State.SUCCESS) -> int:
    """Executions missing or not in their expected final state."""
    return len(ids) - Execution.objects.filter(id__in=ids, state=expected).count()


def duplicates(ids: list[str], effects: Path | None = None) -> int:
    """Things done twice: a task run created twice for one key, a subflow started twice by
    one task run, a successful attempt whose side effect shows more (or less) than once."""
    return sum(n for _, n in duplicate_details(ids, effects))


def duplicate_details(ids: list[str], effects: Path | None = None) -> list[tuple[str, int]]:
    """What :func:`duplicates` counts, each with a description to print when it fails."""
    executions = Execution.objects.filter(id__in=ids)
    tree = list(executions) + list(Execution.objects.filter(parent_execution__in=executions))
    runs = TaskRun.objects.filter(execution__in=tree)
    keys = Counter(runs.values_list("execution_id", "parent_id", "task_id", "value"))
    found = [(f"task run created {n} times: {key}", n - 1) for key, n in keys.items() if n > 1]
    children = Counter(
        Execution.objects.filter(parent_execution__in=executions).values_list(
            "parent_task_run_id", flat=True
        )
    )
    found += [(f"{n} children for task run {k}", n - 1) for k, n in children.items() if n > 1]
    if effects is not None:
        lines = Counter(effects.read_text().split()) if effects.exists() else Counter()
        for run in runs.filter(task_id="append", state=State.SUCCESS):
            # attemptsCount counts the attempts before the running one, from 0.
            seen = lines[f"{run.id}:{run.attempts - 1}"]
            if seen != 1:
                notes = list(run.attempt_rows.order_by("number").values_list("state", "note"))
                mine = sorted(k for k in lines if k.startswith(run.id))
                found.append(
                    (f"run {run.id} SUCCESS after {run.attempts} attempt(s) {notes}: its "
                     f"effect {run.attempts - 1} seen {seen} times (lines {mine})", abs(seen - 1))
                )  # fmt: skip
    return found


def retries_within_policy(ids: list[str]) -> None:
    """Without a retry policy, every attempt but the last was lost with its worker."""
    for run in TaskRun.objects.filter(execution__in=ids, attempts__gt=1):
        notes = list(run.attempt_rows.order_by("number").values_list("note", flat=True))[:-1]
        assert all(n.startswith("lease expired") for n in notes), (run.id, notes)


def canonical(value: Any) -> str:
    """JSON with ids blanked (they differ from run to run by design)."""
    return _ID.sub("<id>", json.dumps(value, sort_keys=True, default=str))


def digest(execution: Execution) -> str:
    """An execution's final state without ids or times: its state, inputs, outputs, every
    task run (path, state, attempts, outputs, attempt states), its subflows, its log lines
    counted per task and level. Two runs of one flow that went right have equal digests."""
    runs = {r.id: r for r in TaskRun.objects.filter(execution=execution)}

    def path(run: TaskRun) -> str:
        here = f"{run.task_id}[{run.value or ''}]"
        parent = runs.get(run.parent_id) if run.parent_id else None
        return f"{path(parent)}/{here}" if parent else here

    items = sorted(
        (path(r), r.state, r.attempts, canonical(r.outputs),
         [a.state for a in r.attempt_rows.order_by("number")])
        for r in runs.values()
    )  # fmt: skip
    logs = Counter(
        f"{task}:{level}"
        for task, level, message in LogEntry.objects.filter(execution=execution).values_list(
            "task_id", "level", "message"
        )
        if not message.startswith("lease expired")
    )
    children = sorted(digest(c) for c in Execution.objects.filter(parent_execution=execution))
    return canonical(
        [execution.flow_id, execution.state, execution.inputs, execution.outputs, items,
         sorted(logs.items()), children]
    )  # fmt: skip


def digests(ids: Iterable[str]) -> Counter[str]:
    return Counter(digest(e) for e in Execution.objects.filter(id__in=list(ids)))
