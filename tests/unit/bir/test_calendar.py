"""A year of due dates checked against a hand-made table (weekdays worked out by hand from a 2026 calendar)."""

from datetime import date

from odoolake.bir.calendar import EfpsGroup, HolidayTable, obligations_due_in, obligations_for_year, remittance_due

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


def test_final_withholding_and_annual_returns():
    """0619-F shares the 0619-E dates; 1601-FQ the 1601-EQ dates; 1604-F and the 2306s are due 31 January
    (31 Jan 2027 is a Sunday: Mon 1 Feb)."""
    table = HolidayTable.philippines(range(2026, 2028))
    got = {(o.form, o.period): o.due for o in obligations_for_year(2026, table)}
    assert got[("0619-F", "2026-04")] == got[("0619-E", "2026-04")] == date(2026, 5, 11)
    assert got[("1601-FQ", "2026Q3")] == date(2026, 11, 3)
    assert got[("1604-F", "2026")] == got[("2306", "2026")] == date(2027, 2, 1)
    assert ("0619-F", "2026-03") not in got  # the third month is remitted with the quarterly return


def test_efps_groups_file_the_monthly_returns_from_the_15th_down_to_the_11th():
    """RR 26-2002: group A on the 15th … group E on the 11th. January 2026: 15 Feb is a Sunday (group A -> Mon 16),
    11 Feb a Wednesday (group E)."""
    table = HolidayTable.philippines(range(2026, 2028))
    due = {g: {(o.form, o.period): o for o in obligations_for_year(2026, table, g)} for g in EfpsGroup}
    assert due[EfpsGroup.A][("0619-E", "2026-01")].statutory_due == date(2026, 2, 15)
    assert due[EfpsGroup.A][("0619-E", "2026-01")].due == date(2026, 2, 16)
    assert due[EfpsGroup.E][("0619-E", "2026-01")].due == date(2026, 2, 11)
    assert due[EfpsGroup.C][("1601-EQ", "2026Q1")].due == date(2026, 4, 30)  # quarterly returns do not move


def test_obligations_due_in_a_year_include_the_prior_years_periods():
    """The 1604-E for 2025 is due 1 March 2026, a Sunday: Monday 2 March 2026."""
    table = HolidayTable.philippines(range(2025, 2028))
    due = {(o.form, o.period): o.due for o in obligations_due_in(2026, table)}
    assert due[("1604-E", "2025")] == date(2026, 3, 2)
    assert due[("1601-EQ", "2025Q4")] == date(2026, 2, 2)  # 31 Jan 2026 is a Saturday
    assert ("1604-E", "2026") not in due and ("0619-E", "2026-11") in due
    assert all(d.year == 2026 for d in due.values())


def test_spark_remittance_deadline_matches_the_calendar(spark):
    """silver's BACKDATED_POSTING deadline (Spark) and remittance_due (Python) agree on every day of two years."""
    from datetime import timedelta

    from pyspark.sql import functions as F

    from odoolake.pipeline.silver import remittance_deadline

    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(730)]
    frame = spark.createDataFrame([(d,) for d in days], "d date").select("d", remittance_deadline(F.col("d")).alias("due"))
    got = {r["d"]: r["due"] for r in frame.collect()}
    assert all(got[d] == remittance_due(d.year, d.month) for d in days)
