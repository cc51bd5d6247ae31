"""The flows the benchmark runs, written out as Kestra YAML and deployed like any other.

Every runnable task is a Log: it does next to nothing, so a flow's wall time is the
orchestrator's own cost (scheduling, messages, database), which is what is measured.
"""

from __future__ import annotations

from flows.models import Flow
from flows.services import flow_deploy

NAMESPACE = "bench"
LOG = "io.kestra.plugin.core.log.Log"


def sequential(n: int) -> str:
    tasks = "".join(f"  - id: log{i}\n    type: {LOG}\n    message: hop {i}\n" for i in range(n))
    return f"id: seq{n}\nnamespace: {NAMESPACE}\ntasks:\n{tasks}"


def parallel(n: int) -> str:
    tasks = "".join(
        f"      - id: log{i}\n        type: {LOG}\n        message: branch {i}\n" for i in range(n)
    )
    return (
        f"id: parallel{n}\nnamespace: {NAMESPACE}\ntasks:\n"
        f"  - id: fan\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n{tasks}"
    )


def for_each(n: int) -> str:
    """A sequential loop (Kestra's default ``concurrencyLimit: 1``) over ``n`` values: every
    iteration is a hop, and the execution keeps growing, so this shows any cost that grows
    with the number of task runs already there."""
    values = "[" + ", ".join(str(i) for i in range(n)) + "]"
    return (
        f"id: foreach{n}\nnamespace: {NAMESPACE}\ntasks:\n"
        f"  - id: loop\n    type: io.kestra.plugin.core.flow.ForEach\n    values: {values}\n"
        f"    tasks:\n      - id: log\n        type: {LOG}\n"
        '        message: "value {{ taskrun.value }}"\n'
    )


def deploy(source: str) -> Flow:
    return flow_deploy(source=source, filename="<bench>").flow
