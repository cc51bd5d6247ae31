"""Cron arithmetic for Schedule triggers: pure (no Django), time always passed in.

Every instant going in or out is timezone-aware; ticks come back in UTC. The expression is
read in the trigger's timezone by croniter, with one house rule on top for daylight saving
(the DST policy, tested on Europe/Paris days in tests/unit/test_trigger_cron.py):

* spring forward (02:00 -> 03:00): a tick whose wall time does not exist fires once, at the
  first instant after the gap (a 02:30 daily job runs at 03:00 that day; an hourly job has
  no 02:00 tick that day, and several ticks inside the gap fold into one);
* fall back (03:00 -> 02:00): a cron whose hour field covers every hour (``*``, ``*/1``,
  ``@hourly``) fires in both passes of the repeated hour, as real elapsed time demands; a
  cron at fixed hours fires only in the first pass (Vixie cron's rule), so a daily 02:30 job
  runs once, not twice.

Which ticks of a late batch actually fire is :func:`select_due`'s job (recoverMissedSchedules).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from plugins.core.triggers import normalize_cron

#: How many ticks one call may return, so a tiny cron after a long outage stays bounded.
DEFAULT_LIMIT = 1000


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: cron arithmetic needs aware instants")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class CronSchedule:
    """A cron expression read in ``timezone`` (5 fields, a nickname, or 6 with seconds first)."""

    expression: str
    timezone: str = "Etc/UTC"
    with_seconds: bool = False

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def text(self) -> str:
        return normalize_cron(self.expression)

    @cached_property
    def every_hour(self) -> bool:
        """True when the hour field covers all 24 hours (both passes of a repeated hour)."""
        fields = self.text.split()
        hour = fields[2] if self.with_seconds else fields[1]
        hours = croniter(f"0 {hour} * * *").expanded[1]
        return hours == ["*"] or len(hours) == 24

    def _iter(self, start: datetime) -> croniter:
        return croniter(self.text, start.astimezone(self.tz), second_at_beginning=self.with_seconds)

    def _repeat(self, tick: datetime) -> bool:
        """A tick in the second pass of a repeated hour that the policy drops."""
        if self.every_hour:
            return False
        local = tick.astimezone(self.tz)
        if local.fold == 0:
            return False
        return local.replace(fold=0).utcoffset() != local.utcoffset()

    def _forward(self, start: datetime) -> Iterator[datetime]:
        it = self._iter(start)
        last: datetime | None = None
        while True:
            tick = to_utc(it.get_next(datetime))
            if self._repeat(tick) or (last is not None and tick <= last):
                continue
            last = tick
            yield tick

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``."""
        moment = to_utc(moment)
        for tick in self._forward(moment):
            if tick > moment:
                return tick
        raise AssertionError("unreachable")  # pragma: no cover

    def previous_before(self, moment: datetime) -> datetime | None:
        """The last tick strictly before ``moment`` (None if croniter finds none)."""
        moment = to_utc(moment)
        it = self._iter(moment)
        for _ in range(DEFAULT_LIMIT):
            try:
                tick = to_utc(it.get_prev(datetime))
            except CroniterBadDateError:
                return None
            if tick < moment and not self._repeat(tick):
                return tick
        return None

    def latest_at(self, moment: datetime) -> datetime | None:
        """The last tick at or before ``moment``."""
        moment = to_utc(moment)
        return self.previous_before(moment + timedelta(microseconds=1))

    def ticks_between(
        self, start: datetime, end: datetime, *, limit: int = DEFAULT_LIMIT
    ) -> list[datetime]:
        """Ticks in (``start``, ``end``], oldest first, at most ``limit`` of them."""
        start, end = to_utc(start), to_utc(end)
        out: list[datetime] = []
        if end <= start:
            return out
        for tick in self._forward(start):
            if tick > end or len(out) >= limit:
                break
            if tick > start:
                out.append(tick)
        return out

    @property
    def signature(self) -> str:
        """What makes two declarations the same series of ticks."""
        return f"{self.text}|{self.timezone}|{int(self.with_seconds)}"

    def iso(self, moment: datetime) -> str:
        """``moment`` as ISO-8601 in the schedule's timezone (``Z`` when that is UTC)."""
        text = moment.astimezone(self.tz).isoformat()
        return text.replace("+00:00", "Z") if self.tz.key in ("UTC", "Etc/UTC") else text

    def variables(self, tick: datetime) -> dict[str, str | None]:
        """``trigger.date``, ``trigger.next`` and ``trigger.previous`` for one tick."""
        previous = self.previous_before(tick)
        return {
            "date": self.iso(tick),
            "next": self.iso(self.next_after(tick)),
            "previous": self.iso(previous) if previous else None,
        }


@dataclass(frozen=True)
class DatesSchedule:
    """A ScheduleOnDates trigger's list of instants, with CronSchedule's interface so the
    same firing code (cursor, unique key per tick, recovery policies) serves both.

    Beat wakes it every minute (``text``) and the 30 s recovery sweep starts a date beat
    has not reached yet, so a date starts within about 30 s of its time.
    """

    dates: tuple[datetime, ...]
    timezone: str = "Etc/UTC"
    with_seconds: bool = False
    #: What beat's crontab sees: every minute.
    text: str = "* * * * *"

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def ticks(self) -> tuple[datetime, ...]:
        return tuple(sorted({to_utc(d) for d in self.dates}))

    @property
    def expression(self) -> str:
        return f"{len(self.ticks)} dates"

    @property
    def signature(self) -> str:
        return "dates:" + ",".join(t.isoformat() for t in self.ticks) + f"|{self.timezone}"

    def next_after(self, moment: datetime) -> datetime | None:
        moment = to_utc(moment)
        return next((t for t in self.ticks if t > moment), None)

    def previous_before(self, moment: datetime) -> datetime | None:
        moment = to_utc(moment)
        return next((t for t in reversed(self.ticks) if t < moment), None)

    def ticks_between(
        self, start: datetime, end: datetime, *, limit: int = DEFAULT_LIMIT
    ) -> list[datetime]:
        start, end = to_utc(start), to_utc(end)
        return [t for t in self.ticks if start < t <= end][:limit]

    iso = CronSchedule.iso

    def variables(self, tick: datetime) -> dict[str, str | None]:
        following, previous = self.next_after(tick), self.previous_before(tick)
        return {
            "date": self.iso(tick),
            "next": self.iso(following) if following else None,
            "previous": self.iso(previous) if previous else None,
        }


def select_due(
    ticks: Sequence[datetime],
    now: datetime,
    *,
    policy: str = "ALL",
    grace: timedelta = timedelta(seconds=60),
) -> list[datetime]:
    """Which of ``ticks`` (all due, oldest first) to start, by ``recoverMissedSchedules``.

    A tick at most ``grace`` old is on time and always starts; older ones were missed (beat
    down, a lost message): ALL starts every one, LAST only the latest (when no tick is on
    time), NONE none.
    """
    on_time = [t for t in ticks if now - t <= grace]
    missed = [t for t in ticks if now - t > grace]
    if policy == "NONE":
        return on_time
    if policy == "LAST":
        return on_time or missed[-1:]
    return [*missed, *on_time]


def too_late(tick: datetime, now: datetime, late_maximum_delay: timedelta | None) -> bool:
    """True when the tick is older than ``lateMaximumDelay`` (when one is set)."""
    return late_maximum_delay is not None and now - tick > late_maximum_delay


def beat_crontab(schedule: CronSchedule | DatesSchedule) -> dict[str, str] | None:
    """Fields for django-celery-beat's CrontabSchedule, or None when beat cannot express the
    expression (seconds, ``L``, ``#``, ``?``): the caller then wakes up more often and the
    firing code, which always asks croniter, decides."""
    if schedule.with_seconds:
        return None
    minute, hour, day_of_month, month, day_of_week = schedule.text.split()
    fields = {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month,
        "day_of_week": day_of_week,
    }
    try:
        from celery.schedules import crontab

        crontab(**fields)
    except (ValueError, TypeError, IndexError):
        return None
    return fields
