"""The variables a flow's expressions see, built from plain snapshot data (pure).

The executor uses it to render ``runIf`` and flowable properties; the worker uses it to
render a runnable task's properties. Both get exactly the same view of an execution.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kernel.engine.snapshot import BY_SEQ, ExecutionSnapshot, TaskRunSnapshot
from kernel.inputs import open_secret_inputs, secret_input_ids
from kernel.secrets import SecretUnreadable, open_secret
from kernel.taint import SecretText, fragments, unseal

if TYPE_CHECKING:
    from kernel.spec.model import FlowSpec, TaskSpec


def iso(moment: datetime | None) -> str | None:
    """Kestra prints instants as ISO-8601 with milliseconds and a ``Z``."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def loop_path(run: TaskRunSnapshot, by_id: Mapping[str, TaskRunSnapshot]) -> list[str]:
    """Loop values from the outermost loop to this run: the keys of its outputs entry."""
    path: list[str] = []
    current: TaskRunSnapshot | None = run
    while current is not None:
        if current.iteration is not None and current.value is not None:
            path.append(current.value)
        current = by_id.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return path


def outputs_tree(snap: ExecutionSnapshot) -> dict[str, Any]:
    """``outputs.<task>`` (or ``outputs.<task>.<value>...`` inside loops) for every task run
    that has outputs, latest run winning."""
    by_id = {r.id: r for r in snap.task_runs}
    tree: dict[str, Any] = {}
    for run in sorted(snap.task_runs, key=BY_SEQ):
        if not run.outputs and run.task_id in tree:
            continue
        path = loop_path(run, by_id)
        if not path:
            tree[run.task_id] = dict(run.outputs)
            continue
        node = tree.setdefault(run.task_id, {})
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = dict(run.outputs)
    return tree


def _parents(run: TaskRunSnapshot | None, by_id: Mapping[str, TaskRunSnapshot]) -> list[dict]:
    """``parents`` innermost first: every enclosing flowable's task run and outputs."""
    out: list[dict] = []
    current = by_id.get(run.parent_id) if run and run.parent_id else None
    while current is not None:
        taskrun = {"id": current.id, "value": current.value, "iteration": current.iteration}
        out.append({"taskrun": taskrun, "outputs": dict(current.outputs)})
        current = by_id.get(current.parent_id) if current.parent_id else None
    return out


def nested_labels(labels: Mapping[str, str]) -> dict[str, Any]:
    """Labels by key, and dotted keys also as nested maps, so both
    ``labels['system.correlationId']`` and ``labels.system.correlationId`` work."""
    out: dict[str, Any] = dict(labels)
    for key, value in labels.items():
        if "." not in key:
            continue
        node = out
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                if child is not None:
                    break  # a plain label already holds this name: keep it
                child = node[part] = {}
            node = child
        else:
            node.setdefault(last, value)
    return out


def expression_context(
    flow: FlowSpec,
    snap: ExecutionSnapshot,
    *,
    run: TaskRunSnapshot | None = None,
    task: TaskSpec | None = None,
    envs: Mapping[str, str] | None = None,
    globals_: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``{{ }}`` can name while ``run`` of ``task`` is planned or runs."""
    by_id = {r.id: r for r in snap.task_runs}
    ctx: dict[str, Any] = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": snap.flow_revision},
        "execution": {
            "id": snap.id,
            "startDate": iso(snap.started_at),
            "state": str(snap.state),
            "originalId": snap.id,
        },
        "outputs": outputs_tree(snap),
        "vars": dict(flow.variables),
        "labels": nested_labels(snap.labels),
        # A Flow trigger hands over the outputs of the execution it watched: sealed ones open.
        "trigger": unseal(dict((snap.trigger or {}).get("variables") or {})),
        "envs": dict(envs or {}),
        "globals": dict(globals_ or {}),
    }
    if snap.inputs:  # as in Kestra, a flow run without inputs has no `inputs` variable
        ctx["inputs"] = _open_inputs(flow, snap.inputs, (extra or {}).get("_trellis"))
    if task is not None:
        ctx["task"] = {"id": task.id, "type": task.raw_type}
    if run is not None:
        ctx["taskrun"] = {
            "id": run.id,
            "startDate": iso(run.started_at),
            # Attempts before this one (Kestra counts from 0: the first attempt sees 0).
            "attemptsCount": max(run.attempts - 1, 0),
            "parentId": run.parent_id,
            "value": run.value,
            "iteration": run.iteration,
        }
        parents = _parents(run, by_id)
        if parents:
            ctx["parents"] = parents
            ctx["parent"] = parents[0]
    if extra:
        ctx.update(extra)
    return ctx


def _open_inputs(flow: FlowSpec, inputs: Mapping[str, Any], io: Any) -> dict[str, Any]:
    """The inputs with SECRET ones decrypted (they are stored sealed) and marked secret, as
    are values sealed because they came from a secret (a Subflow's input set from
    ``secret()``, kernel.taint); each clear value is handed to the render's
    ``on_secret`` hook so the worker masks it in logs."""

    inputs = unseal(inputs)
    hook = getattr(io, "on_secret", None)
    if callable(hook):
        for fragment in fragments(inputs):
            hook(fragment)
    if not secret_input_ids(flow.inputs):
        return dict(inputs)

    def opener(value: Any) -> Any:
        try:
            opened = open_secret(value)
        except SecretUnreadable as exc:
            logging.getLogger(__name__).warning("%s", exc)
            return value
        return SecretText(opened) if isinstance(opened, str) else opened

    opened, clear = open_secret_inputs(inputs, flow.inputs, opener)
    for value in clear:
        if callable(hook):
            hook(value)
    return opened
