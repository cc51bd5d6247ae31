"""ForEachItem's children: one execution per batch, counted back on the ``<id>_items`` run.

``start_item_subflows`` runs in the executor's transaction (like ``start_subflow``): it reads
the batch URIs the split task wrote, renders the ``inputs`` once per batch (``taskrun.items``
is the batch's URI, ``taskrun.iteration`` its number) and creates every child at once, or
none. ``item_subflow_ended`` runs when a child ends: it keeps ``iterations`` (children by
state) up to date, stores the child's outputs for the merge task, and ends the run once the
last child has ended. Both hold the items run's row lock, so children ending together are
counted one after the other.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.db import transaction

from executions.errors import ExecutionError
from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime.children import CORRELATION_LABEL, SUBFLOW_REACH, end_run, flow_not_found
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.loading import execution_flow_spec, task_run_context
from executions.runtime.persistence import load_snapshot
from executions.runtime.ports import use_cases
from flows.models import Flow
from kernel.clock import now
from kernel.expressions.render import ExpressionError, render_value
from kernel.inputs import InputsError
from kernel.states import TERMINAL, State
from kernel.storage import StorageError, task_folder
from namespaces.boundaries import Boundary, BoundaryRefused
from orchestrator.storage import default_storage

#: The child's trigger type, Kestra's name for the internal task that starts them.
TRIGGER_TYPE = "io.kestra.plugin.core.flow.ForEachItem$ForEachItemExecutable"
#: Owner of the items run's attempt (its children are the work; no worker runs it).
ITEMS_OWNER = "for-each-item"
_FAILED = frozenset({State.FAILED, State.KILLED, State.CANCELLED})


def _batches(parent: Execution, run: TaskRun, split_task_id: str) -> list[str]:
    """The batch URIs the sibling split task listed in its ``splits`` file."""

    split = (
        TaskRun.objects.filter(execution_id=parent.id, parent_id=run.parent_id,
                               task_id=split_task_id)
        .order_by("-seq")
        .first()
    )  # fmt: skip
    uri = (split.outputs or {}).get("splits") if split is not None else None
    if not uri:
        raise LookupError(f"{split_task_id} wrote no list of batches")
    with default_storage().open(uri) as handle:
        text = handle.read().decode("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _context(parent: Execution, run: TaskRun) -> dict[str, Any]:
    """The expression context of the items run, as a worker would build it."""

    spec = execution_flow_spec(parent)
    snap = load_snapshot(parent)
    me = next(r for r in snap.task_runs if r.id == run.id)
    io = ExecutionIO(parent.namespace, parent.flow_id, parent.id)
    return task_run_context(spec, snap, me, spec.task(run.task_id), io)


def start_item_subflows(parent: Execution, start: Any) -> None:
    """Create one child execution per batch (caller: the executor, in its transaction)."""

    run = TaskRun.objects.select_for_update().get(pk=start.task_run_id)
    run.decision = {**run.decision, "forEachItem": True, "wait": start.wait,
                    "transmitFailed": start.transmit_failed}  # fmt: skip
    run.attempts += 1
    run.save(update_fields=["decision", "attempts"])
    moment = now()
    TaskRunAttempt.objects.create(
        task_run=run, execution_id=parent.id, number=run.attempts, state=State.RUNNING,
        owner=ITEMS_OWNER, started_at=moment, sent_at=moment,
    )  # fmt: skip
    try:  # before reading anything: a refused namespace does not say which flows it holds
        Boundary(parent.namespace).check(start.namespace, SUBFLOW_REACH)
    except BoundaryRefused as exc:
        name = f"{start.namespace}.{start.flow_id}"
        end_run(run, State.FAILED, {}, f"cannot start subflow {name}: {exc}")
        return
    try:
        batches = _batches(parent, run, start.split_task_id)
    except (LookupError, StorageError, OSError, UnicodeDecodeError) as exc:
        end_run(run, State.FAILED, {}, f"cannot read the batches: {exc}")
        return
    if not batches:
        end_run(run, State.SUCCESS, {})  # nothing to run: no outputs, as in Kestra
        return
    flow = (
        Flow.objects.live().filter(namespace__name=start.namespace, flow_id=start.flow_id).first()
    )
    if flow is None:
        end_run(run, State.FAILED, {}, flow_not_found(start))
        return
    labels = dict(start.labels)
    if start.inherit_labels:
        inherited = {k: v for k, v in (parent.labels or {}).items() if not k.startswith("system.")}
        labels = {**inherited, **labels}
    if CORRELATION_LABEL in (parent.labels or {}):
        labels[CORRELATION_LABEL] = parent.labels[CORRELATION_LABEL]
    context = _context(parent, run)
    iteration = 0
    try:
        with transaction.atomic():
            for iteration, uri in enumerate(batches):
                taskrun = {**context.get("taskrun", {}), "items": uri, "iteration": iteration}
                inputs = render_value(dict(start.inputs), {**context, "taskrun": taskrun})
                trigger = {
                    "id": run.task_id,
                    "type": TRIGGER_TYPE,
                    "variables": {
                        "executionId": parent.id, "namespace": parent.namespace,
                        "flowId": parent.flow_id, "flowRevision": parent.flow_revision,
                        "iteration": iteration,
                    },
                }  # fmt: skip
                use_cases().create_execution(
                    flow=flow, inputs=inputs, labels=labels, revision=start.revision,
                    trigger=trigger, parent=(parent, run.id),
                )  # fmt: skip
    except (InputsError, ExecutionError, ExpressionError) as exc:
        end_run(run, State.FAILED, {}, f"cannot start subflow {flow} for batch {iteration}: {exc}")
        return
    count = len(batches)
    run.outputs = {"numberOfBatches": count,
                   "iterations": {"CREATED": count, "RUNNING": 0, "SUCCESS": 0}}  # fmt: skip
    run.save(update_fields=["outputs"])
    if not start.wait:
        end_run(run, State.SUCCESS, run.outputs)


def _outputs_base(parent_id: str, run: TaskRun) -> str:
    """Where each child's outputs go: ``<run's folder>/<iteration>/outputs.json``."""

    parent = Execution.objects.values("namespace", "flow_id").get(pk=parent_id)
    prefix = default_storage().execution_prefix(parent["namespace"], parent["flow_id"], parent_id)
    return f"{prefix}tasks/{task_folder(run.task_id)}/{run.id}"


def _iteration(child: Execution) -> int | None:
    trigger = child.trigger or {}
    if trigger.get("type") != TRIGGER_TYPE:
        return None
    iteration = (trigger.get("variables") or {}).get("iteration")
    return None if iteration is None else int(iteration)


def store_item_outputs(child: Execution) -> None:
    """Write a ForEachItem child's outputs where the merge reads them, in the transaction
    that ends the child (caller: the executor). Written there, not by the ended hook, the
    file exists before the child is seen as ended: two children ending together must not
    let the hook of one end the items run while the other's file is still missing."""

    iteration = _iteration(child)
    if not child.outputs or iteration is None or not child.parent_task_run_id:
        return
    run = TaskRun.objects.filter(pk=child.parent_task_run_id).first()
    if run is None:
        return
    data = json.dumps(child.outputs, default=str).encode()
    base = _outputs_base(run.execution_id, run)
    default_storage().put(f"{base}/{iteration}/outputs.json", data)


def item_subflow_ended(run: TaskRun, child: Execution) -> None:
    """A child ended (caller holds ``run``'s row lock, ``run`` is RUNNING)."""

    outputs = dict(run.outputs or {})
    if child.outputs and _iteration(child) is not None:
        outputs["uri"] = _outputs_base(run.execution_id, run)  # written by store_item_outputs
    states = Counter(
        State(s) for s in Execution.objects.filter(parent_task_run_id=run.id)
        .values_list("state", flat=True)
    )  # fmt: skip
    ended = {s: n for s, n in states.items() if s in TERMINAL}
    waiting = sum(n for s, n in states.items() if s not in TERMINAL)
    created = states.get(State.CREATED, 0) + states.get(State.QUEUED, 0)
    outputs["iterations"] = {
        "CREATED": created,
        "RUNNING": waiting - created,
        **{"SUCCESS": 0},
        **{str(s): n for s, n in ended.items()},
    }
    total = int(outputs.get("numberOfBatches") or sum(states.values()))
    if sum(ended.values()) < total:
        run.outputs = outputs
        run.save(update_fields=["outputs"])
        return
    if any(s in _FAILED for s in ended):
        state = State.FAILED if run.decision.get("transmitFailed", True) else State.SUCCESS
    elif State.WARNING in ended:
        state = State.WARNING
    else:
        state = State.SUCCESS
    end_run(run, state, outputs)
