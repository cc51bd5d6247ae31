"""The use cases the runtime calls without importing them (issue 16).

The runtime is the lower layer: the services (the use cases) call it, never the other way
round. A few runtime steps still need a use case: a Subflow task creates its child
execution, a Resume task resumes another execution, an execution with a
CREATE_NEW_EXECUTION retry policy is replayed, and housekeeping tasks purge records through
``ctx.records``. The services install themselves here when the app is ready
(``ExecutionsConfig.ready``), as the flows app's deploy hooks are installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UseCases:
    #: ``executions.services.execution_create``
    create_execution: Callable[..., Any]
    #: ``executions.services.execution_resume``
    resume_execution: Callable[..., Any]
    #: ``(namespace, execution_id) -> ExecutionRecords`` for ``ctx.records``
    records: Callable[[str, str], Any]


_installed: UseCases | None = None


def install(cases: UseCases) -> None:
    global _installed
    _installed = cases


def use_cases() -> UseCases:
    if _installed is None:
        raise RuntimeError("executions' use cases are not installed: is the app ready?")
    return _installed
