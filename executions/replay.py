"""Which task runs a replay keeps: pure, over the flow spec and the original's task runs.

Kestra's rule, reproduced so that its replay tests hold: the replayed task run and the
task runs above it are started again (a runnable RESTARTED, a flowable RUNNING); every run
of a task that comes *after* the replayed one in the flow (its children, the tasks after it
in each enclosing sequence, the ``errors``/``finally`` of the enclosing blocks), every other
run of the replayed task and of the tasks above it, is dropped, so the engine plans them
again; everything else (what came before, branches running beside it) is kept as it ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from plugins.core.flow.working_directory import TYPE as WORKDIR

#: Flowables whose ``tasks`` run beside each other, not one after the other.
PARALLEL_TYPES = ("trellis.core.flow.Parallel", "trellis.core.flow.EachParallel")


def _descendants(task: Any) -> set[str]:
    return {t.id for t in task.walk()} - {task.id}


def _after(tasks: Sequence[Any], index: int) -> set[str]:
    return {t.id for later in tasks[index + 1 :] for t in later.walk()}


def _dag_dependents(block: Any, task_id: str) -> set[str]:
    """Tasks of a Dag that wait, directly or not, for ``task_id`` (with their children)."""
    depends: dict[str, list[str]] = dict(block.properties.get("dependsOn") or {})
    found, frontier = set(), {task_id}
    while frontier:
        frontier = {t for t, deps in depends.items() if set(deps) & frontier} - found
        found |= frontier
    children = {t.id: t for t in block.children.get("tasks", ())}
    return {x.id for t in found if t in children for x in children[t].walk()}


def successor_tasks(spec: Any, task_id: str) -> set[str]:
    """Ids of the tasks that come after ``task_id`` in the flow, its children included."""
    found: set[str] = set()

    def search(tasks: Sequence[Any], owner: Any, group: str) -> bool:
        for i, task in enumerate(tasks):
            if task.id == task_id:
                found.update(_descendants(task))
            elif not any(search(kids, task, name) for name, kids in task.children.items()):
                continue
            if owner is not None and owner.type == "trellis.core.flow.Dag" and group == "tasks":
                found.update(_dag_dependents(owner, task.id))
            elif owner is None or group != "tasks" or owner.type not in PARALLEL_TYPES:
                found.update(_after(tasks, i))
            if owner is not None and group == "tasks":
                for closing in ("errors", "finally"):
                    found.update(
                        t.id for top in owner.children.get(closing, ()) for t in top.walk()
                    )
            return True
        return False

    groups = (("tasks", spec.tasks), ("errors", spec.errors), ("finally", spec.finally_))
    for name, tasks in groups:
        if search(tasks, None, name):
            if name == "tasks":
                found.update(t.id for top in (*spec.errors, *spec.finally_) for t in top.walk())
            break
    found.update(t.id for top in spec.after_execution for t in top.walk())
    return found


def _type(spec: Any, task_id: str) -> str:
    try:
        return str(spec.task(task_id).type)
    except KeyError:  # a task a template brought that the template no longer has
        return ""


@dataclass(frozen=True)
class ReplayPlan:
    #: Ids of the original task runs copied into the replay, in their order.
    keep: tuple[str, ...]
    #: Of those, the replayed run and the runs above it: started again.
    restart: frozenset[str]


def replay_plan(spec: Any, runs: Iterable[Any], chosen_id: str) -> ReplayPlan:
    """``runs``: the original's task runs (``id``, ``task_id``, ``parent_id``), in order."""
    ordered = list(runs)
    by_id = {r.id: r for r in ordered}
    chosen = by_id[chosen_id]
    restart, parent = {chosen.id}, chosen.parent_id
    while parent:
        restart.add(parent)
        parent = by_id[parent].parent_id
    dropped_tasks = successor_tasks(spec, chosen.task_id) | {by_id[r].task_id for r in restart}
    # A WorkingDirectory started again runs all its tasks again: its folder does not carry
    # over to a new execution (Kestra drops its children too).
    folders = {r for r in restart if _type(spec, by_id[r].task_id) == WORKDIR}
    keep = tuple(
        r.id
        for r in ordered
        if (r.id in restart or r.task_id not in dropped_tasks) and r.parent_id not in folders
    )
    return ReplayPlan(keep=keep, restart=frozenset(restart) & set(keep))
