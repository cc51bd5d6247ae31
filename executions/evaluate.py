"""Evaluate an expression in a task run's context, as the task would see it (Kestra's
``POST /executions/{id}/eval/{taskRunId}``: debugging outputs without running anything).

The expression may call ``secret()``, ``kv()`` and ``read()`` like a task, so it needs
execute access on the namespace, and what comes back is masked as outputs are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.policy import Action, check
from executions.models import Execution
from executions.taint import shown_form

#: The longest expression accepted (expressions are not documents).
MAX_EXPRESSION = 64 * 1024


@dataclass(frozen=True)
class EvalResult:
    result: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"result": self.result, "error": self.error, "stackTrace": None}


def execution_eval(
    execution: Execution, task_run_id: str, expression: str, *, actor: Any = None
) -> EvalResult:
    """Render ``expression`` as text in the context of ``task_run_id``; a rendering error is
    the result's ``error`` (Kestra's wording), never an exception. Unknown task run:
    LookupError."""
    from executions.expr_io import ExecutionIO
    from executions.expressions import ExpressionError, render
    from executions.persistence import load_snapshot
    from executions.runtime import execution_flow_spec, task_run_context
    from executions.secrets import Masker

    check(actor, execution.namespace, Action.EXECUTE)
    if len(expression) > MAX_EXPRESSION:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION} characters")
    snap = load_snapshot(execution)
    run = next((r for r in snap.task_runs if r.id == task_run_id), None)
    if run is None:
        raise LookupError(f"execution {execution.id} has no task run {task_run_id}")
    spec = execution_flow_spec(execution)
    # The environment's secrets, and the SECRET inputs the render opens (``on_secret``).
    masker = Masker.from_environ()
    io = ExecutionIO(execution.namespace, execution.flow_id, execution.id, masker)
    try:
        task = spec.task(run.task_id)
    except KeyError:  # a task a template brought that the template no longer has
        task = None
    context = task_run_context(spec, snap, run, task, io)
    try:
        text = render(expression, context)
    except ExpressionError as exc:
        return EvalResult(result=None, error=masker.mask(str(exc)))
    # What the sandbox derived from a secret (executions.taint) is shown masked (issue 21).
    return EvalResult(result=masker.mask(shown_form(str(text))))
