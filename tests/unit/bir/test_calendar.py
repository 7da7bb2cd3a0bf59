"""A year of due dates checked against a hand-made table (weekdays worked out by hand from a 2026 calendar)."""

from datetime import date

from odoolake.bir.calendar import HolidayTable, obligations_for_year

# form, period -> due date. Moved deadlines and why:
#   2550Q/2551Q/SLSP Q1: 25 Apr 2026 is a Saturday -> Mon 27 Apr
#   0619-E April: 10 May 2026 is a Sunday -> Mon 11 May
#   2550Q Q2: 25 Jul is a Saturday -> Mon 27 Jul;  Q3: 25 Oct is a Sunday -> Mon 26 Oct
#   1601-EQ Q3: 31 Oct is a Saturday, 1 Nov (Sunday, All Saints) and 2 Nov (All Souls, a holiday) -> Tue 3 Nov
#   1601-EQ Q4: 31 Jan 2027 is a Sunday -> Mon 1 Feb
EXPECTED = {
    ("0619-E", "2026-01"): date(2026, 2, 10), ("0619-E", "2026-02"): date(2026, 3, 10),
    ("0619-E", "2026-04"): date(2026, 5, 11), ("0619-E", "2026-05"): date(2026, 6, 10),
    ("0619-E", "2026-07"): date(2026, 8, 10), ("0619-E", "2026-08"): date(2026, 9, 10),
    ("0619-E", "2026-10"): date(2026, 11, 10), ("0619-E", "2026-11"): date(2026, 12, 10),
    ("1601-EQ", "2026Q1"): date(2026, 4, 30), ("1601-EQ", "2026Q2"): date(2026, 7, 31),
    ("1601-EQ", "2026Q3"): date(2026, 11, 3), ("1601-EQ", "2026Q4"): date(2027, 2, 1),
    ("2307", "2026Q1"): date(2026, 4, 20), ("2307", "2026Q2"): date(2026, 7, 20),
    ("2307", "2026Q3"): date(2026, 10, 20), ("2307", "2026Q4"): date(2027, 1, 20),
    ("2550Q", "2026Q1"): date(2026, 4, 27), ("2550Q", "2026Q2"): date(2026, 7, 27),
    ("2550Q", "2026Q3"): date(2026, 10, 26), ("2550Q", "2026Q4"): date(2027, 1, 25),
    ("1604-E", "2026"): date(2027, 3, 1),
}


def test_2026_due_dates_match_the_hand_made_table():
    table = HolidayTable.philippines(range(2026, 2028))
    got = {(o.form, o.period): o.due for o in obligations_for_year(2026, table)}
    for key, due in EXPECTED.items():
        assert got[key] == due, key
    assert got[("SLSP", "2026Q1")] == got[("2551Q", "2026Q1")] == date(2026, 4, 27)
    moved = {(o.form, o.period) for o in obligations_for_year(2026, table) if o.moved}
    assert ("1601-EQ", "2026Q3") in moved and ("0619-E", "2026-01") not in moved


def test_user_declared_holidays_move_deadlines():
    table = HolidayTable.philippines(range(2026, 2028)).with_changes(added={date(2026, 2, 10): "Declared non-working"})
    got = {(o.form, o.period): o.due for o in obligations_for_year(2026, table)}
    assert got[("0619-E", "2026-01")] == date(2026, 2, 11)
    worked = HolidayTable.philippines(range(2026, 2028)).with_changes(removed={date(2026, 11, 2)})
    got = {(o.form, o.period): o.due for o in obligations_for_year(2026, worked)}
    assert got[("1601-EQ", "2026Q3")] == date(2026, 11, 2)
