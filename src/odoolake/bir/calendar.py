"""The BIR filing calendar: what is due for a period, and when, after weekends and PH holidays.

Rules (statutory dates; each moves to the next working day when it falls on a Saturday, Sunday or non-working
holiday):
- 0619-E and 0619-F (months 1 and 2 of each quarter): the 10th of the following month (RMC 73-2018); eFPS filers
  file by industry group, group A on the 15th down to group E on the 11th (RR 26-2002);
- 1601-EQ (with its QAP) and 1601-FQ (with its QAP): the last day of the month after the quarter;
- 2307 to payees: the 20th day after the quarter (RR 2-98 Sec. 2.58(B));
- 2550Q, 2551Q and the SLSP: the 25th day after the quarter (RMC 5-2023);
- 1604-F and the 2306 certificates: 31 January of the following year; 1604-E: 1 March (RMC 62-2023).

``obligations_for_year`` lists the obligations of a year's periods; ``obligations_due_in`` those falling due in a
year, so the annual returns and last quarter's returns of the prior year are there too (the 1604-E for 2025 is due
2 March 2026). Holidays are data: the default table comes from the ``holidays`` package (PH), and the user adds
declared non-working days or removes days that were worked (``HolidayTable.with_changes``).
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

REMITTANCE_DAY = 10  # 0619-E / 0619-F: the 10th of the month after (manual and eBIRForms filers)


class EfpsGroup(StrEnum):
    """eFPS industry groups (RR 26-2002) and the day of the month their monthly withholding returns are due."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"

    @property
    def day(self) -> int:
        return {"A": 15, "B": 14, "C": 13, "D": 12, "E": 11}[self.value]


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

    def months(self) -> set[str]:
        """The months (YYYY-MM) the obligation reports on."""
        if "Q" in self.period:
            year, quarter = int(self.period[:4]), int(self.period[-1])
            return {f"{year}-{m:02d}" for m in range(3 * quarter - 2, 3 * quarter + 1)}
        if len(self.period) == 4:
            return {f"{self.period}-{m:02d}" for m in range(1, 13)}
        return {self.period}


def _month_end(year: int, month: int) -> date:
    return date(year, month, _cal.monthrange(year, month)[1])


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def remittance_due(year: int, month: int, efps: EfpsGroup | None = None) -> date:
    """Statutory due date of the tax withheld in a month: the 0619-E/F day for months 1-2 of a quarter, the
    1601-EQ/FQ deadline (last day of the next month) for month 3."""
    y, m = _next_month(year, month)
    if month % 3 == 0:
        return _month_end(y, m)
    return date(y, m, efps.day if efps else REMITTANCE_DAY)


def obligations_for_year(year: int, table: HolidayTable, efps: EfpsGroup | None = None) -> list[Obligation]:
    """Every withholding, VAT and percentage-tax obligation for the periods of ``year``, in due-date order."""
    out: list[Obligation] = []

    def add(form: str, period: str, statutory: date, text: str) -> None:
        out.append(Obligation(form, period, statutory, table.next_working_day(statutory), text))

    filer = f" (eFPS group {efps.value})" if efps else ""
    for month in range(1, 13):
        if month % 3:
            due = remittance_due(year, month, efps)
            add("0619-E", f"{year}-{month:02d}", due, f"Monthly remittance of creditable withholding tax{filer}")
            add("0619-F", f"{year}-{month:02d}", due, f"Monthly remittance of final withholding tax{filer}")
    for quarter in range(1, 5):
        end = _month_end(year, quarter * 3)
        period = f"{year}Q{quarter}"
        add("1601-EQ", period, remittance_due(year, quarter * 3), "Quarterly EWT return with the QAP alphalist")
        add("1601-FQ", period, remittance_due(year, quarter * 3), "Quarterly final withholding return with its QAP")
        add("2307", period, end + timedelta(days=20), "Certificates of creditable tax withheld, to each payee")
        add("2550Q", period, end + timedelta(days=25), "Quarterly VAT return")
        add("SLSP", period, end + timedelta(days=25), "Summary lists of sales, purchases and importations")
        add("2551Q", period, end + timedelta(days=25), "Quarterly percentage tax (non-VAT taxpayers)")
    add("1604-F", str(year), date(year + 1, 1, 31), "Annual information return of final withholding, alphalist")
    add("2306", str(year), date(year + 1, 1, 31), "Certificates of final tax withheld, to each payee")
    add("1604-E", str(year), date(year + 1, 3, 1), "Annual information return of EWT with the alphalist")
    return sorted(out, key=lambda o: (o.due, o.form))


def obligations_due_in(year: int, table: HolidayTable, efps: EfpsGroup | None = None) -> list[Obligation]:
    """Every obligation falling due in ``year``: this year's periods and the prior year's late ones."""
    found = [o for y in (year - 1, year) for o in obligations_for_year(y, table, efps) if o.due.year == year]
    return sorted(found, key=lambda o: (o.due, o.form, o.period))
