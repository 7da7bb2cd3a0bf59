"""DAT layouts against golden files written by hand from the published layouts (tests/unit/bir/golden, CRLF).

Each golden file was typed field by field from the layout in docs/bir-outputs.md (QAP, 1604-E, SAWT: the
BIR-generated reference QAP and Odoo 19's l10n_ph_reports tests; 1601-FQ and 1604-F: a third-party generator's
layout; SLSP: RELIEF as Odoo 19 writes it; SLI: the header and detail two independent open-source RELIEF writers
agree on), not produced by the code.
"""

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from odoolake.bir import reasons
from odoolake.bir.dat import (
    Agent,
    AlphalistRow,
    ImportEntry,
    Problem,
    ReliefRow,
    form1604e,
    form1604f,
    money,
    qap,
    relief_exceptions_csv,
    sawt,
    sli,
    slsp,
    tax_at_rate,
)
from odoolake.errors import BirRuleError

GOLDEN = Path(__file__).parent / "golden"
AGENT = Agent(tin="123-456-789-00000", registered_name="Rim Agency & Co., Inc.", rdo="050",
              address1="10 Ayala Avenue", address2="Makati City, Metro Manila")
GOODS = AlphalistRow("987-654-321-00000", "WC158", D("1"), D("100000.00"), D("1000.00"),
                     company_name="Goods Supplier, Inc.")
# 5% of 20,000.10 is 1,000.005: written 1,000.01 (half up); 1,000.03 was withheld, so the row is a difference
PERSON = AlphalistRow("111222333", "WI010", D("5"), D("20000.10"), D("1000.03"), last_name="Dela Cruz",
                      first_name="Juan", middle_name="P.", individual=True)
REFUNDED = AlphalistRow("222-333-444-00000", "WC100", D("5"), D("-5000.00"), D("-250.00"),
                        company_name="Refund Lessor Corp.")  # a credit note larger than the quarter's bills
EXEMPT = [AlphalistRow("222333444001", "WC640", D("0"), D("3000.00"), company_name="Gov Office")]
NRFC = AlphalistRow("999-888-777-00000", "WC230", D("25"), D("400000.00"), D("100000.00"),
                    company_name="Cloud Services Pte. Ltd.")


def golden(name: str) -> str:
    return (GOLDEN / name).read_bytes().decode()


def test_qap_layout_nets_rounds_and_reports():
    out = qap(AGENT, 2026, 1, [GOODS, PERSON, REFUNDED], EXEMPT)
    assert out.name == "12345678900000320261601EQ.dat"
    assert out.content == golden(out.name)
    assert [(e.row.company_name, e.problem) for e in out.exceptions] == [("Refund Lessor Corp.", Problem.NET_NEGATIVE)]
    assert [(r.atc, at) for r, at in out.differences] == [("WI010", D("1000.01"))]
    assert (out.income, out.tax, out.withheld) == (D("120000.10"), D("2000.01"), D("2000.03"))
    assert "WI010,5,20000.10,1000.03,1000.01,0.02" in out.differences_csv()


def test_control_totals_equal_the_detail_rows():
    for out, detail, control, columns in ((qap(AGENT, 2026, 1, [GOODS, PERSON]), "D1,", "C1,", (-2, -1)),
                                          (form1604e(AGENT, 2026, [GOODS, PERSON]), "D3,", "C3,", (-1,))):
        rows = [line.split(",") for line in out.content.splitlines() if line.startswith(detail)]
        totals = next(line.split(",") for line in out.content.splitlines() if line.startswith(control))
        for col in columns:
            assert sum(D(r[col]) for r in rows) == D(totals[col])


def test_1604e_layout():
    out = form1604e(AGENT, 2026, [GOODS, PERSON, REFUNDED], EXEMPT)
    assert out.name == "1234567890000123120261604E.dat"
    assert out.content == golden(out.name)


def test_final_withholding_layouts():
    out = qap(AGENT, 2026, 1, [NRFC], form="1601FQ")
    assert out.name == "12345678900000320261601FQ.dat" and out.content == golden(out.name)
    annual = form1604f(AGENT, 2026, [NRFC], classification="a")
    assert annual.name == "1234567890000123120261604F.dat" and annual.content == golden(annual.name)
    with pytest.raises(BirRuleError, match="classification code must be one letter A to H"):
        form1604f(AGENT, 2026, [NRFC], classification="Z")


def test_sawt_layout():
    row = AlphalistRow("555-666-777", "WC160", D("2"), D("50000"), D("1000"), company_name="Customer 1 Corp.",
                       nature="Services")
    out = sawt(AGENT, "1702Q", 2026, 3, [row])
    assert out.name == "12345678900000320261702Q.dat"
    assert out.content == golden(out.name)


def test_a_sawt_lists_only_the_credits_its_return_claims():
    """Income tax withheld goes with the 1701Q/1702Q, VAT withheld by government with the 2550Q (a 2550Q SAWT listed
    WC158/WC160 income tax credits: a VAT return claiming income tax)."""
    income = AlphalistRow("555-666-777", "WC160", D("2"), D("50000"), D("1000"), company_name="Customer 1 Corp.")
    vat = AlphalistRow("444-555-666", "WV020", D("5"), D("20000"), D("1000"), company_name="City Government")
    for_vat = sawt(AGENT, "2550Q", 2026, 3, [income, vat])
    assert for_vat.rows == 1 and ",WV020," in for_vat.content and ",WC160," not in for_vat.content
    for_income = sawt(AGENT, "1702Q", 2026, 3, [income, vat])
    assert for_income.rows == 1 and ",WC160," in for_income.content and ",WV020," not in for_income.content
    with pytest.raises(BirRuleError, match=r"The SAWT for the 2550Q lists VAT withheld by government payors.*"
                                           r"none of the 1 credits .* \(WC160\)"):
        sawt(AGENT, "2550Q", 2026, 3, [income])
    with pytest.raises(BirRuleError, match="The SAWT for the 2551Q lists percentage tax withheld"):
        sawt(AGENT, "2551Q", 2026, 3, [income, vat])


def test_relief_purchases_sales_and_importations():
    purchases = [
        ReliefRow("987-654-321-00000", "Goods Supplier, Inc.", address1="1 Rizal Street", address2="Cebu City, Cebu",
                  goods=D("100000.00"), tax=D("12000.00")),
        ReliefRow("111-222-333-00000", "Juan P. Dela Cruz", "Dela Cruz", "Juan", "P.", "2 Luna Street",
                  "Iloilo City, Iloilo", exempt=D("5000.00"), services=D("20000.00"), tax=D("2400.00"),
                  individual=True),
        ReliefRow(None, "No Tin Trading", goods=D("100.00"), tax=D("12.00")),
    ]
    with pytest.raises(BirRuleError, match=r"SLP: 1 counterpart\(ies\) need fixing.*NO TIN TRADING \(INVALID_TIN\)"):
        slsp(AGENT, "P", 2026, 1, purchases)
    name, content, left = slsp(AGENT, "P", 2026, 1, purchases, skip_invalid=True)
    assert name == "123456789P032026.dat" and content == golden(name)
    assert [(r.registered_name, p) for r, p in left] == [("No Tin Trading", "INVALID_TIN")]
    assert relief_exceptions_csv(left).splitlines() == [  # with the fix, as the other DAT files' exceptions
        "counterparty,tin,problem,fix", f"No Tin Trading,,INVALID_TIN,{reasons.MALFORMED_TIN.fix}"]
    sales = [ReliefRow("555-666-777-00000", "Customer 1 Corp.", address1="5 Mabini Street",
                       address2="Davao City, Davao del Sur", zero_rated=D("10000.00"), goods=D("200000.00"),
                       tax=D("24000.00"))]
    name, content, _ = slsp(AGENT, "S", 2026, 1, sales)
    assert name == "123456789S032026.dat" and content == golden(name)
    entry = ImportEntry("SI-2026-000123", date(2026, 2, 3), "Shenzhen Parts Co., Ltd.", date(2026, 2, 1), "China",
                        D("500000.00"), D("0"), D("0"), D("500000.00"), D("60000.00"), "BILL/2026/02/00001",
                        date(2026, 2, 3))
    name, content = sli(AGENT, 2026, 1, [entry])
    assert name == "123456789I032026.dat" and content == golden(name)
    header, detail = (line.split(",") for line in content.splitlines())
    # the header names the taxpayer like the SLP/SLS headers (registered, last, first, middle, trade name, 2 address
    # lines) before the five totals, the RDO and the period; the detail has 16 fields (docs/bir-outputs.md)
    assert (len(header), len(detail)) == (17, 16)
    assert header[3:10] == golden("123456789P032026.dat").splitlines()[0].split(",")[3:10]


def test_sli_landed_cost_must_equal_exempt_plus_taxable():
    entry = ImportEntry("SI-2026-000124", date(2026, 3, 2), "Osaka Tools K.K.", date(2026, 3, 1), "Japan",
                        D("100000.00"), D("5000.00"), D("0"), D("100000.00"), D("12000.00"), "BILL/2026/03/00007",
                        date(2026, 3, 2))
    with pytest.raises(BirRuleError, match=r"Importation SI-2026-000124: the landed cost \(dutiable value 100000.00 "
                                           r"\+ other charges 5000.00\) must equal exempt 0 \+ taxable 100000.00"):
        sli(AGENT, 2026, 1, [entry])


def test_rows_needing_a_fix_stop_the_file_naming_them_or_are_listed_when_skipped():
    bad = [GOODS, AlphalistRow(None, "WC120", D("2"), D("100"), D("2"), company_name="No Tin Builders"),
           AlphalistRow("12345", "WC120", D("2"), D("100"), D("2"), company_name="Short Tin Co"),
           AlphalistRow("333-444-555-00000", "WI010", D("5"), D("100"), D("5"), company_name="Jose Rizal Mercado",
                        individual=True)]
    with pytest.raises(BirRuleError, match=r"3 line\(s\) need fixing.*NO TIN BUILDERS \(INVALID_TIN\).*SHORT TIN CO "
                                           r"\(INVALID_TIN '12345'\).*JOSE RIZAL MERCADO \(NAME_NOT_SPLIT\)"):
        qap(AGENT, 2026, 1, bad)
    out = qap(AGENT, 2026, 1, bad, skip_invalid=True)
    assert out.rows == 1 and [e.problem for e in out.exceptions] == [Problem.INVALID_TIN, Problem.INVALID_TIN,
                                                                       Problem.NAME_NOT_SPLIT]
    # the refusal counted 3 where --skip-invalid then left out 4: the net-negative line is named apart
    with pytest.raises(BirRuleError, match=r"3 line\(s\) need fixing.*; 1 more net-negative line\(s\) are never "
                                           r"reported and need no fix"):
        qap(AGENT, 2026, 1, [*bad, REFUNDED])
    assert len(qap(AGENT, 2026, 1, [*bad, REFUNDED], skip_invalid=True).exceptions) == 4
    assert "fill Last/First/Middle name on the partner in Odoo" in out.exceptions_csv()


def test_unknown_atc_and_bad_periods_are_clear_errors():
    with pytest.raises(BirRuleError, match=r"X \(UNKNOWN_ATC"):
        qap(AGENT, 2026, 1, [AlphalistRow("987654321", "WX999", D("1"), D("1"), D("0"), company_name="X")])
    with pytest.raises(BirRuleError, match="Quarter must be 1 to 4"):
        qap(AGENT, 2026, 5, [GOODS])
    with pytest.raises(BirRuleError, match="SAWT form"):
        sawt(AGENT, "9999", 2026, 3, [])
    with pytest.raises(BirRuleError, match="QAP form"):
        qap(AGENT, 2026, 1, [GOODS], form="1601E")


def test_amounts_round_half_up_are_unsigned_and_must_fit():
    assert money(D("2.675")) == "2.68" and tax_at_rate(D("20000.10"), D("5")) == D("1000.01")
    assert tax_at_rate(D("333.33"), D("1.5")) == D("5.00")  # 4.99995
    with pytest.raises(BirRuleError, match="negative"):
        money(D("-0.01"))
    with pytest.raises(BirRuleError, match="14-character"):
        money(D("1234567890123.45"))
