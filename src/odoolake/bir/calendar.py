"""The BIR filing calendar: what is due for a period, and when, after weekends and PH holidays.

Rules (shared/reference/bir-odoo.md §1.6), each moved to the next working day when it falls on a Saturday,
Sunday or non-working holiday:
- 0619-E: months 1 and 2 of each quarter, the 10th of the following month;
- 1601-EQ (with its QAP): the last day of the month after the quarter;
- 2307 to payees: the 20th day after the quarter;
- 2550Q, 2551Q and SLSP: the 25th day after the quarter;
- 1604-E (with its alphalist): 1 March of the following year.

Holidays are data: the default table comes from the ``holidays`` package (PH), and the user adds declared
non-working days or removes days that were worked (``HolidayTable.with_changes``).
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field
from datetime import date, timedelta


@dataclass(frozen=True)
class HolidayTable:
    days: dict[date, str] = field(default_factory=dict)

    @classmethod
    def philippines(cls, years: range) -> HolidayTable:
        import holidays

        return cls(dict(holidays.country_holidays("PH", years=list(years)).items()))

    def with_changes(self, added: dict[date, str] | None = None, removed: set[date] | None = None) -> HolidayTable:
        days = {d: n for d, n in self.days.items() if d not in (removed or set())}
        days.update(added or {})
        return HolidayTable(days)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.days

    def next_working_day(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


@dataclass(frozen=True)
class Obligation:
    form: str
    period: str  # 2026-01 (month), 2026Q1 (quarter) or 2026 (year)
    statutory_due: date
    due: date  # after weekends and holidays
    description: str

    @property
    def moved(self) -> bool:
        return self.due != self.statutory_due


def _month_end(year: int, month: int) -> date:
    return date(year, month, _cal.monthrange(year, month)[1])


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def obligations_for_year(year: int, table: HolidayTable) -> list[Obligation]:
    """Every EWT, VAT and percentage-tax obligation for the periods of ``year``, in due-date order."""
    out: list[Obligation] = []

    def add(form: str, period: str, statutory: date, text: str) -> None:
        out.append(Obligation(form, period, statutory, table.next_working_day(statutory), text))

    for month in range(1, 13):
        if month % 3:
            y, m = _next_month(year, month)
            add("0619-E", f"{year}-{month:02d}", date(y, m, 10), "Monthly remittance of creditable withholding tax")
    for quarter in range(1, 5):
        end = _month_end(year, quarter * 3)
        y, m = _next_month(year, quarter * 3)
        period = f"{year}Q{quarter}"
        add("1601-EQ", period, _month_end(y, m), "Quarterly EWT return with the QAP alphalist")
        add("2307", period, end + timedelta(days=20), "Certificates of creditable tax withheld, to each payee")
        add("2550Q", period, end + timedelta(days=25), "Quarterly VAT return")
        add("SLSP", period, end + timedelta(days=25), "Summary list of sales and purchases (with the 2550Q)")
        add("2551Q", period, end + timedelta(days=25), "Quarterly percentage tax (non-VAT taxpayers)")
    add("1604-E", str(year), date(year + 1, 3, 1), "Annual information return of EWT with the alphalist")
    return sorted(out, key=lambda o: (o.due, o.form))
