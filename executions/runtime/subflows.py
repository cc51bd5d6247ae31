"""Executions inside executions: Subflow children, and the Resume task reaching another.

They need the database, so the pure engine only asks for them (``StartSubflow``,
``ResumeExecution``); Template expansion lives with the flow loading (``runtime.loading``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from executions.errors import ExecutionError
from executions.models import Execution, TaskRun, TaskRunAttempt
from executions.runtime.children import (
    CORRELATION_LABEL,
    SUBFLOW_OWNER,
    SUBFLOW_REACH,
    end_run,
    failed_attempt,
    flow_not_found,
)
from executions.runtime.loading import execution_flow_spec
from executions.runtime.persistence import load_snapshot
from executions.runtime.ports import use_cases
from executions.runtime.subflow_items import item_subflow_ended
from flows.models import Flow
from kernel.clock import now
from kernel.engine.context import expression_context
from kernel.engine.plan import ResumeExecution, StartSubflow
from kernel.engine.planner import all_tasks
from kernel.expressions.render import render_value
from kernel.inputs import InputsError
from kernel.spec.model import FlowSpec
from kernel.states import State
from namespaces.boundaries import Boundary, BoundaryRefused
from plugins.core.flow.for_each_item import ForEachItem
from plugins.core.flow.subflow import Subflow

log = logging.getLogger(__name__)


def boundary_warnings(spec: FlowSpec) -> list[tuple[str, str]]:
    """A deploy warning per Subflow or ForEachItem naming, literally, a namespace that does
    not allow this flow's (issue 21): the task would fail at every run."""

    starters = {Subflow.type, ForEachItem.type}
    boundary = Boundary(spec.namespace)
    found: list[tuple[str, str]] = []
    for task in (t for group in (spec.tasks, spec.errors, spec.finally_) for top in group
                 for t in top.walk()):  # fmt: skip
        target = task.properties.get("namespace") if task.type in starters else None
        if not isinstance(target, str) or "{{" in target or "{%" in target:
            continue
        if not boundary.allows(target):
            found.append((
                f"tasks.{task.id}",
                f"task {task.id!r} will fail: namespace {target!r} does not allow flows of "
                f"{spec.namespace!r} to {SUBFLOW_REACH}",
            ))  # fmt: skip
    return found


def start_subflow(parent: Execution, start: StartSubflow) -> None:
    """Create the child execution (in the parent's transaction) and link both ways.
    (ForEachItem's ``StartItemSubflows`` has its own applier: ``start_item_subflows``.)"""

    run = TaskRun.objects.select_for_update().get(pk=start.task_run_id)
    run.decision = {**run.decision, "wait": start.wait, "transmitFailed": start.transmit_failed}
    run.save(update_fields=["decision"])
    try:  # before the lookup: a refused namespace does not say which flows it holds
        Boundary(parent.namespace).check(start.namespace, SUBFLOW_REACH)
    except BoundaryRefused as exc:
        failed_attempt(run, f"cannot start subflow {start.namespace}.{start.flow_id}: {exc}")
        return
    flow = (
        Flow.objects.live().filter(namespace__name=start.namespace, flow_id=start.flow_id).first()
    )
    if flow is None:
        failed_attempt(run, flow_not_found(start))
        return
    trigger = {
        "id": run.task_id,
        "type": "io.kestra.plugin.core.flow.Subflow",
        "variables": {
            "executionId": parent.id, "namespace": parent.namespace,
            "flowId": parent.flow_id, "flowRevision": parent.flow_revision,
        },
    }  # fmt: skip
    try:
        with transaction.atomic():
            labels = dict(start.labels)
            if CORRELATION_LABEL in (parent.labels or {}):  # the chain keeps one correlation id
                labels[CORRELATION_LABEL] = parent.labels[CORRELATION_LABEL]
            child = use_cases().create_execution(
                flow=flow, inputs=start.inputs, labels=labels, revision=start.revision,
                trigger=trigger, parent=(parent, run.id),
            )  # fmt: skip
    except (InputsError, ExecutionError) as exc:
        failed_attempt(run, f"cannot start subflow {flow}: {exc}")
        return
    run.outputs = {"executionId": child.id}
    run.attempts += 1
    run.save(update_fields=["outputs", "attempts"])
    # The child execution is this task run's attempt (no lease: no worker runs it).
    TaskRunAttempt.objects.create(
        task_run=run, execution_id=parent.id, number=run.attempts, state=State.RUNNING,
        owner=f"{SUBFLOW_OWNER}{child.id}", started_at=now(), sent_at=now(),
    )  # fmt: skip
    if not start.wait:
        end_run(run, State.SUCCESS, {"executionId": child.id})


def subflow_ended(child: Execution) -> None:
    """A child execution ended: end the parent's Subflow task run and wake the parent."""
    if not child.parent_execution_id or not child.parent_task_run_id:
        return
    with transaction.atomic():
        run = TaskRun.objects.select_for_update().filter(pk=child.parent_task_run_id).first()
        if run is None or run.state != State.RUNNING:
            return
        if run.decision.get("forEachItem"):
            item_subflow_ended(run, child)
            return
        state = State(child.state)
        if state not in (State.SUCCESS, State.WARNING):
            state = State.FAILED if run.decision.get("transmitFailed", True) else State.SUCCESS
        outputs = dict(child.outputs or {})
        message = ""
        try:
            outputs.update(_declared_outputs(child, run))
        except Exception as exc:  # noqa: BLE001 - any render failure fails the Subflow task
            state, message = State.FAILED, f"cannot render the subflow outputs: {exc}"
        end_run(
            run, state, {"executionId": child.id, "state": child.state, "outputs": outputs},
            message,
        )  # fmt: skip


def _declared_outputs(child: Execution, run: TaskRun) -> dict[str, Any]:
    """The deprecated Subflow ``outputs:`` property, rendered in the child's context."""

    parent = Execution.objects.get(pk=run.execution_id)
    task = next((t for t in all_tasks(execution_flow_spec(parent)) if t.id == run.task_id), None)
    declared = (task.properties.get("outputs") if task else None) or {}
    if not declared:
        return {}
    context = expression_context(execution_flow_spec(child), load_snapshot(child))
    return dict(render_value(dict(declared), context))


def resume_other(action: ResumeExecution) -> None:
    """The Resume task: resume another paused execution, then end the task run."""

    run = TaskRun.objects.select_for_update().get(pk=action.task_run_id)
    target = Execution.objects.filter(pk=action.execution_id).first()
    if target is None:
        end_run(run, State.FAILED, {}, f"no execution {action.execution_id} to resume")
        return
    source = Execution.objects.values_list("namespace", flat=True).get(pk=run.execution_id)
    try:  # the Resume task reaches another execution: the same boundary as a Subflow
        Boundary(source).check(target.namespace, "resume its executions")
    except BoundaryRefused as exc:
        end_run(run, State.FAILED, {}, f"cannot resume {action.execution_id}: {exc}")
        return
    try:
        with transaction.atomic():
            use_cases().resume_execution(target, action.inputs)
    except (ExecutionError, InputsError) as exc:
        end_run(run, State.FAILED, {}, f"cannot resume {action.execution_id}: {exc}")
        return
    end_run(run, State.SUCCESS, {"executionId": action.execution_id})
