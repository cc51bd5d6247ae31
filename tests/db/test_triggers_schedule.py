"""Schedule triggers: beat entries follow deploys, and each tick starts exactly one execution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django_celery_beat.models import PeriodicTask

from executions.models import Execution
from flows.services import flow_delete, flow_deploy, flow_set_disabled
from kernel.states import State
from triggers import sync
from triggers.models import TriggerFire, TriggerState
from triggers.schedules import fire_tick, live_trigger, recover_schedules, schedule_fire
from triggers.services import stop_after_check, trigger_set_disabled

pytestmark = pytest.mark.django_db

NS, FLOW, TRIGGER = "t.sched", "nightly", "tick"
NAME = f"trellis:{NS}:{FLOW}:{TRIGGER}"
T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)  # a Monday


def source(trigger: str = "", *, extra: str = "") -> str:
    trigger = trigger or '    cron: "0 * * * *"\n'
    return (
        f"id: {FLOW}\nnamespace: {NS}\n{extra}"
        "inputs:\n  - id: day\n    type: STRING\n    defaults: none\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        f"triggers:\n  - id: {TRIGGER}\n    type: io.kestra.plugin.core.trigger.Schedule\n"
        f"{trigger}"
    )


@pytest.fixture
def at(monkeypatch):
    """Set the clock the sync hook reads."""

    def set_clock(moment: datetime) -> datetime:
        monkeypatch.setattr(sync, "clock", lambda: moment)
        return moment

    set_clock(T0)
    return set_clock


def state() -> TriggerState:
    return TriggerState.objects.get(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER)


def fire(moment: datetime) -> list[Execution]:
    return schedule_fire(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, now=moment)


def test_deploy_creates_a_beat_entry_in_the_trigger_timezone(at) -> None:
    flow_deploy(source=source('    cron: "30 2 * * 1-5"\n    timezone: Europe/Paris\n'))
    task = PeriodicTask.objects.get(name=NAME)
    assert task.task == "triggers.tasks.fire_schedule"
    assert json.loads(task.args) == [NS, FLOW, TRIGGER]
    assert task.queue == "executor"
    assert task.enabled
    assert task.interval is None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "2", "1-5")
    assert str(crontab.timezone) == "Europe/Paris"
    assert PeriodicTask.objects.filter(name=sync.RECOVER_NAME).exists()
    st = state()
    assert st.armed
    assert st.cursor == T0
    assert st.next_date == datetime(2025, 1, 7, 1, 30, tzinfo=UTC)  # 02:30 in Paris


def test_update_disable_enable_remove_and_delete_follow_the_flow(at) -> None:
    flow = flow_deploy(source=source()).flow
    flow_deploy(source=source('    cron: "15 * * * *"\n'))
    assert PeriodicTask.objects.get(name=NAME).crontab.minute == "15"
    assert state().cursor == T0  # a redeploy keeps the cursor

    flow_set_disabled(flow=flow, disabled=True)
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    assert not state().armed
    assert state().next_date is None
    later = at(T0 + timedelta(hours=5))
    flow_set_disabled(flow=flow, disabled=False)
    assert PeriodicTask.objects.filter(name=NAME).exists()
    assert state().cursor == later  # the silenced hours are not replayed

    no_trigger = source().split("triggers:")[0]
    flow_deploy(source=no_trigger)
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    assert not TriggerState.objects.filter(namespace=NS).exists()

    flow_deploy(source=source())
    flow_delete(flow=flow)
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    assert not TriggerState.objects.filter(namespace=NS).exists()


def test_a_disabled_trigger_has_no_beat_entry(at) -> None:
    flow_deploy(source=source('    cron: "0 * * * *"\n    disabled: true\n'))
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    assert fire(T0 + timedelta(hours=3)) == []


def test_seconds_and_beat_inexpressible_crons_wake_more_often(at) -> None:
    flow_deploy(source=source('    cron: "*/10 * * * * *"\n    withSeconds: true\n'))
    task = PeriodicTask.objects.get(name=NAME)
    assert (task.interval.every, task.interval.period, task.crontab) == (1, "seconds", None)
    flow_deploy(source=source('    cron: "0 0 L * *"\n'))
    crontab = PeriodicTask.objects.get(name=NAME).crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month) == ("*", "*", "*")


def test_a_tick_starts_one_execution_with_trigger_variables(at) -> None:
    flow_deploy(
        source=source(
            '    cron: "0 * * * *"\n    inputs:\n      day: "{{ trigger.date }}"\n'
            "    labels:\n      origin: \"cron-{{ trigger.date | date('HH') }}\"\n"
        )
    )
    [execution] = fire(datetime(2025, 1, 6, 10, 0, 4, tzinfo=UTC))
    assert execution.trigger == {
        "id": TRIGGER,
        "type": "io.kestra.plugin.core.trigger.Schedule",
        "variables": {
            "date": "2025-01-06T10:00:00Z",
            "next": "2025-01-06T11:00:00Z",
            "previous": "2025-01-06T09:00:00Z",
        },
    }
    assert execution.inputs == {"day": "2025-01-06T10:00:00Z"}
    assert execution.labels["origin"] == "cron-10"
    st = state()
    assert st.cursor == datetime(2025, 1, 6, 10, tzinfo=UTC)
    assert st.last_execution_id == execution.id
    assert st.next_date == datetime(2025, 1, 6, 11, tzinfo=UTC)


def test_a_duplicated_tick_starts_nothing_more(at) -> None:
    flow_deploy(source=source())
    moment = datetime(2025, 1, 6, 10, 0, 2, tzinfo=UTC)
    assert len(fire(moment)) == 1
    assert fire(moment) == []  # the same beat message delivered twice
    TriggerState.objects.update(cursor=T0)  # a second beat that has not seen the first
    assert fire(moment) == []
    flow, spec, trigger = live_trigger(NS, FLOW, TRIGGER)
    tick = datetime(2025, 1, 6, 10, tzinfo=UTC)
    assert fire_tick(flow, spec, trigger, tick) is None  # the unique key decides
    assert Execution.objects.count() == 1
    assert TriggerFire.objects.get().scheduled_date == tick


@pytest.mark.parametrize(("policy", "expected"), [("ALL", 3), ("LAST", 1), ("NONE", 0)])
def test_missed_ticks_follow_recover_missed_schedules(at, policy, expected) -> None:
    flow_deploy(source=source(f'    cron: "0 * * * *"\n    recoverMissedSchedules: {policy}\n'))
    started = fire(datetime(2025, 1, 6, 12, 30, tzinfo=UTC))  # 10:00, 11:00, 12:00 missed
    assert len(started) == expected
    assert state().cursor == datetime(2025, 1, 6, 12, tzinfo=UTC)
    assert fire(datetime(2025, 1, 6, 12, 31, tzinfo=UTC)) == []


def test_late_maximum_delay_skips_late_ticks(at) -> None:
    flow_deploy(source=source('    cron: "0 * * * *"\n    lateMaximumDelay: PT10M\n'))
    started = fire(datetime(2025, 1, 6, 11, 5, tzinfo=UTC))
    assert [e.trigger["variables"]["date"] for e in started] == ["2025-01-06T11:00:00Z"]


def test_false_conditions_consume_the_tick(at) -> None:
    flow_deploy(
        source=source(
            '    cron: "0 10 * * *"\n    conditions:\n'
            "      - type: io.kestra.plugin.core.condition.Weekend\n"
        )
    )
    assert fire(datetime(2025, 1, 6, 10, 0, 1, tzinfo=UTC)) == []  # Monday
    assert state().cursor == datetime(2025, 1, 6, 10, tzinfo=UTC)
    [saturday] = fire(datetime(2025, 1, 11, 10, 0, 1, tzinfo=UTC))
    assert saturday.trigger["variables"]["date"] == "2025-01-11T10:00:00Z"


def test_redeploy_neither_skips_nor_doubles_the_next_tick(at) -> None:
    flow_deploy(source=source())
    assert len(fire(datetime(2025, 1, 6, 10, 0, 1, tzinfo=UTC))) == 1
    at(datetime(2025, 1, 6, 10, 30, tzinfo=UTC))
    flow_deploy(source=source(extra="description: changed\n"))
    assert state().next_date == datetime(2025, 1, 6, 11, tzinfo=UTC)
    assert len(fire(datetime(2025, 1, 6, 11, 0, 1, tzinfo=UTC))) == 1
    dates = sorted(e.trigger["variables"]["date"] for e in Execution.objects.all())
    assert dates == ["2025-01-06T10:00:00Z", "2025-01-06T11:00:00Z"]


def test_redeploy_after_missed_ticks_recovers_them_after_commit(
    at, django_capture_on_commit_callbacks
) -> None:
    flow_deploy(source=source())
    at(datetime(2025, 1, 6, 12, 30, tzinfo=UTC))
    with django_capture_on_commit_callbacks() as callbacks:
        flow_deploy(source=source(extra="description: changed\n"))
    assert len(callbacks) == 1  # fire_schedule queued: ticks went by while nobody fired


def test_recovery_sweep_fires_overdue_schedules(at) -> None:
    flow_deploy(source=source())
    assert recover_schedules(datetime(2025, 1, 6, 9, 59, 59, tzinfo=UTC)) == 0
    assert recover_schedules(datetime(2025, 1, 6, 10, 0, 20, tzinfo=UTC)) == 1  # on time
    assert recover_schedules(datetime(2025, 1, 6, 10, 6, tzinfo=UTC)) == 0
    assert recover_schedules(datetime(2025, 1, 6, 13, 6, tzinfo=UTC)) == 3  # beat was down


def test_operator_switch_survives_redeploys(at) -> None:
    flow_deploy(source=source())
    trigger_set_disabled(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, disabled=True)
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    flow_deploy(source=source(extra="description: changed\n"))
    assert state().disabled
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    assert fire(datetime(2025, 1, 6, 10, 0, 1, tzinfo=UTC)) == []
    at(datetime(2025, 1, 6, 11, 30, tzinfo=UTC))
    trigger_set_disabled(namespace=NS, flow_id=FLOW, trigger_id=TRIGGER, disabled=False)
    assert PeriodicTask.objects.filter(name=NAME).exists()
    assert state().next_date == datetime(2025, 1, 6, 12, tzinfo=UTC)


def test_stop_after_disables_the_trigger(at) -> None:
    flow_deploy(source=source('    cron: "0 * * * *"\n    stopAfter: [FAILED]\n'))
    [execution] = fire(datetime(2025, 1, 6, 10, 0, 1, tzinfo=UTC))
    execution.state = State.SUCCESS
    assert stop_after_check(execution) is False
    execution.state = State.FAILED
    assert stop_after_check(execution) is True
    st = state()
    assert st.disabled
    assert st.disabled_reason.startswith("stopAfter")
    assert not PeriodicTask.objects.filter(name=NAME).exists()


def test_a_changed_cron_starts_a_new_series_from_the_deploy(at) -> None:
    flow_deploy(source=source())
    at(datetime(2025, 1, 6, 10, 30, tzinfo=UTC))
    flow_deploy(source=source('    cron: "15 * * * *"\n'))
    st = state()
    assert st.cursor == datetime(2025, 1, 6, 10, 30, tzinfo=UTC)  # 10:15 never existed
    assert st.next_date == datetime(2025, 1, 6, 11, 15, tzinfo=UTC)
    assert fire(datetime(2025, 1, 6, 10, 45, tzinfo=UTC)) == []


def test_sync_all_repairs_beat_tables(at) -> None:
    from django.core.management import call_command

    flow_deploy(source=source())
    PeriodicTask.objects.filter(name=NAME).delete()
    call_command("trigger", "sync", stdout=StringIO())
    assert PeriodicTask.objects.filter(name=NAME).exists()


def test_admin_lists_states_and_disables_through_the_service(at, client, superuser) -> None:
    flow_deploy(source=source())
    client.force_login(superuser)
    page = client.get("/admin/triggers/triggerstate/")
    assert page.status_code == 200
    assert NS in page.content.decode()
    response = client.post(
        "/admin/triggers/triggerstate/",
        {"action": "disable", "_selected_action": [state().pk]},
    )
    assert response.status_code == 302
    assert state().disabled
    assert not PeriodicTask.objects.filter(name=NAME).exists()
    assert client.get("/admin/triggers/triggerfire/").status_code == 200


@pytest.mark.parametrize(
    ("deployed_at", "fired_at", "expected"),
    [
        # Spring forward in Paris (2025-03-30, 02:00 -> 03:00): 02:30 does not exist that day;
        # the tick fires once, at 03:00 local (01:00Z).
        (datetime(2025, 3, 29, 12, tzinfo=UTC), datetime(2025, 3, 31, 12, tzinfo=UTC),
         ["2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00"]),
        # Fall back (2025-10-26, 03:00 -> 02:00): 02:30 happens twice; it fires once.
        (datetime(2025, 10, 25, 12, tzinfo=UTC), datetime(2025, 10, 27, 12, tzinfo=UTC),
         ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"]),
    ],
)  # fmt: skip
def test_daylight_saving_days_fire_each_daily_tick_once(
    at, deployed_at, fired_at, expected
) -> None:
    at(deployed_at)
    flow_deploy(source=source('    cron: "30 2 * * *"\n    timezone: Europe/Paris\n'))
    moment = deployed_at
    while moment < fired_at:  # the recovery sweep every 30 minutes, as beat would
        moment += timedelta(minutes=30)
        recover_schedules(moment)
    fire(fired_at)  # a duplicated late wake-up starts nothing more
    dates = [e.trigger["variables"]["date"] for e in Execution.objects.order_by("created_at")]
    assert dates == expected


def test_clock_jumps_neither_double_nor_lose_a_tick(at) -> None:
    """A beat whose clock steps back (NTP), two beats whose clocks disagree by 40 s, and a
    clock that leaps three hours ahead (a resumed VM): each tick starts exactly once."""
    ten = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
    at(ten - timedelta(minutes=1))
    flow_deploy(source=source('    cron: "*/15 * * * *"\n'))

    assert len(fire(ten + timedelta(seconds=2))) == 1  # 10:00
    assert fire(ten - timedelta(seconds=10)) == []  # the clock stepped back
    assert fire(ten + timedelta(seconds=3)) == []  # and forward again over the same tick
    late_beat, early_beat = (
        ten + timedelta(minutes=15, seconds=1),
        ten + timedelta(minutes=15, seconds=41),
    )
    assert len(fire(late_beat)) == 1  # 10:15, from the beat whose clock is behind
    TriggerState.objects.update(cursor=ten)  # the other beat never saw that fire
    assert fire(early_beat) == []  # the unique key decides
    leap = fire(ten + timedelta(hours=3, minutes=1))  # 10:30 ... 13:00 missed, ALL by default
    assert len(leap) == 11

    dates = sorted(e.trigger["variables"]["date"] for e in Execution.objects.all())
    assert len(dates) == len(set(dates)) == 13
    assert dates[0] == "2025-01-06T10:00:00Z"
    assert dates[-1] == "2025-01-06T13:00:00Z"


def dates_source(dates: str, extra: str = "") -> str:
    return (
        f"id: {FLOW}\nnamespace: {NS}\ntasks:\n  - id: a\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
        f"triggers:\n  - id: {TRIGGER}\n    type: io.kestra.plugin.core.trigger.ScheduleOnDates\n"
        f"    timezone: Europe/Paris\n    dates:\n{dates}{extra}"
    )


def test_schedule_on_dates_starts_each_date_once(at) -> None:
    at(datetime(2025, 1, 6, 8, 0, tzinfo=UTC))
    flow_deploy(
        source=dates_source(
            "      - 2025-01-06T07:00:00+00:00\n"  # before the deploy: never existed
            "      - 2025-01-06T10:00:00\n"  # Paris time: 09:00 UTC
            "      - 2025-01-06T12:30:00Z\n"
        )
    )
    entry = PeriodicTask.objects.get(name=NAME)
    assert (entry.crontab.minute, entry.crontab.hour) == ("*", "*")
    assert state().next_date == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

    assert fire(datetime(2025, 1, 6, 8, 59, tzinfo=UTC)) == []
    [first] = fire(datetime(2025, 1, 6, 9, 0, 20, tzinfo=UTC))
    assert fire(datetime(2025, 1, 6, 9, 0, 40, tzinfo=UTC)) == []  # the same date, once
    assert first.trigger["variables"] == {
        "date": "2025-01-06T10:00:00+01:00",
        "next": "2025-01-06T13:30:00+01:00",
        "previous": "2025-01-06T08:00:00+01:00",
    }
    [last] = fire(datetime(2025, 1, 6, 12, 31, tzinfo=UTC))
    assert last.trigger["variables"]["next"] is None
    assert state().next_date is None
    assert fire(datetime(2026, 1, 1, tzinfo=UTC)) == []
    assert recover_schedules(datetime(2026, 1, 1, tzinfo=UTC)) == 0


def test_schedule_on_dates_recovers_missed_dates_by_policy(at) -> None:
    at(datetime(2025, 1, 6, 8, 0, tzinfo=UTC))
    flow_deploy(
        source=dates_source(
            "      - 2025-01-06T09:00:00Z\n      - 2025-01-06T09:30:00Z\n",
            "    recoverMissedSchedules: LAST\n",
        )
    )

    started = fire(datetime(2025, 1, 6, 11, 0, tzinfo=UTC))  # beat was down for both

    assert [e.trigger["variables"]["date"] for e in started] == ["2025-01-06T10:30:00+01:00"]


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        ("      - tomorrow\n", "not an ISO-8601 date-time: 'tomorrow'"),
        ("      []\n", "`dates` must list at least one date-time"),
    ],
)
def test_schedule_on_dates_refuses_bad_dates_at_deploy(at, dates, message) -> None:
    from kernel.spec.model import SpecError

    source = dates_source("").replace(
        "    dates:\n", "    dates:" + (" []\n" if "[]" in dates else "\n" + dates)
    )
    with pytest.raises(SpecError, match=message):
        flow_deploy(source=source)
    assert not PeriodicTask.objects.filter(name=NAME).exists()
