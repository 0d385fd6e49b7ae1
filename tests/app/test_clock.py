"""The one clock (``app.core.clock``): Beijing days and calendar arithmetic at their edges,
the simulated clock the demo runs on, and the rule that the service reads the time through
it and nowhere else."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
import time_machine

from app.core import clock

ROOT = Path(__file__).resolve().parents[2]


def test_today_is_beijing_s_day_not_utc_s():
    # 16:30 UTC on 31 December is already 1 January in Beijing.
    with time_machine.travel(dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC), tick=False):
        assert clock.today() == dt.date(2026, 1, 1)
        assert clock.now() == dt.datetime(2025, 12, 31, 16, 30, tzinfo=dt.UTC)
        assert clock.now_cn().isoformat() == "2026-01-01T00:30:00+08:00"
    with time_machine.travel(dt.datetime(2025, 12, 31, 15, 59, 59, tzinfo=dt.UTC), tick=False):
        assert clock.today() == dt.date(2025, 12, 31)


def test_the_suite_runs_on_its_own_calendar():
    # tests/conftest.py freezes the clock on 18 November 2026 (ticking on from 10:00 Beijing).
    assert clock.today() == dt.date(2026, 11, 18)
    assert dt.date.today() == dt.date(2026, 11, 18)


@pytest.mark.parametrize(("day", "months", "expected"), [
    (dt.date(2025, 1, 31), 1, dt.date(2025, 2, 28)),
    (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),
    (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
    (dt.date(2025, 12, 31), 1, dt.date(2026, 1, 31)),
    (dt.date(2026, 1, 1), -1, dt.date(2025, 12, 1)),
    (dt.date(2025, 3, 31), -1, dt.date(2025, 2, 28)),
    (dt.date(2025, 5, 15), -17, dt.date(2023, 12, 15)),
])
def test_add_months_clamps_month_ends(day, months, expected):
    assert clock.add_months(day, months) == expected


def test_add_years_on_29_february():
    assert clock.add_years(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert clock.add_years(dt.date(2024, 2, 29), -4) == dt.date(2020, 2, 29)
    assert clock.add_years(dt.date(2024, 2, 29), -5) == dt.date(2019, 2, 28)
    moment = dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)
    assert clock.add_years(moment, 3) == dt.datetime(2027, 2, 28, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(("unit", "value", "expected"), [
    ("day", 1, dt.datetime(2025, 1, 1, 3, tzinfo=dt.UTC)),
    ("week", 2, dt.datetime(2025, 1, 14, 3, tzinfo=dt.UTC)),
    ("month", 2, dt.datetime(2025, 2, 28, 3, tzinfo=dt.UTC)),
    ("year", 1, dt.datetime(2025, 12, 31, 3, tzinfo=dt.UTC)),
])
def test_add_period(unit, value, expected):
    assert clock.add_period(dt.datetime(2024, 12, 31, 3, tzinfo=dt.UTC), unit, value) == expected


def test_add_period_refuses_an_unknown_unit():
    with pytest.raises(ValueError, match="fortnight"):
        clock.add_period(dt.date(2025, 1, 1), "fortnight", 1)


def test_periods_start_at_beijing_midnight():
    # Wednesday 1 January 2025, 00:30 Beijing = 31 December 2024, 16:30 UTC.
    moment = dt.datetime(2024, 12, 31, 16, 30, tzinfo=dt.UTC)
    midnight = dt.datetime(2024, 12, 31, 16, 0, tzinfo=dt.UTC)  # 1 January 00:00 Beijing
    assert clock.period_start("day", moment) == midnight
    assert clock.period_start("month", moment) == midnight
    assert clock.period_start("year", moment) == midnight
    assert clock.period_start("week", moment) == dt.datetime(2024, 12, 29, 16, 0, tzinfo=dt.UTC)  # Monday 30 Dec
    assert clock.next_period_start("day", moment) == dt.datetime(2025, 1, 1, 16, 0, tzinfo=dt.UTC)
    assert clock.next_period_start("week", moment) == dt.datetime(2025, 1, 5, 16, 0, tzinfo=dt.UTC)
    assert clock.next_period_start("month", moment) == dt.datetime(2025, 1, 31, 16, 0, tzinfo=dt.UTC)
    assert clock.next_period_start("year", moment) == dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)
    feb = dt.datetime(2024, 2, 10, tzinfo=dt.UTC)
    assert clock.next_period_start("month", feb) == dt.datetime(2024, 2, 29, 16, 0, tzinfo=dt.UTC)


def test_days_and_month_bounds():
    assert clock.start_of_day(dt.date(2025, 1, 1)) == dt.datetime(2024, 12, 31, 16, tzinfo=dt.UTC)
    end = clock.end_of_day(dt.date(2024, 2, 29))
    assert clock.to_cn(end).date() == dt.date(2024, 2, 29) and clock.to_cn(end + dt.timedelta(microseconds=1)).date() \
        == dt.date(2024, 3, 1)
    assert clock.month_end(dt.date(2024, 2, 3)) == dt.date(2024, 2, 29)
    assert clock.month_end(dt.date(2025, 12, 3)) == dt.date(2025, 12, 31)
    assert clock.month_start(dt.date(2025, 12, 3)) == dt.date(2025, 12, 1)
    assert clock.year_start(dt.date(2025, 12, 3)) == dt.date(2025, 1, 1)
    assert clock.format_cn(dt.datetime(2025, 12, 31, 16, 5, tzinfo=dt.UTC)) == "2026-01-01 00:05"
    assert clock.format_cn(None) == ""
    assert clock.is_working_day(dt.date(2026, 11, 20)) and not clock.is_working_day(dt.date(2026, 11, 21))


def test_the_simulated_clock_depends_on_nothing_but_its_start():
    start = dt.datetime(2024, 2, 29, 9, tzinfo=clock.BEIJING)
    with clock.simulated(start, step=dt.timedelta(seconds=1)):
        reads = [clock.now() for _ in range(3)]
        assert clock.today() == dt.date(2024, 2, 29)
    assert reads == [start, start + dt.timedelta(seconds=1), start + dt.timedelta(seconds=2)]
    assert all(r.tzinfo is dt.UTC for r in reads)
    assert clock.today() == dt.date(2026, 11, 18)  # the block is over: back to the suite's clock
    with pytest.raises(ValueError, match="timezone-aware"), clock.simulated(dt.datetime(2024, 2, 29, 9)):
        pass


# --- the service reads the time through the clock, and only there ----------------------------

FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                   ("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"),
                   ("time", "ctime"), ("func", "now"), ("func", "current_date"), ("func", "current_timestamp"),
                   ("func", "localtimestamp")}
# Names that read the clock when imported on their own (``from time import time``).
FORBIDDEN_IMPORTS = {("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"),
                     ("time", "ctime")}
# app/core/ratelimit.py sweeps the rate limiter's in-memory counters on the limits library's own
# clock (time.time), which must agree with the expiries that library wrote.
ALLOWED = {("app/core/ratelimit.py", "time.time")}


def _direct_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found += [f"from {node.module} import {a.name}" for a in node.names
                      if (node.module, a.name) in FORBIDDEN_IMPORTS]
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value.attr if isinstance(func.value, ast.Attribute) else getattr(func.value, "id", "")
            if (owner, func.attr) in FORBIDDEN_CALLS:
                found.append(f"{owner}.{func.attr}")
        if isinstance(func, ast.Name | ast.Attribute) and getattr(func, "id", getattr(func, "attr", "")) == "ZoneInfo":
            found.append("ZoneInfo")
    return found


def test_the_service_reads_the_time_only_through_the_clock():
    offenders = []
    for package in ("app", "consent", "reports", "marketplace", "migrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "app/core/clock.py":
                continue
            offenders += [f"{rel}: {call}" for call in _direct_reads(path) if (rel, call) not in ALLOWED]
    assert not offenders, "read the time through app.core.clock: " + "; ".join(offenders)


def test_the_check_finds_a_direct_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import datetime as dt, time\nfrom zoneinfo import ZoneInfo\n"
                      "a = dt.datetime.now(dt.UTC)\nb = dt.date.today()\nc = time.time()\nd = ZoneInfo('Asia/Shanghai')\n"
                      "e = sa.func.now()\nf = time.localtime()\n")
    assert _direct_reads(sample) == ["datetime.now", "date.today", "time.time", "ZoneInfo", "func.now", "time.localtime"]
    other = tmp_path / "other.py"
    other.write_text("from time import time as wall\nx = wall()\n")
    assert _direct_reads(other) == ["from time import time"]


def test_migrations_import_no_services():
    for path in sorted((ROOT / "migrations").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    assert not name.startswith(("consent", "reports", "marketplace")) and not name.endswith("services"), \
                        f"{path.name} imports {name}"
