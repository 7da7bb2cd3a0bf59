"""Calendar facts about a month that are known years ahead: they may be used for any forecast horizon."""

from __future__ import annotations

from datetime import date, timedelta

from dateutil.easter import easter


def holy_week(year: int) -> tuple[date, date]:
    """Maundy Thursday and Good Friday, both regular holidays in the Philippines."""
    sunday = easter(year)
    return sunday - timedelta(days=3), sunday - timedelta(days=2)


def is_holy_week_month(year: int, month: int) -> bool:
    return holy_week(year)[0].month == month


def parse_period(value: object) -> tuple[int, int] | None:
    """``YYYY-MM`` or ``YYYY-MM-DD`` (what Odoo sends for a period start) as (year, month); None if neither."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if len(text) == 7:
            day = date.fromisoformat(text + "-01")
        elif len(text) == 10:
            day = date.fromisoformat(text)
        else:
            return None
    except ValueError:
        return None
    return day.year, day.month


def period_of(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift(period: str, months: int) -> str:
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + month - 1 + months
    return period_of(index // 12, index % 12 + 1)


def periods_between(first: str, last: str) -> list[str]:
    out, current = [], first
    while current <= last:
        out.append(current)
        current = shift(current, 1)
    return out
