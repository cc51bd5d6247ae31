"""Which task runs a replay keeps: pure, over the flow spec and the original's task runs.

Kestra decides it on the execution's graph (``GraphUtils.successors``): every task run is a
node, the replayed run and the runs above it are started again (a runnable RESTARTED, a
flowable RUNNING), and every run reachable from the replayed one is dropped, so the engine
plans it again; the rest is kept as it ended. This module walks the same graph without
building it, one level at a time from the replayed run up to the flow:

* the replayed run's descendants come after it;
* inside a block that runs its tasks one after the other (the flow, Sequential, If, Switch,
  EachSequential, WorkingDirectory...), the graph lists each task's runs in turn, so what
  comes after a run is the later runs of the same task under the same parent and every run
  of the later tasks, with their descendants: an earlier iteration of a loop is kept, a later
  one dropped (issue 22);
* inside Parallel, EachParallel and ForEach (Kestra draws ForEach's iterations side by
  side whatever its ``concurrencyLimit``) a branch has no successor among its siblings;
* in a Dag, the tasks that depend on it, directly or not;
* after the main tasks of a block come its ``errors`` and its ``finally``, after the errors
  its ``finally``, and after the flow's tasks its ``afterExecution``.

A WorkingDirectory started again loses all its runs: its folder does not carry over to a new
execution (Kestra drops its children too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kernel.registry import registry

#: The closing groups of a block, in the order they run after its main tasks.
CLOSING = ("errors", "finally")


@dataclass(frozen=True)
class ReplayPlan:
    #: Ids of the original task runs copied into the replay, in their order.
    keep: tuple[str, ...]
    #: Of those, the replayed run and the runs above it: started again.
    restart: frozenset[str]


def _task(spec: Any, task_id: str) -> Any | None:
    try:
        return spec.task(task_id)
    except KeyError:  # a task a template brought that the template no longer has
        return None


def _flowable_attr(task: Any | None, name: str, default: Any) -> Any:
    """What the task's plugin type declares about its children (the contract's class
    attributes), or ``default`` for the flow itself and for types no longer installed."""
    if task is None:
        return default
    try:
        return getattr(registry.get(str(task.type)), name, default)
    except LookupError:
        return default


def _groups(spec: Any, owner: Any | None) -> dict[str, Sequence[Any]]:
    """The lists of tasks a block holds: the flow's or a flowable's children, by name."""
    if owner is None:
        return {
            "tasks": spec.tasks,
            "errors": spec.errors,
            "finally": spec.finally_,
            "afterExecution": spec.after_execution,
        }
    return dict(owner.children)


def _dag_dependents(owner: Any, task_id: str) -> set[str]:
    """Tasks of a Dag that wait, directly or not, for ``task_id``."""
    depends: Mapping[str, list[str]] = dict(owner.properties.get("dependsOn") or {})
    found, frontier = set(), {task_id}
    while frontier:
        frontier = {t for t, deps in depends.items() if set(deps) & frontier} - found
        found |= frontier
    return found


def _later_in_block(spec: Any, owner: Any | None, task_id: str) -> tuple[set[str], bool]:
    """Ids of the tasks of ``owner``'s block that come after ``task_id`` (not their children),
    and whether the later runs of ``task_id`` itself come after it too."""
    groups = _groups(spec, owner)
    name = next((n for n, ts in groups.items() if any(t.id == task_id for t in ts)), None)
    if name is None:
        return set(), False
    tasks = list(groups[name])
    index = next(i for i, t in enumerate(tasks) if t.id == task_id)
    layout = _flowable_attr(owner, "children_layout", "sequence")
    main = name not in (*CLOSING, "afterExecution")
    if main and layout == "dag":
        later, chained = _dag_dependents(owner, task_id), False
    elif main and layout == "parallel":
        later, chained = set(), False
    else:
        later, chained = {t.id for t in tasks[index + 1 :]}, True
    # After the main tasks come errors then finally; after errors, finally.
    closing = list(CLOSING[CLOSING.index(name) + 1 :]) if name in CLOSING else []
    if main:
        closing = list(CLOSING)
    if owner is None and name != "afterExecution":
        closing.append("afterExecution")
    later |= {t.id for group in closing for t in groups.get(group, ())}
    return later, chained


def replay_plan(spec: Any, runs: Iterable[Any], chosen_id: str) -> ReplayPlan:
    """``runs``: the original's task runs (``id``, ``task_id``, ``parent_id``), in order."""
    ordered = list(runs)
    by_id = {r.id: r for r in ordered}
    position = {r.id: i for i, r in enumerate(ordered)}
    kids: dict[str | None, list[Any]] = {}
    for run in ordered:
        kids.setdefault(run.parent_id if run.parent_id in by_id else None, []).append(run)

    def subtree(run: Any) -> set[str]:
        found, todo = set(), [run]
        while todo:
            for child in kids.get(todo.pop().id, ()):
                found.add(child.id)
                todo.append(child)
        return found

    chosen = by_id[chosen_id]
    restart, node = {chosen.id}, chosen
    dropped = subtree(chosen)
    while True:
        parent = by_id.get(node.parent_id) if node.parent_id else None
        owner = _task(spec, parent.task_id) if parent is not None else None
        later, chained = set(), False  # a block gone from the flow: keep what it ran
        if parent is None or owner is not None:
            later, chained = _later_in_block(spec, owner, node.task_id)
        for sibling in kids.get(parent.id if parent is not None else None, ()):
            after_itself = chained and sibling.task_id == node.task_id
            if sibling.task_id in later or (
                after_itself and position[sibling.id] > position[node.id]
            ):
                dropped |= {sibling.id} | subtree(sibling)
        if parent is None:
            break
        restart.add(parent.id)
        node = parent
    emptied: set[str] = set()  # a WorkingDirectory started again runs all its tasks again
    for run_id in restart:
        task = _task(spec, by_id[run_id].task_id)
        if _flowable_attr(task, "replay_restarts_children", False):
            emptied |= subtree(by_id[run_id])
    keep = tuple(
        r.id for r in ordered if (r.id in restart or r.id not in dropped) and r.id not in emptied
    )
    return ReplayPlan(keep=keep, restart=frozenset(restart) - emptied)
