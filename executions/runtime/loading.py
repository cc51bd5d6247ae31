"""What the runtime loads for an execution: its flow spec (templates expanded, cached per
process), the environment the engine sees, a task run's expression context and the
executor's expression budget. Shared by the executor, the worker, the subflow runtime and
the flow triggers, below all of them.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from django.conf import settings

from executions.models import Execution
from executions.runtime.expr_io import ExecutionIO
from flows.selectors import flow_revision_spec
from kernel.engine import planner as engine
from kernel.engine.context import expression_context
from kernel.engine.snapshot import TaskRunSnapshot
from kernel.expressions.limits import expression_budget
from kernel.expressions.render import IO_KEY
from kernel.lru import LRU
from kernel.secrets import env_vars
from kernel.spec.model import FlowSpec, TaskSpec
from plugins.core.flow.template import MISSING
from templates.models import Template
from templates.selectors import template_spec

TEMPLATE_TYPE = "trellis.core.flow.Template"
MAX_TEMPLATE_DEPTH = 5

#: Flow specs by execution, so a hop of an execution this process has seen before reads no
#: flow row and parses nothing (docs/architecture.md, "Flow spec cache").
_specs: LRU[tuple[Any, ...], FlowSpec] = LRU(maxsize=512)


def execution_flow_spec(execution: Execution) -> FlowSpec:
    """The revision of the flow this execution runs (even if the flow was deleted since),
    with its Template tasks expanded.

    An execution runs one revision for its whole life and a revision's source never changes,
    so the spec is kept per process, keyed by the execution (its id and creation time: a
    test database that reuses an id never reuses both) and the revision. A flow that uses
    Template tasks is read again every time: editing a template reaches running executions.
    """
    key = (execution.id, execution.created_at, execution.namespace, execution.flow_id,
           execution.flow_revision)  # fmt: skip
    spec = _specs.get(key)
    if spec is not None:
        return spec
    parsed = flow_revision_spec(execution.namespace, execution.flow_id, execution.flow_revision)
    spec = expand_templates(parsed)
    if spec is parsed:  # nothing came from a template
        _specs.put(key, spec)
    return spec


def engine_env() -> engine.EngineEnv:
    return engine.EngineEnv(envs=env_vars(), globals=json.loads(settings.TRELLIS_GLOBALS or "{}"))


def task_run_context(
    spec: FlowSpec, snap: Any, run: TaskRunSnapshot, task: Any, io: ExecutionIO
) -> dict[str, Any]:
    """What ``{{ }}`` sees for ``run`` of ``task`` outside the engine (a worker, the items
    runtime, the eval endpoint): the engine's context plus the environment's ``envs`` and
    globals and the execution's I/O (``read``, ``kv``, ``secret``)."""
    env = engine_env()
    return expression_context(
        spec, snap, run=run, task=task, envs=env.envs, globals_=env.globals, extra={IO_KEY: io}
    )


def executor_budget() -> AbstractContextManager[Any]:
    """The budget of the expressions one executor step renders under its lock (issue 21)."""
    return expression_budget(
        settings.TRELLIS_EXECUTOR_STEP_SECONDS,
        per_expression=settings.TRELLIS_EXECUTOR_EXPRESSION_SECONDS,
        message=(
            "the executor's time budget for flowable expressions "
            f"({settings.TRELLIS_EXECUTOR_EXPRESSION_SECONDS:g} s each, "
            f"{settings.TRELLIS_EXECUTOR_STEP_SECONDS:g} s a step) is spent"
        ),
    )


def _expand(task: TaskSpec, depth: int) -> TaskSpec:
    children = {k: tuple(_expand(t, depth) for t in v) for k, v in task.children.items()}
    task = replace(task, children=children) if children != dict(task.children) else task
    if task.type != TEMPLATE_TYPE:
        return task
    ns, tid = task.properties.get("namespace"), task.properties.get("templateId")
    found = Template.objects.filter(namespace__name=ns, template_id=tid).first() if ns else None
    if found is None or depth >= MAX_TEMPLATE_DEPTH:
        # Kestra's wording, which its tests and users' log alerts match (issue 22).
        why = (
            f"Can't find flow template '{ns}.{tid}'" if found is None else "templates nest too deep"
        )
        return replace(task, properties={**task.properties, MISSING: why})
    spec = template_spec(found)
    return replace(
        task,
        children={
            "tasks": tuple(_expand(t, depth + 1) for t in spec.tasks),
            "errors": tuple(_expand(t, depth + 1) for t in spec.errors),
        },
    )


def expand_templates(spec: FlowSpec) -> FlowSpec:
    """The flow with every Template task's children filled from its template."""
    if not any(t.type == TEMPLATE_TYPE for g in (spec.tasks, spec.errors, spec.finally_)
               for task in g for t in task.walk()):  # fmt: skip
        return spec
    return replace(
        spec,
        tasks=tuple(_expand(t, 0) for t in spec.tasks),
        errors=tuple(_expand(t, 0) for t in spec.errors),
        finally_=tuple(_expand(t, 0) for t in spec.finally_),
    )
