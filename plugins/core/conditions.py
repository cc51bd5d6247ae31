"""Trigger and listener conditions: small pure predicates over a context mapping.

A condition is written in YAML as a mapping with a ``type`` and its properties
(``{"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["SUCCESS"]}``);
:func:`evaluate` finds its class and calls ``test(props, context)``. Properties arrive
unrendered: only ``expression`` and ``date`` are rendered here, in the expression sandbox.

The context is an expression context (what ``{{ }}`` sees) with, by convention:

* ``execution`` - the execution being judged: ``id``, ``namespace``, ``flowId``, ``state``,
  ``labels``, ``outputs`` (the upstream execution for a Flow trigger, the execution itself for
  a listener; a listener's context has no ``namespace``/``flowId``, so ``flow`` stands in);
* ``flow`` - ``{"namespace", "id"}`` of the flow owning the trigger or listener;
* ``trigger`` - the trigger variables (``trigger.date`` for a Schedule tick);
* ``now`` - an aware datetime, the date of the date conditions when there is no trigger date.

No Django and no I/O here. The lookup (``condition_class``, ``evaluate``) is the kernel's
(``kernel.conditions``); its names are imported here for the callers that know this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, ClassVar

from kernel.conditions import (  # the lookup, re-exported for the callers of this module
    ConditionType,
    UnknownCondition,  # noqa: F401
    all_hold,  # noqa: F401
    condition_class,  # noqa: F401
    evaluate,
)
from kernel.expressions.render import evaluate as render_expression
from kernel.expressions.render import is_truthy
from kernel.plugin import Prop

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
DAY_IN_MONTH = ("FIRST", "SECOND", "THIRD", "FOURTH", "LAST")


def _aliases(name: str) -> tuple[str, ...]:
    """Kestra's names: the current one, its ``...Condition`` alias and the old packages."""
    return (
        f"io.kestra.plugin.core.condition.{name}",
        f"io.kestra.plugin.core.condition.{name}Condition",
        f"io.kestra.core.models.conditions.types.{name}Condition",
        f"org.kestra.core.models.conditions.types.{name}Condition",
    )


def _execution(context: Mapping[str, Any]) -> Mapping[str, Any]:
    value = context.get("execution")
    return value if isinstance(value, Mapping) else {}


def _execution_field(context: Mapping[str, Any], key: str, flow_key: str) -> str:
    """A field of the judged execution, or of ``flow`` when the execution does not say."""
    value = _execution(context).get(key)
    if value is None:
        flow = context.get("flow")
        value = flow.get(flow_key) if isinstance(flow, Mapping) else None
    return "" if value is None else str(value)


def _render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and "{{" in value:
        return render_expression(value, context)
    return value


def parse_moment(value: Any, zone: tzinfo = UTC) -> datetime | None:
    """An aware datetime from a datetime, a date or an ISO-8601 string (naive means in
    ``zone``, UTC unless told)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=zone)
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _moment(props: Mapping[str, Any], context: Mapping[str, Any]) -> datetime | None:
    """The date a date condition judges: ``date`` (rendered), else ``trigger.date``, else now."""
    raw = props.get("date")
    if raw is None:
        trigger = context.get("trigger")
        raw = trigger.get("date") if isinstance(trigger, Mapping) else None
    if raw is None:
        raw = context.get("now")
    return parse_moment(_render(raw, context))


def _conditions(props: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    items = props.get("conditions") or ()
    return [c for c in items if isinstance(c, Mapping)]


# -- execution conditions ----------------------------------------------------------------


class ExecutionStatus(ConditionType):
    """True when the execution's state is in ``in`` (if given) and not in ``notIn``."""

    type = "trellis.core.condition.ExecutionStatus"
    narrows = "states"
    aliases = _aliases("ExecutionStatus")
    properties: ClassVar = (
        Prop("in", "list", items="string", dynamic=False),
        Prop("notIn", "list", items="string", dynamic=False),
    )

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        state = str(_execution(context).get("state", ""))
        allowed, refused = props.get("in"), props.get("notIn")
        return (not allowed or state in allowed) and state not in (refused or ())


class ExecutionFlow(ConditionType):
    """True for executions of one flow (``namespace`` and ``flowId``)."""

    type = "trellis.core.condition.ExecutionFlow"
    narrows = "flow"
    aliases = _aliases("ExecutionFlow")
    properties: ClassVar = (
        Prop("namespace", "string", required=True, dynamic=False),
        Prop("flowId", "string", required=True, dynamic=False),
    )

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return _execution_field(context, "namespace", "namespace") == str(
            props.get("namespace")
        ) and _execution_field(context, "flowId", "id") == str(props.get("flowId"))


class ExecutionNamespace(ConditionType):
    """True for executions in ``namespace``: EQUALS, PREFIX (whole segments are not required,
    as in Kestra) or SUFFIX; the deprecated ``prefix: true`` means PREFIX."""

    type = "trellis.core.condition.ExecutionNamespace"
    narrows = "namespace"
    aliases = _aliases("ExecutionNamespace")
    properties: ClassVar = (
        Prop("namespace", "string", required=True, dynamic=False),
        Prop("comparison", "string", choices=("EQUALS", "PREFIX", "SUFFIX"), dynamic=False),
        Prop("prefix", "boolean", default=False, dynamic=False, deprecated="use comparison"),
    )

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        actual = _execution_field(context, "namespace", "namespace")
        wanted = str(props.get("namespace", ""))
        comparison = props.get("comparison") or ("PREFIX" if props.get("prefix") else "EQUALS")
        if comparison == "PREFIX":
            return actual.startswith(wanted)
        if comparison == "SUFFIX":
            return actual.endswith(wanted)
        return actual == wanted


class ExecutionLabels(ConditionType):
    """True when the execution carries every label given (a map, or a list of key/value)."""

    type = "trellis.core.condition.ExecutionLabels"
    aliases = _aliases("ExecutionLabels")
    properties: ClassVar = (Prop("labels", "any", required=True, dynamic=False),)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        labels = _execution(context).get("labels") or context.get("labels") or {}
        if isinstance(labels, Sequence) and not isinstance(labels, str):
            labels = {i.get("key"): i.get("value") for i in labels if isinstance(i, Mapping)}
        wanted = props.get("labels") or {}
        if isinstance(wanted, Sequence) and not isinstance(wanted, str):
            wanted = {i.get("key"): i.get("value") for i in wanted if isinstance(i, Mapping)}
        return all(str(labels.get(k)) == str(v) for k, v in dict(wanted).items())


class ExecutionOutputs(ConditionType):
    """True when the execution has outputs and ``expression`` is truthy (it may name
    ``trigger.outputs``)."""

    type = "trellis.core.condition.ExecutionOutputs"
    aliases = _aliases("ExecutionOutputs")
    properties: ClassVar = (Prop("expression", "string", required=True),)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        if not _execution(context).get("outputs"):
            return False
        return is_truthy(render_expression(str(props.get("expression", "")), context))


class Expression(ConditionType):
    """True when ``expression`` renders to a truthy value (Kestra's truthiness)."""

    type = "trellis.core.condition.Expression"
    aliases = _aliases("Expression")
    properties: ClassVar = (Prop("expression", "string", required=True),)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return is_truthy(render_expression(str(props.get("expression", "")), context))


class Not(ConditionType):
    """True when none of ``conditions`` holds."""

    type = "trellis.core.condition.Not"
    aliases = _aliases("Not")
    properties: ClassVar = (Prop("conditions", "list", required=True, dynamic=False),)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return not any(evaluate(c, context) for c in _conditions(props))


class Or(ConditionType):
    """True when at least one of ``conditions`` holds."""

    type = "trellis.core.condition.Or"
    aliases = _aliases("Or")
    properties: ClassVar = (Prop("conditions", "list", required=True, dynamic=False),)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return any(evaluate(c, context) for c in _conditions(props))


# -- conditions on the flow that owns the trigger or listener (Kestra's older names) ------


def _condition_names(name: str) -> tuple[str, ...]:
    """A condition whose Kestra name already ends in ``Condition``, in Kestra's packages."""
    return tuple(
        f"{package}.{name}"
        for package in (
            "io.kestra.plugin.core.condition",
            "io.kestra.core.models.conditions.types",
            "org.kestra.core.models.conditions.types",
        )
    )


def _flow_field(context: Mapping[str, Any], key: str) -> str:
    flow = context.get("flow")
    value = flow.get(key) if isinstance(flow, Mapping) else None
    return "" if value is None else str(value)


class FlowCondition(ConditionType):
    """True when the flow owning the trigger or listener is ``namespace``.``flowId``
    (Kestra's deprecated ``FlowCondition``; ExecutionFlow judges the execution instead)."""

    type = "trellis.core.condition.FlowCondition"
    aliases = _condition_names("FlowCondition")
    properties: ClassVar = (
        Prop("namespace", "string", required=True, dynamic=False),
        Prop("flowId", "string", required=True, dynamic=False),
    )

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return _flow_field(context, "namespace") == str(props.get("namespace")) and _flow_field(
            context, "id"
        ) == str(props.get("flowId"))


class FlowNamespaceCondition(ConditionType):
    """True when the flow owning the trigger or listener is in ``namespace`` (equal, or
    starting with it when ``prefix`` is true), as Kestra's deprecated condition."""

    type = "trellis.core.condition.FlowNamespaceCondition"
    aliases = _condition_names("FlowNamespaceCondition")
    properties: ClassVar = (
        Prop("namespace", "string", required=True, dynamic=False),
        Prop("prefix", "boolean", default=False, dynamic=False),
    )

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        actual, wanted = _flow_field(context, "namespace"), str(props.get("namespace", ""))
        return actual.startswith(wanted) if props.get("prefix") is True else actual == wanted


# -- date conditions (a Schedule's ``trigger.date`` unless ``date`` says otherwise) --------

_DATE = Prop("date", "string", description="Defaults to {{ trigger.date }}.")


class DayWeek(ConditionType):
    """True when the date falls on ``dayOfWeek`` (in the date's own offset)."""

    type = "trellis.core.condition.DayWeek"
    aliases = _aliases("DayWeek")
    properties: ClassVar = (Prop("dayOfWeek", "string", required=True, choices=DAYS), _DATE)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        moment = _moment(props, context)
        return moment is not None and DAYS[moment.weekday()] == props.get("dayOfWeek")


class DayWeekInMonth(ConditionType):
    """True on the FIRST..FOURTH or LAST ``dayOfWeek`` of the date's month."""

    type = "trellis.core.condition.DayWeekInMonth"
    aliases = _aliases("DayWeekInMonth")
    properties: ClassVar = (
        Prop("dayOfWeek", "string", required=True, choices=DAYS),
        Prop("dayInMonth", "string", required=True, choices=DAY_IN_MONTH),
        _DATE,
    )

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        moment = _moment(props, context)
        if moment is None or DAYS[moment.weekday()] != props.get("dayOfWeek"):
            return False
        which = props.get("dayInMonth")
        if which == "LAST":
            return (moment + timedelta(days=7)).month != moment.month
        return (moment.day - 1) // 7 == DAY_IN_MONTH.index(str(which))


class Weekend(ConditionType):
    """True on Saturdays and Sundays."""

    type = "trellis.core.condition.Weekend"
    aliases = _aliases("Weekend")
    properties: ClassVar = (_DATE,)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        moment = _moment(props, context)
        return moment is not None and moment.weekday() >= 5


class DateTimeBetween(ConditionType):
    """True when the date is strictly after ``after`` and strictly before ``before`` (each
    optional; ISO-8601 datetimes, naive meaning UTC)."""

    type = "trellis.core.condition.DateTimeBetween"
    aliases = _aliases("DateTimeBetween")
    properties: ClassVar = (Prop("after", "string"), Prop("before", "string"), _DATE)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        moment = _moment(props, context)
        if moment is None:
            return False
        after = parse_moment(_render(props.get("after"), context))
        before = parse_moment(_render(props.get("before"), context))
        return (after is None or moment > after) and (before is None or moment < before)


def _parse_time(value: Any) -> tuple[time, timedelta | None] | None:
    """``"10:00"``, ``"10:00:00"`` or ``"10:00:00+02:00"`` -> (time, offset or None)."""
    if value is None or value == "":
        return None
    parsed = time.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=None), parsed.utcoffset()


class TimeBetween(ConditionType):
    """True when the time of day of the date is within [``after``, ``before``]. A time with an
    offset is compared in that offset, one without in the date's own offset; a window whose
    ``after`` is later than its ``before`` spans midnight."""

    type = "trellis.core.condition.TimeBetween"
    aliases = _aliases("TimeBetween")
    properties: ClassVar = (Prop("after", "string"), Prop("before", "string"), _DATE)

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        moment = _moment(props, context)
        if moment is None:
            return False
        after = _parse_time(_render(props.get("after"), context))
        before = _parse_time(_render(props.get("before"), context))

        def local(bound: tuple[time, timedelta | None]) -> time:
            offset = bound[1]
            shown = moment if offset is None else moment.astimezone(timezone(offset))
            return shown.time().replace(tzinfo=None)

        ok_after = after is None or local(after) >= after[0]
        ok_before = before is None or local(before) <= before[0]
        if after is not None and before is not None and after[0] > before[0]:
            return ok_after or ok_before  # the window spans midnight
        return ok_after and ok_before


def _holiday_calendar(country: str, subdivision: str | None) -> Any:
    """The public holidays of ``country`` (ISO 3166-1 alpha-2) and, optionally, one of its
    subdivisions (``CA`` or ``US-CA``), from the ``holidays`` package; ValueError when
    either is unknown."""
    import holidays

    code = country.strip().upper()
    sub = (subdivision or "").strip().upper() or None
    if sub and sub.startswith(f"{code}-"):
        sub = sub[len(code) + 1 :]
    try:
        return holidays.country_holidays(code, subdiv=sub)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None


class PublicHoliday(ConditionType):
    """True when the date is a public holiday of ``country`` (and ``subDivision``, when
    given); holiday calendars come from the ``holidays`` package. Kestra falls back to the
    server's locale when ``country`` is missing; Trellis asks for it, so a flow means the same
    on every machine."""

    type = "trellis.core.condition.PublicHoliday"
    aliases = _aliases("PublicHoliday")
    properties: ClassVar = (
        Prop("country", "string", required=True, dynamic=False,
             description="ISO 3166-1 alpha-2 code, e.g. FR"),
        Prop("subDivision", "string", dynamic=False, description="e.g. CA or US-CA"),
        _DATE,
    )  # fmt: skip

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        try:
            _holiday_calendar(str(props.get("country", "")), props.get("subDivision"))
        except ValueError as exc:
            return [("country", f"unknown public holiday calendar: {exc}")]
        return []

    def test(self, props: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        moment = _moment(props, context)
        if moment is None:
            return False
        calendar = _holiday_calendar(str(props.get("country", "")), props.get("subDivision"))
        return moment.date() in calendar


CONDITIONS: tuple[type[ConditionType], ...] = (
    ExecutionStatus, ExecutionFlow, ExecutionNamespace, ExecutionLabels, ExecutionOutputs,
    Expression, Not, Or, FlowCondition, FlowNamespaceCondition, DayWeek, DayWeekInMonth,
    Weekend, DateTimeBetween, TimeBetween, PublicHoliday,
)  # fmt: skip
PLUGINS = list(CONDITIONS)
