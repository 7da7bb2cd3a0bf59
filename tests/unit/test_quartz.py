"""Quartz expressions against next fire times worked out by hand from a calendar (Nov-Dec 2026)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from odoolake.workspace.jobs.quartz import QuartzError, fire_times, next_fire, to_croniter

MANILA = ZoneInfo("Asia/Manila")
BASE = datetime(2026, 11, 26, 12, 0, tzinfo=MANILA)  # a Thursday

CASES = [
    # expression, timezone, the next two fire times (local)
    ("0 0 2 1 * ?", "Asia/Manila", [datetime(2026, 12, 1, 2, 0), datetime(2027, 1, 1, 2, 0)]),  # the seed's bir_etl
    ("0 15 10 ? * MON-FRI", "Asia/Manila", [datetime(2026, 11, 27, 10, 15), datetime(2026, 11, 30, 10, 15)]),
    ("0 0/30 * * * ?", "Asia/Manila", [datetime(2026, 11, 26, 12, 30), datetime(2026, 11, 26, 13, 0)]),
    ("0 0 8 ? * 2", "Asia/Manila", [datetime(2026, 11, 30, 8, 0), datetime(2026, 12, 7, 8, 0)]),  # 2 = Monday
    ("0 0 8 ? * 1,7", "Asia/Manila", [datetime(2026, 11, 28, 8, 0), datetime(2026, 11, 29, 8, 0)]),  # Sat, Sun
    ("0 0 12 ? * 6L", "Asia/Manila", [datetime(2026, 11, 27, 12, 0), datetime(2026, 12, 25, 12, 0)]),  # last Fri
    ("0 0 9 ? * 2#1", "Asia/Manila", [datetime(2026, 12, 7, 9, 0), datetime(2027, 1, 4, 9, 0)]),  # 1st Monday
    ("0 0 12 L * ?", "Asia/Manila", [datetime(2026, 11, 30, 12, 0), datetime(2026, 12, 31, 12, 0)]),
    ("0 0 12 15W * ?", "Asia/Manila", [datetime(2026, 12, 15, 12, 0), datetime(2027, 1, 15, 12, 0)]),
    ("0 0 2 1 * ? 2027", "Asia/Manila", [datetime(2027, 1, 1, 2, 0), datetime(2027, 2, 1, 2, 0)]),  # year field
]


@pytest.mark.parametrize(("expression", "tz", "expected"), CASES)
def test_next_fire_times(expression, tz, expected):
    it = fire_times(expression, tz, BASE)
    got = [next(it).astimezone(ZoneInfo(tz)).replace(tzinfo=None) for _ in expected]
    assert got == expected


def test_time_zone_matters():
    utc = next(fire_times("0 0 2 1 * ?", "UTC", BASE)).astimezone(MANILA)
    assert utc == datetime(2026, 12, 1, 10, 0, tzinfo=MANILA)  # 02:00 UTC is 10:00 in Manila


@pytest.mark.parametrize(("expression", "problem"), [
    ("0 0 2 1 * *", "exactly one of"),
    ("0 0 2 ? * ?", "exactly one of"),
    ("0 0 2 1 *", "6 or 7 fields"),
    ("0 0 25 1 * ?", "out of range"),
    ("0 0 12 LW * ?", "not supported locally"),
    ("0 0 12 ? * 9", "day-of-week"),
])
def test_invalid_expressions_name_the_problem(expression, problem):
    with pytest.raises(QuartzError, match=problem):
        to_croniter(expression)


@pytest.mark.parametrize("expression", ["0 0 0 30 2 ?", "0 0 0 31 4 ?", "0 0 2 1 * ? 2025"])
def test_expressions_that_never_fire_again_are_named(expression):
    with pytest.raises(QuartzError, match="never fires after 2026-11-26 12:00 Asia/Manila"):
        next_fire(expression, "Asia/Manila", BASE)
    assert list(fire_times(expression, "Asia/Manila", BASE)) == []  # the iterator ends; croniter's error stays inside


def test_the_last_fire_of_a_year_bounded_expression_then_the_end():
    fires = list(fire_times("0 0 2 1 * ? 2027", "Asia/Manila", BASE))
    assert len(fires) == 12 and fires[-1].replace(tzinfo=None) == datetime(2027, 12, 1, 2, 0)
    assert next_fire("0 0 0 29 2 ?", "Asia/Manila", BASE).replace(tzinfo=None) == datetime(2028, 2, 29, 0, 0)


def test_the_hour_daylight_saving_time_repeats_fires_each_wall_time_once_as_quartz():
    """New York falls back on 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST: 01:00–01:59 happens twice. Quartz
    steps through wall-clock fields, so each wall time fires once, at its first occurrence (UTC worked by hand)."""
    from datetime import UTC
    from itertools import islice

    def utc(expression: str, start: datetime, n: int) -> list[str]:
        return [f.astimezone(UTC).strftime("%m-%d %H:%M") for f in islice(
            fire_times(expression, "America/New_York", start), n)]

    # A daily 01:30 runs once that night: 05:30 UTC (01:30 EDT), not again at 06:30 UTC (01:30 EST).
    assert utc("0 30 1 * * ?", datetime(2026, 10, 31, 12, tzinfo=UTC), 3) == ["11-01 05:30", "11-02 06:30",
                                                                                  "11-03 06:30"]
    # Every 30 minutes: 00:30, 01:00, 01:30 EDT, then the repeated 01:00 and 01:30 EST are skipped, then 02:00 EST.
    assert utc("0 0/30 * * * ?", datetime(2026, 11, 1, 4, 15, tzinfo=UTC), 5) == [
        "11-01 04:30", "11-01 05:00", "11-01 05:30", "11-01 07:00", "11-01 07:30"]
    # Manila keeps no daylight saving time: nothing is skipped.
    manila = [f.astimezone(UTC).strftime("%m-%d %H:%M") for f in islice(
        fire_times("0 30 1 * * ?", "Asia/Manila", datetime(2026, 10, 31, 12, tzinfo=UTC)), 2)]
    assert manila == ["10-31 17:30", "11-01 17:30"]
