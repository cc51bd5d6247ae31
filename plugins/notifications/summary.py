"""What the ``*Execution`` tasks say about an execution: Kestra's template variables.

Kestra's notification plugin renders every "execution" message from the same few values:
the execution (``execution.namespace``, ``execution.flowId``, ``execution.state.current``),
its ``link`` in the UI, its ``startDate`` and human ``duration``, the task run it ended on
(``lastTask``; ``firstFailed`` when that one FAILED) and the user's ``customMessage`` and
``customFields``. :func:`summarize` computes them from the run context's
``execution_summary`` (plain data: the plugin never sees a model), so each chat's payload
builder is a pure function of one :class:`Summary`, tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kernel.plugin import Prop, RunContext, TaskFailed

#: Properties every ``*Execution`` task has, as Kestra's ``ExecutionInterface`` declares them.
EXECUTION_PROPS: tuple[Prop, ...] = (
    Prop(
        "executionId",
        "string",
        description="The execution to report on; this one by default ({{ execution.id }}); "
        "{{ trigger.executionId }} in a flow started by a Flow trigger.",
    ),
    Prop("customMessage", "string", description="A message shown above the summary."),
    Prop("customFields", "map", description="More name -> value pairs shown in the summary."),
)


@dataclass(frozen=True)
class Summary:
    """Everything an execution message shows; ``execution`` is Kestra-shaped plain data."""

    execution: Mapping[str, Any]
    duration: str
    start: datetime | None
    link: str | None = None
    #: The task run the execution ended on: its last FAILED one if any failed, else its
    #: last SUCCESS one (None when there is none yet).
    last_task: Mapping[str, Any] | None = None
    custom_message: str | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.execution.get("namespace", ""))

    @property
    def flow_id(self) -> str:
        return str(self.execution.get("flowId", ""))

    @property
    def id(self) -> str:
        return str(self.execution.get("id", ""))

    @property
    def state(self) -> str:
        return str((self.execution.get("state") or {}).get("current", ""))

    @property
    def first_failed(self) -> Mapping[str, Any] | None:
        """``lastTask`` when it FAILED (Kestra's ``firstFailed``), else None."""
        if self.last_task and (self.last_task.get("state") or {}).get("current") == "FAILED":
            return self.last_task
        return None

    @property
    def title(self) -> str:
        """``[namespace] flow ➛ STATE``."""
        return f"[{self.namespace}] {self.flow_id} ➛ {self.state}"

    @property
    def outcome(self) -> str:
        """``Failed on task `x` after 3.2s`` or ``Succeeded after 3.2s``."""
        failed = self.first_failed
        if failed is not None:
            return f"Failed on task `{failed.get('taskId')}` after {self.duration}"
        return f"Succeeded after {self.duration}"

    def variables(self) -> dict[str, Any]:
        """The values under Kestra's template names, for users' own templates."""
        out: dict[str, Any] = {
            "execution": dict(self.execution),
            "duration": self.duration,
            "startDate": self.start.isoformat() if self.start else None,
            "link": self.link,
            "lastTask": self.last_task,
            "firstFailed": self.first_failed or False,
        }
        if self.custom_message is not None:
            out["customMessage"] = self.custom_message
        if self.custom_fields:
            out["customFields"] = dict(self.custom_fields)
        return out


def parse_instant(text: Any) -> datetime | None:
    """An ISO-8601 instant (``...Z`` included) as an aware datetime, or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """``0.25s``, ``12.3s``, ``4m 5s``, ``2h 0m 7s``: short enough for a chat line."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


def last_task(execution: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Kestra's rule: the last task run in the state that tells the execution's story
    (FAILED when any run failed, else SUCCESS)."""
    runs = list(execution.get("taskRunList") or [])
    failed = any((r.get("state") or {}).get("current") == "FAILED" for r in runs)
    wanted = "FAILED" if failed else "SUCCESS"
    matching = [r for r in runs if (r.get("state") or {}).get("current") == wanted]
    return matching[-1] if matching else None


def build_summary(
    execution: Mapping[str, Any],
    *,
    now: datetime,
    custom_message: str | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> Summary:
    """A :class:`Summary` from Kestra-shaped execution data; ``now`` ends a running one."""
    state = execution.get("state") or {}
    start = parse_instant(state.get("startDate"))
    end = parse_instant(state.get("endDate")) or now
    seconds = (end - start).total_seconds() if start else 0.0
    fields = custom_fields or {}
    if not isinstance(fields, Mapping):
        raise TaskFailed(f"customFields must be a map, not {type(fields).__name__}")
    return Summary(
        execution=execution,
        duration=human_duration(seconds),
        start=start,
        link=execution.get("link") or None,
        last_task=last_task(execution),
        custom_message=None if custom_message in (None, "") else str(custom_message),
        custom_fields=dict(fields),
    )


def summarize(props: Mapping[str, Any], ctx: RunContext) -> Summary:
    """The summary of the execution ``executionId`` names (this one by default)."""
    wanted = props.get("executionId") or None
    try:
        execution = ctx.execution_summary(str(wanted) if wanted else None)
    except PermissionError as exc:
        raise TaskFailed(str(exc)) from None
    return build_summary(
        execution,
        now=datetime.now(UTC),
        custom_message=props.get("customMessage"),
        custom_fields=props.get("customFields"),
    )
