"""What housekeeping tasks may do to the orchestrator's own records (Kestra's Purge*, Count
and log Fetch), reached by plugins through ``ctx.records`` so they never import models.

Every call is confined to the namespace of the flow running the task and the namespaces
inside it: a flow may tidy or read its own corner, never a neighbour's (only people hold
grants on other namespaces). Only finished executions are deleted, and never the one
running the task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet

from access.policy import inside, within
from executions.log_levels import levels_from
from executions.models import Execution, LogEntry
from executions.services.actions import execution_delete
from kernel.states import TERMINAL
from kv.services import kv_purge
from orchestrator.storage import default_storage
from triggers.models import TriggerState
from triggers.services import trigger_set_disabled


class OutsideNamespace(PermissionError):
    """A namespace outside the flow's own was named."""


class ExecutionRecords:
    def __init__(self, namespace: str, execution_id: str) -> None:
        self.namespace, self.execution_id = namespace, execution_id

    def _within(self, namespace: str | None) -> str:
        """``namespace`` (default: the flow's), refused unless it is the flow's or inside."""
        wanted = (namespace or self.namespace).strip()
        if not inside(wanted, self.namespace):
            raise OutsideNamespace(
                f"namespace {wanted!r} is outside this flow's namespace {self.namespace!r}: "
                "a task may only act on its own namespace and the ones inside it"
            )
        return wanted

    def _executions(
        self,
        namespace: str | None,
        flow_id: str | None,
        start: datetime | None,
        end: datetime | None,
        states: Sequence[str] | None,
    ) -> QuerySet[Execution]:
        found = within(Execution.objects.all(), self._within(namespace))
        if flow_id:
            found = found.filter(flow_id=flow_id)
        if start is not None:
            found = found.filter(created_at__gte=start)
        if end is not None:
            found = found.filter(created_at__lt=end)
        if states:
            found = found.filter(state__in=[str(s).upper() for s in states])
        return found

    def purge_executions(
        self,
        *,
        namespace: str | None,
        flow_id: str | None,
        start: datetime | None,
        end: datetime,
        states: Sequence[str] | None,
        executions: bool = True,
        logs: bool = True,
        storage: bool = True,
    ) -> dict[str, int]:
        """Delete finished executions created in [start, end) (rows, logs, files), or only
        their logs or files; the running execution is never touched."""

        found = self._executions(namespace, flow_id, start, end, states).filter(
            state__in=[str(s) for s in TERMINAL]
        ).exclude(pk=self.execution_id)  # fmt: skip
        counts = {"executionsCount": 0, "logsCount": 0, "storagesCount": 0}
        for execution in found.iterator():
            if logs:
                counts["logsCount"] += LogEntry.objects.filter(execution=execution).count()
            if executions:
                execution_delete(execution)
                counts["executionsCount"] += 1
                counts["storagesCount"] += 1 if storage else 0
                continue
            if logs:
                LogEntry.objects.filter(execution=execution).delete()
            if storage:
                default_storage().delete_execution(
                    execution.namespace, execution.flow_id, execution.id
                )
                counts["storagesCount"] += 1
        return counts

    def purge_logs(
        self,
        *,
        namespace: str | None,
        flow_id: str | None,
        execution_id: str | None,
        levels: Iterable[str] | None,
        start: datetime | None,
        end: datetime,
    ) -> int:
        """Delete log lines written in [start, end) of finished executions in scope."""
        scope = self._executions(namespace, flow_id, None, None, None).filter(
            state__in=[str(s) for s in TERMINAL]
        )  # fmt: skip
        if execution_id:
            scope = scope.filter(pk=execution_id)
        lines = LogEntry.objects.filter(execution__in=scope, timestamp__lt=end)
        if start is not None:
            lines = lines.filter(timestamp__gte=start)
        if levels:
            lines = lines.filter(
                level__in=[str(v).upper().replace("WARNING", "WARN") for v in levels]
            )
        return lines.delete()[0]

    def logs(
        self, *, execution_id: str | None, task_ids: Sequence[str] | None, min_level: str | None
    ) -> list[dict[str, Any]]:
        """The log lines of an execution in scope (default: the running one), oldest first."""
        target = execution_id or self.execution_id
        execution = Execution.objects.filter(pk=target).first()
        if execution is None:
            raise LookupError(f"no execution {target}")
        self._within(execution.namespace)
        lines = LogEntry.objects.filter(execution=execution)
        if task_ids:
            lines = lines.filter(task_id__in=list(task_ids))
        if (levels := levels_from(min_level)) is not None:
            lines = lines.filter(level__in=levels)
        return [
            {"timestamp": line.timestamp.isoformat().replace("+00:00", "Z"),
             "taskId": line.task_id, "taskRunId": line.task_run_id, "attempt": line.attempt,
             "level": line.level, "message": line.message}
            for line in lines.order_by("timestamp", "id")
        ]  # fmt: skip

    def count(
        self,
        *,
        flows: Sequence[tuple[str, str]] | None,
        namespaces: Sequence[str] | None,
        states: Sequence[str] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[dict[str, Any]]:
        """Executions per flow in scope: the flows named (each counted, zero included), or
        every flow of ``namespaces`` (default: the flow's own)."""
        if flows:
            results = []
            for namespace, flow_id in flows:
                found = self._executions(namespace, flow_id, start, end, states)
                results.append({"namespace": namespace, "flowId": flow_id,
                                "count": found.filter(namespace=namespace).count()})  # fmt: skip
            return results
        rows: dict[tuple[str, str], int] = {}
        for namespace in namespaces or [self.namespace]:
            found = self._executions(namespace, None, start, end, states)
            for row in found.values("namespace", "flow_id").annotate(n=Count("id")):
                rows[(row["namespace"], row["flow_id"])] = row["n"]
        return [
            {"namespace": ns, "flowId": flow, "count": n} for (ns, flow), n in sorted(rows.items())
        ]

    def purge_kv(
        self,
        *,
        namespaces: Sequence[str] | None,
        children: bool,
        key_pattern: str | None,
        expired_only: bool,
    ) -> int:
        """Delete KV entries of ``namespaces`` in scope (default: the flow's)."""

        scopes = [self._within(str(n)) for n in namespaces or [self.namespace]]
        return kv_purge(
            scopes, children=children, key_pattern=key_pattern, expired_only=expired_only
        )

    def set_trigger(
        self, *, namespace: str | None, flow_id: str, trigger_id: str, enabled: bool | None
    ) -> bool:
        """Enable or disable (``None``: flip) a trigger of a flow in scope; returns whether
        it is enabled now."""

        scope = self._within(namespace)
        state = TriggerState.objects.filter(
            namespace=scope, flow_id=flow_id, trigger_id=trigger_id
        ).first()
        if state is None:
            raise LookupError(f"no trigger {trigger_id!r} on flow {scope}.{flow_id}")
        disabled = (not state.disabled) if enabled is None else (not enabled)
        trigger_set_disabled(
            namespace=scope, flow_id=flow_id, trigger_id=trigger_id, disabled=disabled,
            reason="a Toggle task" if disabled else "",
        )  # fmt: skip
        return not disabled
