"""Use cases on executions. Import from here; the submodules split them by concern (create,
resume, restart, changes). Adapters (API, admin, CLI,
triggers) call these; none of them writes run state itself.

Every use case takes ``actor``: the acting user, who needs execute access to the execution's
namespace (``access.policy.AccessDenied`` otherwise), or None for a trusted caller (CLI,
triggers, the executor).
"""

from executions.errors import ExecutionError
from executions.services.changes import (
    CHANGEABLE_EXECUTION_STATES,
    SETTABLE_TASK_RUN_STATES,
    execution_change_status,
    execution_force_run,
    execution_set_labels,
    execution_unqueue,
    task_run_set_state,
)
from executions.services.create import execution_create, execution_kill, execution_wait
from executions.services.restart import RESTARTABLE, execution_replay, execution_restart
from executions.services.resume import execution_pause, execution_resume
from kernel.inputs import InputsError

__all__ = [
    "CHANGEABLE_EXECUTION_STATES",
    "RESTARTABLE",
    "SETTABLE_TASK_RUN_STATES",
    "execution_pause",
    "ExecutionError",
    "InputsError",
    "execution_change_status",
    "execution_create",
    "execution_force_run",
    "execution_kill",
    "execution_replay",
    "execution_restart",
    "execution_resume",
    "execution_set_labels",
    "execution_unqueue",
    "execution_wait",
    "task_run_set_state",
]
