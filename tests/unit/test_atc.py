"""The ATC catalog against the regulations (the rates below are read off the issuances, not the catalog)."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from odoolake.bir.atc import (
    CATALOG,
    Condition,
    PayeeType,
    Payor,
    expected_rule,
    is_valid_rate,
    payee_condition,
    payee_type_of,
    rates_for,
)
from odoolake.errors import BirRuleError

# (ATC, date, rate %) per RR 11-2018 as amended by RR 14-2018 (TRAIN), RR 24-2025 and RA 11534 (CREATE)
REGULATION_RATES = [
    ("WI010", date(2026, 1, 1), "5"), ("WI011", date(2026, 1, 1), "10"),
    ("WC010", date(2026, 1, 1), "10"), ("WC011", date(2026, 1, 1), "15"),
    ("WI515", date(2026, 1, 1), "5"), ("WI516", date(2026, 1, 1), "10"),
    ("WC515", date(2026, 1, 1), "10"), ("WC516", date(2026, 1, 1), "15"),
    ("WC100", date(2026, 1, 1), "5"), ("WC120", date(2026, 1, 1), "2"),
    ("WC158", date(2018, 6, 1), "1"), ("WC160", date(2018, 6, 1), "2"),  # TWA codes: in force since TRAIN
    ("WC230", date(2020, 12, 31), "30"), ("WC230", date(2021, 1, 1), "25"),
]


@pytest.mark.parametrize(("atc", "on", "rate"), REGULATION_RATES)
def test_rates_as_the_regulations_say(atc, on, rate):
    assert {r.rate for r in rates_for(atc, on)} == {D(rate)}


def test_twa_goods_rate_change_applies_by_date_and_seller():
    assert is_valid_rate("WC158", date(2025, 10, 9), D("1"))
    assert not is_valid_rate("WC158", date(2025, 10, 9), D("0.5"))
    assert is_valid_rate("WC158", date(2025, 10, 10), D("0.5"))
    listed = payee_condition("twa_goods", "corporation", seller_category="fuel_importer")
    other = payee_condition("twa_goods", "corporation", seller_category="hardware")
    assert expected_rule("twa_goods", "corporation", date(2025, 10, 9), listed).rate == D("1")
    assert expected_rule("twa_goods", "corporation", date(2025, 10, 10), listed).rate == D("0.5")
    assert expected_rule("twa_goods", "corporation", date(2025, 10, 10), other).rate == D("1")
    assert all(r.payor == Payor.TOP_WITHHOLDING_AGENT for r in rates_for("WC158", date(2026, 1, 1)))


def test_thresholds_rest_on_the_sworn_declaration():
    def code(payee: str, paid: str, declared: bool = True, vat: bool = False) -> str:
        cond = payee_condition("professional_fees", payee, declared_not_over=declared, vat_registered=vat,
                               paid_this_year=D(paid))
        return expected_rule("professional_fees", payee, date(2026, 5, 1), cond).atc

    assert code("individual", "3000000.00") == "WI010"
    assert code("individual", "3000000.01") == "WI011"
    assert code("individual", "100.00", declared=False) == "WI011"  # no declaration on file: the higher rate
    assert code("individual", "100.00", vat=True) == "WI011"  # VAT-registered: 10% whatever the income
    assert code("corporation", "720000.00") == "WC010"
    assert code("corporation", "720000.01") == "WC011"
    assert code("corporation", "100.00", vat=True) == "WC010"  # VAT registration matters for individuals only


def test_every_payment_has_at_most_one_rule():
    """Rows of a family never overlap for one payee type, date and condition (checked on every boundary date)."""
    days = sorted({d for r in CATALOG for d in (r.valid_from, r.valid_from - timedelta(days=1), r.valid_to)
                   if d.year < 9999})
    for family in {r.family for r in CATALOG}:
        for payee in (PayeeType.INDIVIDUAL, PayeeType.JURIDICAL):
            for on in days:
                for cond in Condition:
                    matches = [r for r in CATALOG if r.family == family and r.payee_type in (payee, PayeeType.ANY)
                               and r.in_force(on) and r.applies_to(cond)]
                    assert len(matches) <= 1, (family, payee, on, cond, matches)


def test_every_rule_cites_its_regulation_and_describes_the_income():
    assert all(r.citation and r.nature and r.nature != r.atc for r in CATALOG)


def test_retired_code_is_not_in_force_after_replacement():
    assert rates_for("WC760", date(2024, 6, 1))
    assert rates_for("WC760", date(2025, 6, 1)) == []
    assert rates_for("WC820", date(2025, 6, 1))


def test_unknown_atc_is_a_clear_error():
    with pytest.raises(BirRuleError, match=r"Unknown ATC 'WX999'.*Philippines ATC"):
        rates_for("WX999", date(2026, 1, 1))


def test_payee_type_from_prefix():
    assert payee_type_of("WI010") == "individual"
    assert payee_type_of("wc160") == "corporation"
