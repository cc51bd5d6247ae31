"""Kestra's housekeeping tasks: ``execution.PurgeExecutions``, ``log.PurgeLogs``,
``kv.PurgeKV``, ``execution.Count``, ``log.Fetch`` and ``trigger.Toggle``.

They act on the orchestrator's own records through ``ctx.records``
(``executions.services.records.ExecutionRecords``), which confines every call to the running flow's
namespace and the namespaces inside it, deletes only finished executions and never the
running one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from kernel.expressions.render import is_truthy
from kernel.plugin import (
    Output,
    Prop,
    RunContext,
    RunnableTask,
    TaskFailed,
    TaskResult,
    kestra_aliases,
)
from plugins.core.conditions import parse_moment

_PURGE_EXAMPLE = """id: purge
namespace: trellis.examples
tasks:
  - id: old_executions
    type: trellis.core.execution.PurgeExecutions
    endDate: "{{ now() | dateAdd(-1, 'MONTHS') }}"
    states: [SUCCESS]
  - id: old_logs
    type: trellis.core.log.PurgeLogs
    endDate: "{{ now() | dateAdd(-7, 'DAYS') }}"
    logLevels: [TRACE, DEBUG]
"""


def _records(ctx: RunContext) -> Any:
    records = getattr(ctx, "records", None)
    if records is None:
        raise TaskFailed("this worker cannot reach the execution records")
    return records


def _date(props: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    try:
        moment = parse_moment(props.get(name))
    except ValueError:
        raise TaskFailed(f"{name} must be an ISO-8601 date-time, not {props.get(name)!r}") from None
    if moment is None and required:
        raise TaskFailed(f"{name} is required")
    return moment


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except (PermissionError, LookupError) as exc:
        raise TaskFailed(str(exc)) from None


class PurgeExecutions(RunnableTask):
    """Delete finished executions created before ``endDate`` (and after ``startDate``),
    with their logs and files; ``purgeExecution: false`` keeps the executions and deletes
    only what ``purgeLog``/``purgeStorage`` say."""

    type = "trellis.core.execution.PurgeExecutions"
    aliases = (
        *kestra_aliases("execution.PurgeExecutions", core_tasks="storages.Purge"),
        "io.kestra.plugin.core.storage.Purge",
    )
    properties: ClassVar = (
        Prop("endDate", "string", required=True),
        Prop("startDate", "string"),
        Prop("namespace", "string", description="This flow's namespace or one inside it."),
        Prop("flowId", "string"),
        Prop("states", "list", items="string"),
        Prop("purgeExecution", "boolean", default=True),
        Prop("purgeLog", "boolean", default=True),
        Prop("purgeStorage", "boolean", default=True),
        Prop("purgeMetric", "boolean", default=True, description="Trellis keeps no metrics."),
    )
    examples = (_PURGE_EXAMPLE,)

    outputs: ClassVar = (
        Output("executionsCount", "Executions deleted.", "integer"),
        Output("logsCount", "Log lines deleted.", "integer"),
        Output("storagesCount", "Executions whose stored files were deleted.", "integer"),
        Output("metricsCount", "Always 0: Trellis keeps no metrics.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        counts = _call(
            _records(ctx).purge_executions, namespace=props.get("namespace"),
            flow_id=props.get("flowId"), start=_date(props, "startDate"),
            end=_date(props, "endDate", required=True), states=props.get("states"),
            executions=props.get("purgeExecution") is not False,
            logs=props.get("purgeLog") is not False,
            storage=props.get("purgeStorage") is not False,
        )  # fmt: skip
        ctx.logger.info(f"purged {counts['executionsCount']} execution(s)")
        return {**counts, "metricsCount": 0}


class PurgeLogs(RunnableTask):
    """Delete log lines of finished executions written before ``endDate``."""

    type = "trellis.core.log.PurgeLogs"
    aliases = kestra_aliases("log.PurgeLogs")
    properties: ClassVar = (
        Prop("endDate", "string", required=True),
        Prop("startDate", "string"),
        Prop("namespace", "string", description="This flow's namespace or one inside it."),
        Prop("flowId", "string"),
        Prop("executionId", "string"),
        Prop("logLevels", "list", items="string"),
    )

    outputs: ClassVar = (Output("count", "Log lines deleted.", "integer"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        count = _call(
            _records(ctx).purge_logs, namespace=props.get("namespace"),
            flow_id=props.get("flowId"), execution_id=props.get("executionId"),
            levels=props.get("logLevels"), start=_date(props, "startDate"),
            end=_date(props, "endDate", required=True),
        )  # fmt: skip
        return {"count": count}


class PurgeKV(RunnableTask):
    """Delete KV entries of this flow's namespace (or ``namespaces`` inside it, and with
    ``includeChildNamespaces`` the ones inside those) whose key matches ``keyPattern`` (a
    glob); only expired ones with ``expiredOnly``. Outputs how many went (``size``)."""

    type = "trellis.core.kv.PurgeKV"
    aliases = kestra_aliases("kv.PurgeKV")
    properties: ClassVar = (
        Prop("namespaces", "list", items="string"),
        Prop("includeChildNamespaces", "boolean", default=True),
        Prop("keyPattern", "string"),
        Prop("expiredOnly", "boolean", default=False),
    )

    outputs: ClassVar = (Output("size", "Keys deleted.", "integer"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        size = _call(
            _records(ctx).purge_kv, namespaces=props.get("namespaces"),
            children=props.get("includeChildNamespaces") is not False,
            key_pattern=props.get("keyPattern") or None,
            expired_only=props.get("expiredOnly") is True,
        )  # fmt: skip
        return {"size": size}


class Count(RunnableTask):
    """Count executions per flow (the ``flows`` named, or every flow of ``namespaces``);
    with ``expression`` (``{{ count == 0 }}``) only the flows for which it is true are kept
    in ``results``, and ``total`` says how many."""

    type = "trellis.core.execution.Count"
    aliases = (
        *kestra_aliases("execution.Count", core_tasks="executions.Counts"),
        "io.kestra.plugin.core.execution.Counts",
    )
    properties: ClassVar = (
        Prop("flows", "list", description="[{namespace, flowId}]"),
        Prop("namespaces", "list", items="string"),
        Prop("states", "list", items="string"),
        Prop("startDate", "string", required=True),
        Prop("endDate", "string"),
        Prop("expression", "string", dynamic=False, description="Rendered with `count`."),
    )

    outputs: ClassVar = (
        Output("results", "One count per flow, kept when `expression` is true for it.", "list"),
        Output("total", "How many entries `results` holds.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any] | TaskResult:
        flows = [
            (str(f.get("namespace")), str(f.get("flowId")))
            for f in props.get("flows") or ()
            if isinstance(f, dict)
        ]
        results = _call(
            _records(ctx).count, flows=flows, namespaces=props.get("namespaces"),
            states=props.get("states"), start=_date(props, "startDate", required=True),
            end=_date(props, "endDate"),
        )  # fmt: skip
        expression = props.get("expression")
        if expression:
            results = [r for r in results if is_truthy(ctx.render(expression, r))]
        return {"results": results, "total": len(results)}


class Fetch(RunnableTask):
    """Store the log lines of an execution (default: this one) as a JSON-lines file."""

    type = "trellis.core.log.Fetch"
    aliases = kestra_aliases("log.Fetch")
    properties: ClassVar = (
        Prop("executionId", "string"),
        Prop("tasksId", "list", items="string"),
        Prop("level", "string", default="INFO"),
        Prop("namespace", "string", description="Ignored: the execution says."),
        Prop("flowId", "string", description="Ignored: the execution says."),
    )

    outputs: ClassVar = (
        Output("uri", "The log lines, one JSON object a line.", "uri"),
        Output("size", "How many lines.", "integer"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        lines = _call(
            _records(ctx).logs, execution_id=props.get("executionId"),
            task_ids=props.get("tasksId"), min_level=props.get("level") or "INFO",
        )  # fmt: skip
        target = ctx.working_dir / "logs.jsonl"
        with target.open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return {"uri": ctx.put_file(target, target.name), "size": len(lines)}


class Toggle(RunnableTask):
    """Enable or disable a trigger of a flow in this flow's namespace (``enabled`` missing:
    flip it); outputs whether it is enabled now."""

    type = "trellis.core.trigger.Toggle"
    aliases = kestra_aliases("trigger.Toggle")
    properties: ClassVar = (
        Prop("flowId", "string", required=True),
        Prop("trigger", "string", required=True),
        Prop("namespace", "string", description="This flow's namespace or one inside it."),
        Prop("enabled", "boolean"),
    )

    outputs: ClassVar = (Output("enabled", "Whether the trigger is now enabled.", "boolean"),)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        enabled = props.get("enabled")
        now_enabled = _call(
            _records(ctx).set_trigger, namespace=props.get("namespace"),
            flow_id=str(props["flowId"]), trigger_id=str(props["trigger"]),
            enabled=None if enabled is None else enabled is True,
        )  # fmt: skip
        ctx.logger.info(f"trigger {props['trigger']} is {'enabled' if now_enabled else 'disabled'}")
        return {"enabled": now_enabled}


PLUGINS = [PurgeExecutions, PurgeLogs, PurgeKV, Count, Fetch, Toggle]
