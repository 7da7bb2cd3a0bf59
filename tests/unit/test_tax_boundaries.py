"""Tax rules at their edges, from the regulations' own dates (reference: the BIR sources listed in bir/atc.py):
RR 16-2023 put e-marketplace remittances under WI760/WC760 from 11 January 2024; RR 5-2025 moved them to
WI820/WC820 and dropped WI760/WC760. A remittance is covered by exactly one of them on every day. DAT files
carry a 4-digit branch code, so a branch that needs five digits cannot be filed."""

from __future__ import annotations

from datetime import date, timedelta

from odoolake.bir.atc import rates_for
from odoolake.bir.tin import TinStatus, parse_tin


def test_e_marketplace_remittances_are_covered_by_exactly_one_code_every_day():
    day, end = date(2024, 1, 11), date(2026, 12, 31)
    assert rates_for("WC760", day - timedelta(days=1)) == []  # not before RR 16-2023 took effect
    while day <= end:
        in_force = [code for code in ("WC760", "WC820") if rates_for(code, day)]
        assert len(in_force) == 1, (day, in_force)
        day += timedelta(days=1)


def test_a_branch_code_that_needs_five_digits_cannot_be_filed():
    assert parse_tin("123-456-789-12345") == (None, TinStatus.MALFORMED)
    tin, status = parse_tin("123-456-789-01234")
    assert status == TinStatus.VALID and tin.branch == "1234"
