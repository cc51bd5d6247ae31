"""Trigger types: what a flow's ``triggers:`` may declare (Schedule, Flow, Webhook).

These classes are declarations: their properties drive validation, the JSON schema and the
docs; the ``triggers`` Django app does the firing. Common keys (``id``, ``type``,
``disabled``, ``conditions``, ``stopAfter``...) are handled by ``kernel.spec.triggers``.
The cron helpers below are pure so the firing code and the validator agree on one grammar.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from croniter import CroniterBadDateError, croniter

from kernel.durations import DurationError, parse_duration
from kernel.plugin import Output, Prop, TriggerType
from plugins.core.conditions import parse_moment

#: Kestra's nicknames, as five fields (what celery-beat's crontab needs too).
NICKNAMES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
RECOVER_POLICIES = ("LAST", "NONE", "ALL")


def normalize_cron(expression: str) -> str:
    """The expression with a nickname replaced by its five fields, whitespace collapsed."""
    text = " ".join(str(expression).split())
    return NICKNAMES.get(text.lower(), text)


def cron_problem(expression: Any, *, with_seconds: bool = False) -> str | None:
    """Why ``expression`` is not a usable cron, or None. With ``withSeconds`` the six fields
    start with the seconds (Kestra's order)."""
    if not isinstance(expression, str) or not expression.strip():
        return "a Schedule trigger needs a `cron` expression"
    text = normalize_cron(expression)
    wanted = 6 if with_seconds else 5
    if with_seconds and expression.strip().lower() in NICKNAMES:
        return f"invalid cron {expression!r}: nicknames have no seconds field"
    if len(text.split()) != wanted:
        extra = "" if with_seconds else " (6 with `withSeconds: true`)"
        return f"invalid cron {expression!r}: expected {wanted} fields{extra}"
    if not croniter.is_valid(text, second_at_beginning=with_seconds):
        return f"invalid cron expression {expression!r}"
    try:
        croniter(text, second_at_beginning=with_seconds).get_next(float)
    except CroniterBadDateError:
        return f"cron expression {expression!r} never fires"
    return None


def timezone_problem(name: Any) -> str | None:
    """Why ``name`` is not an IANA timezone, or None."""
    if not isinstance(name, str) or not name:
        return f"unknown timezone {name!r}"
    if "{{" in name or "{%" in name:
        return "`timezone` cannot be an expression"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {name!r}"
    return None


#: What every trigger that fires on ticks (Schedule, ScheduleOnDates) accepts.
TICK_PROPS = (
    Prop("inputs", "map", default={}),
    Prop("labels", "any", default={}),
    Prop("lateMaximumDelay", "duration", dynamic=False),
    Prop("recoverMissedSchedules", "string", choices=RECOVER_POLICIES, dynamic=False),
)


def _trigger_aliases(name: str) -> tuple[str, ...]:
    return (
        f"io.kestra.plugin.core.trigger.{name}",
        f"io.kestra.core.models.triggers.types.{name}",
        f"org.kestra.core.models.triggers.types.{name}",
    )


class Schedule(TriggerType):
    """Start the flow on a cron schedule, in a timezone.

    One execution per tick, whatever beat does (a unique key on the scheduled date). The
    execution sees ``trigger.date`` (the tick), ``trigger.next`` and ``trigger.previous``.
    ``recoverMissedSchedules`` says what happens to ticks missed while nothing ran: ALL (the
    default) starts each, LAST only the latest, NONE none. ``lateMaximumDelay`` skips a tick
    started later than that after its date. Daylight saving: a tick inside the skipped hour
    fires once, at the end of the gap; in the repeated hour a tick at a fixed hour fires
    once (the first time), while an every-hour cron fires in both passes.
    """

    type = "trellis.core.trigger.Schedule"
    trigger_kind = "schedule"
    recorded_type = "io.kestra.plugin.core.trigger.Schedule"
    backfills = True
    aliases = _trigger_aliases("Schedule")
    properties: ClassVar = (
        Prop("cron", "string", required=True, dynamic=False, description="5 fields, or 6"),
        Prop("withSeconds", "boolean", default=False, dynamic=False),
        Prop("timezone", "string", default="Etc/UTC", dynamic=False),
        *TICK_PROPS,
        Prop("backfill", "map", deprecated="use `trigger backfill`", dynamic=False),
        Prop("scheduleConditions", "list", deprecated="use conditions", dynamic=False),
        Prop("interval", "duration", dynamic=False),
    )
    examples = (
        """id: nightly
namespace: trellis.examples
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "tick {{ trigger.date }}"
triggers:
  - id: every-night
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "30 2 * * *"
    timezone: Europe/Paris
    recoverMissedSchedules: LAST
    conditions:
      - type: io.kestra.plugin.core.condition.Weekend
""",
    )

    outputs: ClassVar = (
        Output("date", "The tick's instant (ISO 8601).", "string"),
        Output("next", "The following tick, or None.", "string"),
        Output("previous", "The tick before, or None.", "string"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        message = cron_problem(props.get("cron"), with_seconds=props.get("withSeconds") is True)
        if message:
            problems.append(("cron", message))
        if props.get("timezone") is not None:
            message = timezone_problem(props.get("timezone"))
            if message:
                problems.append(("timezone", message))
        return problems


class Flow(TriggerType):
    """Start the flow when another flow's execution ends and the conditions hold.

    ``conditions`` judge the upstream execution (ExecutionStatus, ExecutionFlow,
    ExecutionNamespace...); ``preconditions`` wait until several upstream flows have ended
    within a time window. ``inputs`` are rendered in the upstream execution's context, with
    ``trigger.executionId``, ``namespace``, ``flowId``, ``flowRevision``, ``state`` and
    ``outputs``. A flow never triggers itself.
    """

    type = "trellis.core.trigger.Flow"
    trigger_kind = "flow"
    recorded_type = "io.kestra.plugin.core.trigger.Flow"
    aliases = _trigger_aliases("Flow")
    properties: ClassVar = (
        Prop("inputs", "map", default={}),
        Prop("preconditions", "map", dynamic=False),
        Prop("states", "list", items="string", dynamic=False),
    )
    examples = (
        """id: after-load
namespace: trellis.examples
inputs:
  - id: upstream
    type: STRING
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "after {{ inputs.upstream }}"
triggers:
  - id: on-load
    type: io.kestra.plugin.core.trigger.Flow
    inputs:
      upstream: "{{ trigger.executionId }}"
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionStatus
        in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: trellis.examples
        flowId: load
""",
    )

    outputs: ClassVar = (
        Output("executionId", "The execution that ended.", "string"),
        Output("namespace", "Its namespace.", "string"),
        Output("flowId", "Its flow.", "string"),
        Output("flowRevision", "Its flow's revision.", "integer"),
        Output("state", "Its final state.", "string"),
        Output("outputs", "Its flow outputs.", "map"),
        Output("executionLabels", "Its labels.", "map"),
    )


class Webhook(TriggerType):
    """Start the flow from ``/api/v1/executions/webhook/{namespace}/{flowId}/{key}``.

    The key is the secret (it may be ``{{ secret('NAME') }}``); the execution sees
    ``trigger.body`` (parsed when it is JSON), ``trigger.headers`` and
    ``trigger.parameters``. With ``signature`` the request must also carry the HMAC of its
    timestamp, delivery id and raw body (hex, optionally prefixed ``sha256=``) in a header;
    a missing or wrong one answers the same 404 as a wrong key. A signed request whose
    timestamp is outside the tolerance is a 400, a delivery id seen before a 409 (issue 21). ``wait: true`` answers once the execution ended, with its
    outputs (only the outputs with ``returnOutputs: true``).
    """

    type = "trellis.core.trigger.Webhook"
    trigger_kind = "webhook"
    recorded_type = "io.kestra.plugin.core.trigger.Webhook"
    aliases = _trigger_aliases("Webhook")
    #: Whoever reads the key can start the flow, so readers see ``******`` (issue 21).
    confidential: ClassVar = ("key", "signature.secret")
    properties: ClassVar = (
        Prop("key", "string", required=True, dynamic=False, description="Secret URL part."),
        Prop("wait", "boolean", default=False, dynamic=False),
        Prop("returnOutputs", "boolean", default=False, dynamic=False),
        Prop("inputs", "map", default={}),
        Prop(
            "signature",
            "map",
            dynamic=False,
            description="Require an HMAC of `<timestamp>.<delivery id>.<body>`: `secret` (may "
            "be `{{ secret('NAME') }}`), `header` (default X-Hub-Signature-256), `algorithm` "
            "(SHA256, SHA1 or SHA512), `timestampHeader` (default X-Trellis-Timestamp, Unix "
            "seconds), `deliveryHeader` (default X-Trellis-Delivery), `tolerance` (ISO "
            "duration, default TRELLIS_WEBHOOK_TOLERANCE_SECONDS = 5 minutes). A delivery id "
            "is accepted once. `replayProtection: false` signs the body alone (weaker: a "
            "captured request can be replayed).",
        ),
    )
    examples = (
        """id: on-push
namespace: trellis.examples
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "{{ trigger.body }}"
triggers:
  - id: push
    type: io.kestra.plugin.core.trigger.Webhook
    key: "{{ secret('PUSH_KEY') }}"
    signature:
      secret: "{{ secret('PUSH_SIGNING_SECRET') }}"
      header: X-Hub-Signature-256
      tolerance: PT5M
""",
    )

    outputs: ClassVar = (
        Output("body", "The request body (parsed JSON when it is JSON, else text).", "any"),
        Output("headers", "Request headers, name -> values.", "map"),
        Output("parameters", "Query parameters, name -> values.", "map"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        key = props.get("key")
        if isinstance(key, str) and len(key) > 256:
            return [("key", "a webhook key is at most 256 characters")]
        if isinstance(key, str) and not key.strip():
            return [("key", "a webhook key cannot be empty")]
        return _signature_problems(props.get("signature"))


SIGNATURE_KEYS = (
    "secret",
    "header",
    "algorithm",
    "timestampHeader",
    "deliveryHeader",
    "tolerance",
    "replayProtection",
)
SIGNATURE_ALGORITHMS = ("SHA256", "SHA1", "SHA512")
#: A tolerance past a day would keep delivery ids for as long and make replay windows wide.
MAX_SIGNATURE_TOLERANCE = timedelta(days=1)


def _signature_problems(signature: Any) -> list[tuple[str, str]]:
    if signature is None:
        return []
    if not isinstance(signature, Mapping):
        return [("signature", "`signature` must be a map with a `secret`")]
    problems = [
        (
            f"signature.{k}",
            f"unknown signature property {k!r} (expected {', '.join(SIGNATURE_KEYS)})",
        )
        for k in signature
        if k not in SIGNATURE_KEYS
    ]
    secret = signature.get("secret")
    if not isinstance(secret, str) or not secret.strip():
        problems.append(("signature.secret", "a webhook signature needs a `secret`"))
    header = signature.get("header")
    if header is not None and (not isinstance(header, str) or not header.strip()):
        problems.append(("signature.header", "`header` must be a header name"))
    algorithm = signature.get("algorithm")
    if algorithm is not None and str(algorithm).upper() not in SIGNATURE_ALGORITHMS:
        problems.append(
            ("signature.algorithm", f"`algorithm` must be one of {', '.join(SIGNATURE_ALGORITHMS)}")
        )
    for name in ("timestampHeader", "deliveryHeader"):
        value = signature.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append((f"signature.{name}", f"`{name}` must be a header name"))
    if signature.get("replayProtection") not in (None, True, False):
        problems.append(("signature.replayProtection", "`replayProtection` must be true or false"))
    tolerance = signature.get("tolerance")
    if tolerance is not None:
        problems += _tolerance_problems(tolerance)
    return problems


def _tolerance_problems(tolerance: Any) -> list[tuple[str, str]]:
    try:
        window = parse_duration(tolerance)
    except (DurationError, TypeError, ValueError):
        return [("signature.tolerance", "`tolerance` must be an ISO-8601 duration like PT5M")]
    if not timedelta(seconds=1) <= window <= MAX_SIGNATURE_TOLERANCE:
        return [("signature.tolerance", "`tolerance` must be between 1 second and 1 day")]
    return []


def parse_date(value: Any, timezone: str = "Etc/UTC") -> datetime:
    """An ISO-8601 date-time of a ScheduleOnDates list, aware (naive means ``timezone``)."""
    moment = parse_moment(value, zoneinfo.ZoneInfo(timezone))
    if moment is None:
        raise ValueError("an empty date-time")
    return moment


class ScheduleOnDates(TriggerType):
    """Start the flow at each of a list of date-times (``dates``; a date-time without an
    offset is read in ``timezone``). Each date starts one execution, as a Schedule tick does
    (``trigger.date``, ``trigger.next``, ``trigger.previous``; ``recoverMissedSchedules``,
    ``lateMaximumDelay``); a date is started within about 30 seconds of its time."""

    type = "trellis.core.trigger.ScheduleOnDates"
    trigger_kind = "schedule"
    schedule_dates = True
    aliases = ("io.kestra.plugin.core.trigger.ScheduleOnDates",)
    properties: ClassVar = (
        Prop("dates", "list", required=True, dynamic=False, description="ISO-8601 date-times."),
        Prop("timezone", "string", default="Etc/UTC", dynamic=False),
        *TICK_PROPS,
    )
    examples = (
        """id: release-days
namespace: trellis.examples
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "release day {{ trigger.date }}"
triggers:
  - id: on-dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    timezone: Europe/Paris
    dates:
      - 2030-03-02T09:00:00
      - 2030-06-01T09:00:00+02:00
""",
    )

    outputs: ClassVar = (
        Output("date", "The tick's instant (ISO 8601).", "string"),
        Output("next", "The following tick, or None.", "string"),
        Output("previous", "The tick before, or None.", "string"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        zone = props.get("timezone") or "Etc/UTC"
        message = timezone_problem(zone)
        if message:
            return [("timezone", message)]
        dates = props.get("dates")
        if not isinstance(dates, list) or not dates:
            return [("dates", "`dates` must list at least one date-time")]
        problems = []
        for i, value in enumerate(dates):
            try:
                parse_date(value, zone)
            except (TypeError, ValueError):
                problems.append((f"dates[{i}]", f"not an ISO-8601 date-time: {value!r}"))
        return problems


PLUGINS = [Schedule, Flow, Webhook, ScheduleOnDates]
