"""Evaluate an expression in a task run's context, as the task would see it (Kestra's
``POST /executions/{id}/eval/{taskRunId}``: debugging outputs without running anything).

The expression may call ``kv()`` and ``read()`` like a task, within the flow's namespace
boundary, so rendering one is as powerful as deploying a flow: it needs write access on the
namespace (issue 21; execute was enough before, and an execute-only user read other
namespaces' KV and every secret). It never reveals a secret: ``secret()`` is refused, the
context is masked before the render (outputs and SECRET inputs holding a secret show
``******``, so no filter or slice can spell one out), and the answer is masked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.policy import Action, check
from executions.models import Execution
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.loading import execution_flow_spec, task_run_context
from executions.runtime.persistence import load_snapshot
from kernel.expressions.render import ExpressionError, render
from kernel.secrets import Masker
from kernel.taint import shown_form

#: The longest expression accepted (expressions are not documents).
MAX_EXPRESSION = 64 * 1024


@dataclass(frozen=True)
class EvalResult:
    result: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"result": self.result, "error": self.error, "stackTrace": None}


class EvalIO(ExecutionIO):
    """The I/O of an evaluation: a task's, without secrets."""

    def secret(self, key: str, namespace: str | None = None) -> str | None:
        raise ExpressionError(
            "secret() is not available when evaluating an expression: secrets are only "
            "given to running tasks"
        )


def _masked(value: Any, masker: Masker) -> Any:
    """``value`` with every secret form in its strings replaced (the I/O object kept)."""
    if isinstance(value, ExecutionIO):
        return value
    return masker.mask_value(value)


def execution_eval(
    execution: Execution, task_run_id: str, expression: str, *, actor: Any = None
) -> EvalResult:
    """Render ``expression`` as text in the context of ``task_run_id``; a rendering error is
    the result's ``error`` (Kestra's wording), never an exception. Unknown task run:
    LookupError."""

    check(actor, execution.namespace, Action.WRITE)
    if len(expression) > MAX_EXPRESSION:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION} characters")
    snap = load_snapshot(execution)
    run = next((r for r in snap.task_runs if r.id == task_run_id), None)
    if run is None:
        raise LookupError(f"execution {execution.id} has no task run {task_run_id}")
    spec = execution_flow_spec(execution)
    # The environment's secrets, and the SECRET inputs the render opens (``on_secret``).
    masker = Masker.from_environ()
    io = EvalIO(execution.namespace, execution.flow_id, execution.id, masker)
    try:
        task = spec.task(run.task_id)
    except KeyError:  # a task a template brought that the template no longer has
        task = None
    built = task_run_context(spec, snap, run, task, io)  # opens SECRET inputs into `masker`
    context = {key: _masked(value, masker) for key, value in built.items()}
    try:
        text = render(expression, context)
    except ExpressionError as exc:
        return EvalResult(result=None, error=masker.mask(str(exc)))
    # What the sandbox derived from a secret (kernel.taint) is shown masked (issue 21).
    return EvalResult(result=masker.mask(shown_form(str(text))))
