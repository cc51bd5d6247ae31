"""Cron maths, the DST policy, missed-tick policies, conditions and preconditions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.spec.parse import parse_flow
from plugins.core import conditions
from plugins.core.triggers import Flow, Schedule, Webhook, cron_problem
from triggers import preconditions
from triggers.cron import CronSchedule, beat_crontab, select_due, too_late


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ticks(expr: str, start: datetime, end: datetime, tz: str = "Europe/Paris") -> list[str]:
    schedule = CronSchedule(expr, tz)
    return [schedule.iso(t) for t in schedule.ticks_between(start, end)]


# -- plain cron ---------------------------------------------------------------------------


def test_next_previous_and_latest_are_strict_where_they_say_so() -> None:
    hourly = CronSchedule("0 * * * *")
    ten = utc(2025, 1, 1, 10)
    assert hourly.next_after(ten) == utc(2025, 1, 1, 11)
    assert hourly.previous_before(ten) == utc(2025, 1, 1, 9)
    assert hourly.latest_at(ten) == ten
    assert hourly.latest_at(ten + timedelta(seconds=59)) == ten


def test_ticks_between_is_half_open_and_bounded() -> None:
    every_15 = CronSchedule("*/15 * * * *")
    got = every_15.ticks_between(utc(2025, 1, 1, 10), utc(2025, 1, 1, 11))
    assert got == [utc(2025, 1, 1, 10, m) for m in (15, 30, 45)] + [utc(2025, 1, 1, 11)]
    assert len(every_15.ticks_between(utc(2025, 1, 1), utc(2025, 2, 1), limit=7)) == 7


def test_nicknames_and_seconds() -> None:
    assert CronSchedule("@daily").next_after(utc(2025, 1, 1, 10)) == utc(2025, 1, 2)
    seconds = CronSchedule("*/20 * * * * *", with_seconds=True)
    assert seconds.ticks_between(utc(2025, 1, 1, 10), utc(2025, 1, 1, 10, 1)) == [
        utc(2025, 1, 1, 10, 0, 20), utc(2025, 1, 1, 10, 0, 40), utc(2025, 1, 1, 10, 1),
    ]  # fmt: skip


def test_trigger_variables_are_iso_dates_in_the_schedule_timezone() -> None:
    daily = CronSchedule("0 9 * * *", "Europe/Paris")
    assert daily.variables(utc(2025, 1, 15, 8)) == {
        "date": "2025-01-15T09:00:00+01:00",
        "next": "2025-01-16T09:00:00+01:00",
        "previous": "2025-01-14T09:00:00+01:00",
    }
    assert CronSchedule("0 9 * * *").variables(utc(2025, 1, 15, 9))["date"] == (
        "2025-01-15T09:00:00Z"
    )


# -- daylight saving in Europe/Paris: 2025-03-30 02:00 -> 03:00, 2025-10-26 03:00 -> 02:00 ---

SPRING = (utc(2025, 3, 29, 22, 30), utc(2025, 3, 30, 3, 0))
AUTUMN = (utc(2025, 10, 25, 21, 30), utc(2025, 10, 26, 3, 0))


def test_spring_forward_a_tick_in_the_gap_fires_once_at_the_end_of_the_gap() -> None:
    assert ticks("30 2 * * *", utc(2025, 3, 29), utc(2025, 4, 1)) == [
        "2025-03-29T02:30:00+01:00",
        "2025-03-30T03:00:00+02:00",  # 02:30 does not exist that day: 03:00 local, 01:00Z
        "2025-03-31T02:30:00+02:00",
    ]


def test_spring_forward_hourly_has_no_two_oclock_and_gap_ticks_fold_into_one() -> None:
    assert ticks("0 * * * *", *SPRING) == [
        "2025-03-30T00:00:00+01:00", "2025-03-30T01:00:00+01:00",
        "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00", "2025-03-30T05:00:00+02:00",
    ]  # fmt: skip
    assert ticks("*/30 * * * *", utc(2025, 3, 30, 0, 15), utc(2025, 3, 30, 1, 45)) == [
        "2025-03-30T01:30:00+01:00",
        "2025-03-30T03:00:00+02:00",  # 02:00 and 02:30 are one tick
        "2025-03-30T03:30:00+02:00",
    ]


def test_fall_back_a_fixed_hour_fires_once_in_the_repeated_hour() -> None:
    assert ticks("30 2 * * *", utc(2025, 10, 25), utc(2025, 10, 28)) == [
        "2025-10-25T02:30:00+02:00",
        "2025-10-26T02:30:00+02:00",  # the first pass only (00:30Z), not 01:30Z again
        "2025-10-27T02:30:00+01:00",
    ]


def test_fall_back_an_every_hour_cron_fires_in_both_passes() -> None:
    assert ticks("0 * * * *", *AUTUMN) == [
        "2025-10-26T00:00:00+02:00", "2025-10-26T01:00:00+02:00",
        "2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00",
        "2025-10-26T03:00:00+01:00", "2025-10-26T04:00:00+01:00",
    ]  # fmt: skip
    utc_instants = CronSchedule("0 * * * *", "Europe/Paris").ticks_between(*AUTUMN)
    gaps = {b - a for a, b in zip(utc_instants, utc_instants[1:], strict=False)}
    assert gaps == {timedelta(hours=1)}  # real time: one tick per elapsed hour


def test_fall_back_previous_skips_the_dropped_second_pass() -> None:
    daily = CronSchedule("30 2 * * *", "Europe/Paris")
    assert daily.variables(utc(2025, 10, 27, 1, 30))["previous"] == "2025-10-26T02:30:00+02:00"


# -- which due ticks start ----------------------------------------------------------------

NOW = utc(2025, 1, 1, 12)
DUE = [utc(2025, 1, 1, 9), utc(2025, 1, 1, 10), utc(2025, 1, 1, 11), NOW]


@pytest.mark.parametrize(
    ("policy", "due", "expected"),
    [
        ("ALL", DUE, DUE),
        ("LAST", DUE, [NOW]),
        ("NONE", DUE, [NOW]),
        ("ALL", DUE[:3], DUE[:3]),
        ("LAST", DUE[:3], [DUE[2]]),
        ("NONE", DUE[:3], []),
        ("NONE", [], []),
    ],
)
def test_select_due_by_recover_policy(policy, due, expected) -> None:
    assert select_due(due, NOW, policy=policy, grace=timedelta(seconds=60)) == expected


def test_late_maximum_delay() -> None:
    assert too_late(utc(2025, 1, 1, 11), NOW, timedelta(minutes=30))
    assert not too_late(utc(2025, 1, 1, 11, 45), NOW, timedelta(minutes=30))
    assert not too_late(utc(2020, 1, 1), NOW, None)


def test_beat_crontab_fields_or_none_when_beat_cannot_say_it() -> None:
    assert beat_crontab(CronSchedule("@hourly", "Europe/Paris")) == {
        "minute": "0", "hour": "*", "day_of_month": "*", "month_of_year": "*",
        "day_of_week": "*",
    }  # fmt: skip
    assert beat_crontab(CronSchedule("*/5 * * * * *", with_seconds=True)) is None
    assert beat_crontab(CronSchedule("0 0 L * *")) is None


@pytest.mark.parametrize(
    ("expr", "seconds", "message"),
    [
        ("0 * * * *", False, None),
        ("@weekly", False, None),
        ("0 0 * * * *", False, "expected 5 fields"),
        ("61 * * * *", False, "invalid cron expression"),
        ("0 0 30 2 *", False, "never fires"),
        ("@daily", True, "nicknames have no seconds"),
        ("*/5 * * * * *", True, None),
    ],
)
def test_cron_problems(expr, seconds, message) -> None:
    found = cron_problem(expr, with_seconds=seconds)
    assert (found is None) if message is None else (message in found)


def test_schedule_validate_reports_cron_and_timezone() -> None:
    assert Schedule.validate({"cron": "0 * * * *", "timezone": "Europe/Paris"}) == []
    assert Schedule.validate({"cron": "nope", "timezone": "Mars/Olympus"}) == [
        ("cron", "invalid cron 'nope': expected 5 fields (6 with `withSeconds: true`)"),
        ("timezone", "unknown timezone 'Mars/Olympus'"),
    ]


@pytest.mark.parametrize("cls", [Schedule, Flow, Webhook])
def test_every_trigger_example_is_a_valid_flow(cls) -> None:
    for example in cls.examples:
        spec = parse_flow(example)
        assert spec.triggers[0].type == cls.type


# -- conditions ---------------------------------------------------------------------------

UPSTREAM = {
    "execution": {
        "id": "e1", "namespace": "company.team.sub", "flowId": "load", "state": "SUCCESS",
        "labels": {"env": "prod"}, "outputs": {"rows": 3},
    },
    "flow": {"namespace": "company.other", "id": "listener"},
    "trigger": {"outputs": {"rows": 3}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["SUCCESS"]}, True),
        ({"type": "io.kestra.plugin.core.condition.ExecutionStatusCondition",
          "notIn": ["SUCCESS"]}, False),
        ({"type": "io.kestra.plugin.core.condition.ExecutionFlow",
          "namespace": "company.team.sub", "flowId": "load"}, True),
        ({"type": "io.kestra.core.models.conditions.types.ExecutionFlowCondition",
          "namespace": "company.team", "flowId": "load"}, False),
        ({"type": "io.kestra.plugin.core.condition.ExecutionNamespace",
          "namespace": "company.team"}, False),
        ({"type": "io.kestra.plugin.core.condition.ExecutionNamespace",
          "namespace": "company.team", "comparison": "PREFIX"}, True),
        ({"type": "io.kestra.plugin.core.condition.ExecutionNamespace",
          "namespace": "company", "prefix": True}, True),
        ({"type": "io.kestra.plugin.core.condition.ExecutionNamespace",
          "namespace": "team.sub", "comparison": "SUFFIX"}, True),
        ({"type": "io.kestra.plugin.core.condition.ExecutionLabels",
          "labels": {"env": "prod"}}, True),
        ({"type": "io.kestra.plugin.core.condition.ExecutionLabels",
          "labels": [{"key": "env", "value": "dev"}]}, False),
        ({"type": "io.kestra.plugin.core.condition.ExecutionOutputs",
          "expression": "{{ trigger.outputs.rows > 2 }}"}, True),
        ({"type": "io.kestra.plugin.core.condition.Expression",
          "expression": "{{ execution.state == 'FAILED' }}"}, False),
        ({"type": "io.kestra.plugin.core.condition.Not", "conditions": [
            {"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["FAILED"]}]}, True),
        ({"type": "io.kestra.plugin.core.condition.Or", "conditions": [
            {"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["FAILED"]},
            {"type": "io.kestra.plugin.core.condition.ExecutionFlow",
             "namespace": "company.team.sub", "flowId": "load"}]}, True),
    ],
)  # fmt: skip
def test_execution_conditions(condition, holds) -> None:
    assert conditions.evaluate(condition, UPSTREAM) is holds


def _on(date: str) -> dict:
    return {"trigger": {"date": date}}


@pytest.mark.parametrize(
    ("condition", "date", "holds"),
    [
        ({"type": "io.kestra.plugin.core.condition.DayWeek", "dayOfWeek": "MONDAY"},
         "2025-03-31T02:30:00+02:00", True),
        ({"type": "io.kestra.plugin.core.condition.DayWeekCondition", "dayOfWeek": "MONDAY"},
         "2025-03-30T23:30:00Z", False),  # a Sunday in UTC: the date's own offset counts
        ({"type": "io.kestra.plugin.core.condition.Weekend"}, "2025-03-29T10:00:00Z", True),
        ({"type": "io.kestra.plugin.core.condition.Weekend"}, "2025-03-31T10:00:00Z", False),
        ({"type": "io.kestra.plugin.core.condition.DayWeekInMonth", "dayOfWeek": "MONDAY",
          "dayInMonth": "FIRST"}, "2025-03-03T10:00:00Z", True),
        ({"type": "io.kestra.plugin.core.condition.DayWeekInMonth", "dayOfWeek": "MONDAY",
          "dayInMonth": "LAST"}, "2025-03-31T10:00:00Z", True),
        ({"type": "io.kestra.plugin.core.condition.DayWeekInMonth", "dayOfWeek": "MONDAY",
          "dayInMonth": "LAST"}, "2025-03-24T10:00:00Z", False),
        ({"type": "io.kestra.plugin.core.condition.DateTimeBetween",
          "after": "2025-01-01T00:00:00Z", "before": "2025-02-01T00:00:00Z"},
         "2025-01-15T00:00:00Z", True),
        ({"type": "io.kestra.plugin.core.condition.DateTimeBetween",
          "after": "2025-01-01T00:00:00Z"}, "2024-12-31T23:59:59Z", False),
        ({"type": "io.kestra.plugin.core.condition.TimeBetween", "after": "09:00:00",
          "before": "17:00:00"}, "2025-01-15T16:59:00+01:00", True),
        ({"type": "io.kestra.plugin.core.condition.TimeBetween", "after": "09:00:00+00:00",
          "before": "17:00:00+00:00"}, "2025-01-15T17:30:00+01:00", True),
        ({"type": "io.kestra.plugin.core.condition.TimeBetween", "after": "22:00:00",
          "before": "02:00:00"}, "2025-01-15T01:00:00Z", True),
        ({"type": "io.kestra.plugin.core.condition.TimeBetween", "after": "22:00:00",
          "before": "02:00:00"}, "2025-01-15T12:00:00Z", False),
    ],
)  # fmt: skip
def test_date_conditions_judge_the_trigger_date(condition, date, holds) -> None:
    assert conditions.evaluate(condition, _on(date)) is holds


def test_date_property_and_now_fallback() -> None:
    weekend = {"type": "io.kestra.plugin.core.condition.Weekend"}
    assert conditions.evaluate(weekend, {"now": utc(2025, 3, 29, 12)}) is True
    explicit = {**weekend, "date": "{{ vars.day }}"}
    assert conditions.evaluate(explicit, {"vars": {"day": "2025-03-31T10:00:00Z"}}) is False


def test_unknown_condition_type_raises_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="unknown condition type"):
        conditions.evaluate({"type": "io.kestra.plugin.core.condition.Nope"}, {})
    assert conditions.all_hold([], {}) is True


# -- preconditions ------------------------------------------------------------------------

PRE = {
    "id": "both",
    "flows": [
        {"namespace": "ns", "flowId": "a", "states": ["SUCCESS", "FAILED"]},
        {"namespace": "ns", "flowId": "b", "states": ["SUCCESS"]},
    ],
    "where": [
        {"id": "a-labelled", "filters": [
            {"field": "FLOW_ID", "type": "EQUAL_TO", "value": "a"},
            {"field": "EXPRESSION", "type": "IS_TRUE", "value": "{{ labels.some == 'label' }}"},
        ]},
    ],
}  # fmt: skip


def _ended(flow_id: str, state: str = "SUCCESS") -> dict:
    return {"namespace": "ns", "flowId": flow_id, "state": state, "executionId": flow_id}


def _render_with_label(text: str) -> object:
    from kernel.expressions.render import evaluate

    return evaluate(text, {"labels": {"some": "label"}})


def test_preconditions_fire_once_every_flow_matched_then_reset() -> None:
    state: dict = {}
    fired = []
    for flow_id in ("a", "a", "b", "b"):
        state, fire = preconditions.step(
            PRE, state, _ended(flow_id), now=utc(2025, 1, 1, 10), render=_render_with_label
        )
        fired.append(fire)
    assert fired == [False, False, True, False]  # reset after firing: b alone is not enough
    assert set(state["met"]) == {"flows[1]"}


def test_preconditions_wrong_state_or_expired_window_do_not_count() -> None:
    sliding = {**PRE, "timeWindow": {"type": "SLIDING_WINDOW", "window": "PT1H"}}
    state, _ = preconditions.step(
        sliding, {}, _ended("a"), now=utc(2025, 1, 1, 10), render=_render_with_label
    )
    state, fire = preconditions.step(
        sliding, state, _ended("b"), now=utc(2025, 1, 1, 11, 1), render=_render_with_label
    )
    assert not fire
    assert set(state["met"]) == {"flows[1]"}
    state, fire = preconditions.step(
        PRE, {}, _ended("b", "FAILED"), now=utc(2025, 1, 1, 10), render=_render_with_label
    )
    assert not fire
    assert state["met"] == {}


def test_preconditions_without_reset_keep_firing() -> None:
    keep = {**PRE, "resetOnSuccess": False}
    state: dict = {}
    results = []
    for flow_id in ("a", "b", "b"):
        state, fire = preconditions.step(
            keep, state, _ended(flow_id), now=utc(2025, 1, 1, 10), render=_render_with_label
        )
        results.append(fire)
    assert results == [False, True, True]


def test_duration_window_is_fixed_and_daily_deadline_closes() -> None:
    pre = {"timeWindow": {"type": "DURATION_WINDOW", "window": "PT6H"}}
    assert preconditions.window_start(pre, utc(2025, 1, 1, 13, 5)) == utc(2025, 1, 1, 12)
    deadline = {"timeWindow": {"type": "DAILY_TIME_DEADLINE", "deadline": "09:00:00"}}
    assert preconditions.window_start(deadline, utc(2025, 1, 1, 8)) == utc(2025, 1, 1)
    assert preconditions.window_start(deadline, utc(2025, 1, 1, 10)) is None
