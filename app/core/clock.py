"""The one clock: every read of the current time in the service comes through here, and
so does the calendar arithmetic done in Beijing time.

- ``now()`` is the current instant, timezone-aware UTC (what the database stores);
  ``now_cn()`` the same instant in Beijing time; ``today()`` the date in Beijing.
- The calendar helpers (months, years, periods, the start and end of a Beijing day) live
  beside it, so "a month later" or "this week" means the same thing everywhere.
- Tests freeze it with ``time-machine`` (which moves the process's own clock); the demo seed
  runs under ``simulated()``, a deterministic clock that starts at the seed's date and moves
  on by a fixed step at each read, so the same inputs give the same demo.

Nothing here imports the rest of the service: migrations may use it.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


class _Simulated:
    """A clock that reads ``start``, then ``start + step``, ``start + 2·step``, …"""

    def __init__(self, start: dt.datetime, step: dt.timedelta) -> None:
        self.current = start.astimezone(UTC)
        self.step = step

    def read(self) -> dt.datetime:
        moment = self.current
        self.current += self.step
        return moment


_simulated: ContextVar[_Simulated | None] = ContextVar("powercredit_simulated_clock", default=None)


def now() -> dt.datetime:
    """The current instant (timezone-aware, UTC)."""
    sim = _simulated.get()
    if sim is not None:
        return sim.read()
    return dt.datetime.now(UTC)


def now_cn() -> dt.datetime:
    """The current instant in Beijing time."""
    return now().astimezone(BEIJING)


def today() -> dt.date:
    """Today's date in Beijing."""
    return now_cn().date()


def to_cn(moment: dt.datetime) -> dt.datetime:
    """``moment`` in Beijing time (a naive value is taken as UTC, as the database keeps it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING)


def format_cn(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``moment`` written in Beijing time; empty for no moment."""
    return "" if moment is None else to_cn(moment).strftime(fmt)


def iso_utc(moment: dt.datetime) -> str:
    """A moment as machines exchange it: UTC, milliseconds, ``Z`` (``2026-11-18T02:00:01.892Z``),
    the one format of webhook payloads and alerts."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextmanager
def simulated(start: dt.datetime, step: dt.timedelta = dt.timedelta(microseconds=100)) -> Iterator[None]:
    """Within the block, the clock starts at ``start`` and moves on by ``step`` at each read,
    whatever the wall clock says: what runs inside depends only on its inputs."""
    if start.tzinfo is None:
        raise ValueError("simulated() needs a timezone-aware start")
    token = _simulated.set(_Simulated(start, step))
    try:
        yield
    finally:
        _simulated.reset(token)


# --- Beijing days -----------------------------------------------------------------------------

def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 Beijing time on ``day``, as a UTC instant."""
    return dt.datetime.combine(day, dt.time.min, BEIJING).astimezone(UTC)


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant (23:59:59.999999) of ``day`` in Beijing, as a UTC instant."""
    return dt.datetime.combine(day, dt.time.max, BEIJING).astimezone(UTC)


def at_cn(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    """``hour``:``minute`` Beijing time on ``day``, as a UTC instant."""
    return dt.datetime.combine(day, dt.time(hour, minute), BEIJING).astimezone(UTC)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday (public holidays are not modelled)."""
    return day.weekday() < 5


# --- calendar arithmetic ------------------------------------------------------------------------

When = TypeVar("When", dt.date, dt.datetime)


def add_months(moment: When, months: int) -> When:
    """A date or time ``months`` calendar months later (or earlier); month ends clamp
    (31 January + 1 month is 28 or 29 February)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def add_years(moment: When, years: int) -> When:
    """``years`` calendar years later (or earlier); 29 February becomes 28 February."""
    return add_months(moment, 12 * years)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def year_start(day: dt.date) -> dt.date:
    return day.replace(month=1, day=1)


PERIOD_UNITS = ("day", "week", "month", "year")


def add_period(moment: When, unit: str, value: int) -> When:
    """``moment`` plus ``value`` days, weeks, months or years (month ends clamp)."""
    if unit == "day":
        return moment + dt.timedelta(days=value)
    if unit == "week":
        return moment + dt.timedelta(weeks=value)
    if unit == "month":
        return add_months(moment, value)
    if unit == "year":
        return add_months(moment, 12 * value)
    raise ValueError(f"unknown period unit {unit!r}")


def period_start(unit: str, moment: dt.datetime) -> dt.datetime:
    """The start of the calendar period (day, week from Monday, month, year; Beijing time)
    that ``moment`` falls in, as a UTC instant."""
    local = to_cn(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        local -= dt.timedelta(days=local.weekday())
    elif unit == "month":
        local = local.replace(day=1)
    elif unit == "year":
        local = local.replace(month=1, day=1)
    elif unit != "day":
        raise ValueError(f"unknown period unit {unit!r}")
    return local.astimezone(UTC)


def next_period_start(unit: str, moment: dt.datetime) -> dt.datetime:
    """The start of the period after the one ``moment`` falls in, as a UTC instant."""
    start = period_start(unit, moment).astimezone(BEIJING).replace(tzinfo=None)
    return add_period(start, unit, 1).replace(tzinfo=BEIJING).astimezone(UTC)
