"""Schedules when beat goes away or doubles: missed ticks follow recoverMissedSchedules,
and two beats make exactly one execution per tick.

Beat here is the production one (django-celery-beat's DatabaseScheduler, where Schedule
triggers live); the ticks are per second or every two seconds so a test takes seconds.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from executions.models import Execution
from flows.services import flow_delete, flow_deploy
from tests.chaos.common import size, wait_all_terminal
from tests.chaos.conftest import start_fleet
from tests.chaos.report import Row, record
from tests.integration.conftest import wait_for
from tests.integration.harness import purge_broker

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]
GRACE = 1.0  # how late a tick may start and still be on time (production: 60 s)
EVERY = 2  # seconds between ticks
DOWNTIME = size("TRELLIS_CHAOS_BEAT_DOWNTIME", 10)
TWO_BEATS_FOR = size("TRELLIS_CHAOS_TWO_BEATS_SECONDS", 30)  # issue 9: 600


@pytest.fixture
def fleet(django_db_setup, django_db_blocker, transactional_db, tmp_path):  # noqa: ANN201
    with django_db_blocker.unblock():
        purge_broker()
    overrides = json.dumps({"TRELLIS_SCHEDULE_GRACE_SECONDS": GRACE})
    procs = start_fleet(tmp_path, TRELLIS_CHAOS_SETTINGS=overrides)
    try:
        yield procs
    finally:
        procs.stop()


def scheduled(flow_id: str, cron: str, extra: str = "") -> str:
    return f"""
id: {flow_id}
namespace: chaos.beat
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.date }}}}"
triggers:
  - id: tick
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "{cron}"
    withSeconds: true
{extra}"""


def start_beat(fleet, name: str) -> None:  # noqa: ANN001
    fleet.start_beat(name, scheduler=settings.CELERY_BEAT_SCHEDULER)


def stop_beat(fleet, name: str) -> None:  # noqa: ANN001
    fleet.kill(name, signal.SIGTERM)


def ticks_of(flow_id: str) -> list[tuple[datetime, float]]:
    """(scheduled date, seconds late) of each execution of the flow, oldest first."""
    rows = Execution.objects.filter(namespace="chaos.beat", flow_id=flow_id)
    found = []
    for trigger, created in rows.values_list("trigger", "created_at"):
        date = datetime.fromisoformat(trigger["variables"]["date"])
        found.append((date, (created - date).total_seconds()))
    return sorted(found)


def every_tick(first: datetime, last: datetime, step: int) -> list[datetime]:
    out, current = [], first
    while current <= last:
        out.append(current)
        current += timedelta(seconds=step)
    return out


def test_missed_schedules_follow_recover_missed_schedules(fleet) -> None:
    policies = ("ALL", "LAST", "NONE")
    flows = [
        flow_deploy(
            source=scheduled(
                f"missed-{p.lower()}", f"*/{EVERY} * * * * *", f"    recoverMissedSchedules: {p}\n"
            )
        ).flow
        for p in policies
    ]
    start_beat(fleet, "dbbeat")
    wait_for(lambda: all(ticks_of(f"missed-{p.lower()}") for p in policies), timeout=60, poll=0.5)
    stop_beat(fleet, "dbbeat")
    down = timezone.now()
    time.sleep(DOWNTIME)
    up = timezone.now()
    start_beat(fleet, "dbbeat")
    time.sleep(3 * EVERY)
    for flow in flows:
        flow_delete(flow=flow)
    stop_beat(fleet, "dbbeat")
    ids = list(Execution.objects.filter(namespace="chaos.beat").values_list("id", flat=True))
    wait_all_terminal(ids, timeout=60)

    outcome, recovered_after = {}, []
    for policy in policies:
        ticks = ticks_of(f"missed-{policy.lower()}")
        dates = [d for d, _ in ticks]
        assert len(dates) == len(set(dates)), f"{policy}: a tick started twice"
        missed = [t for t in every_tick(dates[0], dates[-1], EVERY) if down < t < up]
        # What beat's first wake-up after the restart started: ticks due by then.
        comeback = [(d, late) for d, late in ticks if d + timedelta(seconds=late) > up]
        first_fire = min(d + timedelta(seconds=late) for d, late in comeback)
        batch = [(d, late) for d, late in comeback if d <= first_fire]
        recovered_after.append((first_fire - up).total_seconds())
        late = sum(1 for _, lateness in batch if lateness > GRACE)
        outcome[policy] = f"{policy} {late} late + {len(batch) - late} on time"
        if policy == "ALL":
            assert dates == every_tick(dates[0], dates[-1], EVERY), "ALL: a tick is missing"
            assert len(batch) >= len(missed) >= DOWNTIME // EVERY - 1
        elif policy == "LAST":
            assert len(batch) == 1, batch  # only the latest due tick
        else:
            assert [late for _, late in batch if late > GRACE] == [], batch  # no late tick
    record(
        Row(
            "beat down, then back: recoverMissedSchedules ALL / LAST / NONE",
            f"3 schedules every {EVERY} s", f"beat stopped for {DOWNTIME} s",
            0, 0, max(recovered_after),
            f"{len(missed)} ticks fell in the downtime; started when beat came back: "
            + ", ".join(outcome.values())
            + " (LAST: only the latest due tick; NONE: only a tick still on time)",
        )
    )  # fmt: skip


def test_two_beats_make_one_execution_per_second(fleet) -> None:
    flow = flow_deploy(source=scheduled("every-second", "* * * * * *")).flow
    start_beat(fleet, "dbbeat-1")
    start_beat(fleet, "dbbeat-2")
    time.sleep(TWO_BEATS_FOR)
    flow_delete(flow=flow)
    stop_beat(fleet, "dbbeat-1")
    stop_beat(fleet, "dbbeat-2")
    ids = list(Execution.objects.filter(flow_id="every-second").values_list("id", flat=True))
    wait_all_terminal(ids, timeout=60)
    dates = [d for d, _ in ticks_of("every-second")]
    doubled = len(dates) - len(set(dates))
    expected = every_tick(dates[0], dates[-1], 1)
    row = record(
        Row(
            "two beat processes, a per-second schedule",
            f"{TWO_BEATS_FOR} s of ticks", "a second beat running the same schedule",
            len(set(expected) - set(dates)), doubled, None,
            f"{len(dates)} executions for {len(expected)} ticks",
        )
    )  # fmt: skip
    assert (row.lost, row.duplicates) == (0, 0)
    assert len(dates) >= TWO_BEATS_FOR - 5
