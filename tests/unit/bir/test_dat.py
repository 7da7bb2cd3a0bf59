"""DAT layouts against hand-written golden files (tests/unit/bir/golden, CRLF line endings)."""

from decimal import Decimal as D
from pathlib import Path

import pytest

from odoolake.bir.dat import Agent, AlphalistRow, form1604e, money, qap, sawt
from odoolake.errors import BirRuleError

GOLDEN = Path(__file__).parent / "golden"
AGENT = Agent(tin="123-456-789-00000", registered_name="Rim Agency & Co., Inc.", rdo="050")
ROWS = [
    AlphalistRow("987-654-321-00000", "WC158", D("1"), D("100000"), D("1000"), company_name="Goods Supplier, Inc."),
    AlphalistRow("111222333", "WI010", D("5"), D("20000"), D("1000"), last_name="Dela Cruz", first_name="Juan",
                 middle_name="P."),
    AlphalistRow("987-654-321-00000", "WC158", D("1"), D("-5000"), D("-50"), company_name="Goods Supplier, Inc."),
]
EXEMPT = [AlphalistRow("222333444001", "WC640", D("0"), D("3000"), company_name="Gov Office")]


def golden(name: str) -> str:
    return (GOLDEN / name).read_bytes().decode()


def test_qap_layout():
    name, content = qap(AGENT, 2026, 1, ROWS, EXEMPT)
    assert name == "12345678900000320261601EQ.dat"
    assert content == golden(name)


def test_1604e_layout():
    name, content = form1604e(AGENT, 2026, ROWS, EXEMPT)
    assert name == "1234567890000123120261604E.dat"
    assert content == golden(name)


def test_sawt_layout():
    row = AlphalistRow("555-666-777", "WC160", D("2"), D("50000"), D("1000"), company_name="Customer 1 Corp.",
                       nature="Services")
    name, content = sawt(AGENT, "1702Q", 2026, 3, [row])
    assert name == "12345678900000320261702Q.dat"
    assert content == golden(name)


def test_missing_or_malformed_tins_stop_the_file_naming_the_payees():
    bad = [*ROWS, AlphalistRow(None, "WC120", D("2"), D("1"), D("0.02"), company_name="No Tin Builders"),
           AlphalistRow("12345", "WC120", D("2"), D("1"), D("0.02"), company_name="Short Tin Co")]
    with pytest.raises(BirRuleError, match=r"2 line\(s\) need fixing.*NO TIN BUILDERS \(no TIN\).*SHORT TIN CO"):
        qap(AGENT, 2026, 1, bad)


def test_unknown_atc_and_bad_periods_are_clear_errors():
    with pytest.raises(BirRuleError, match="unknown ATC 'WX999'"):
        qap(AGENT, 2026, 1, [AlphalistRow("987654321", "WX999", D("1"), D("1"), D("0"), company_name="X")])
    with pytest.raises(BirRuleError, match="Quarter must be 1 to 4"):
        qap(AGENT, 2026, 5, ROWS)
    with pytest.raises(BirRuleError, match="SAWT form"):
        sawt(AGENT, "9999", 2026, 3, [])


def test_amounts_round_half_up_and_must_fit():
    assert money(D("2.675")) == "2.68"
    assert money(-0.005) == "-0.01"
    with pytest.raises(BirRuleError, match="14-character"):
        money(D("1234567890123.45"))
