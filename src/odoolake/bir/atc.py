"""The ATC catalog: one effective-dated table of alphanumeric tax codes, rates and the conditions that decide them.

Every rate is a row (``AtcRule``) with the dates it is in force, the income it covers (``family``), the payee it
applies to (individual or juridical), the payee condition that selects it (gross income over or not over the
regulation's threshold, an RR 24-2025 listed seller …), the payor condition (top withholding agent, government)
and the regulation it comes from. The pipeline joins this same table in Spark (``catalog_rows``), the DAT writers
and the CLI read it here, and the generator configures its Odoo taxes from it: there is no second rate table.

Choosing the rate for a payment is always the same lookup, in Python (``expected_rule``) and in Spark (an equality
join on family, payee type, date and condition): the row of the payment's family and payee type, in force on the
payment date, whose condition is ``ANY`` or the payee's condition. The payee's condition for a threshold family is
``INCOME_NOT_OVER_THRESHOLD`` only when the payee has a sworn declaration on file that its gross income for the year
will not exceed the threshold, is not VAT-registered (individuals), and the payor's payments to it this year,
including the current one, have not passed the threshold; otherwise ``INCOME_OVER_THRESHOLD``.

Citations give the issuance; sub-paragraph letters of RR 2-98 Sec. 2.57.2 were checked against secondary summaries
(law-firm and Big Four tax alerts), not the primary text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from odoolake.errors import BirRuleError

OPEN_END = date(9999, 12, 31)
TRAIN = date(2018, 1, 1)  # RA 10963 (TRAIN) and RR 11-2018: the current EWT rate structure
RR_24_2025 = date(2025, 10, 10)  # reduced 0.5% TWA rate on goods from listed sellers
RR_5_2025 = date(2025, 3, 14)  # credit cards, e-marketplaces, DFSPs at one half percent of gross
CREATE_NRFC = date(2021, 1, 1)  # RA 11534 (CREATE): non-resident foreign corporations 30% -> 25%


class Regime(StrEnum):
    EWT = "EWT"  # expanded (creditable) withholding: 0619-E, 1601-EQ + QAP, 1604-E, 2307
    FWT = "FWT"  # final withholding: 0619-F, 1601-FQ + QAP, 1604-F, 2306
    WVAT = "WVAT"  # withholding VAT by government payors: 1600-VT


class PayeeType(StrEnum):
    INDIVIDUAL = "individual"
    JURIDICAL = "corporation"  # WC codes: corporations, partnerships and other juridical persons
    ANY = "any"


class Condition(StrEnum):
    """What about the payee selects a row (``ANY`` = nothing)."""

    ANY = "ANY"
    INCOME_NOT_OVER_THRESHOLD = "INCOME_NOT_OVER_THRESHOLD"
    INCOME_OVER_THRESHOLD = "INCOME_OVER_THRESHOLD"
    LISTED_SELLER = "LISTED_SELLER"  # RR 24-2025: manufacturer or direct importer of vehicles, medicines, fuels
    OTHER_SELLER = "OTHER_SELLER"


class Payor(StrEnum):
    """What the payor (our company) must be for a row to apply."""

    ANY = "ANY"
    TOP_WITHHOLDING_AGENT = "TWA"
    GOVERNMENT = "GOVERNMENT"


# RR 11-2018, Sec. 2.57.2(A), as amended by RR 14-2018: the gross-income thresholds that separate the lower and
# higher rates, each resting on the payee's sworn declaration.
GROSS_INCOME_THRESHOLD: dict[PayeeType, Decimal] = {
    PayeeType.INDIVIDUAL: Decimal("3000000.00"),
    PayeeType.JURIDICAL: Decimal("720000.00"),
}
THRESHOLD_CITATION = "RR 11-2018 Sec. 2.57.2(A), as amended by RR 14-2018"

# RR 24-2025: seller categories whose goods sales to a top withholding agent take 0.5% from 10 Oct 2025.
LISTED_SELLER_CATEGORIES: frozenset[str] = frozenset({
    "vehicle_manufacturer", "vehicle_importer", "medicine_manufacturer", "medicine_importer",
    "fuel_manufacturer", "fuel_importer",
})


@dataclass(frozen=True)
class AtcRule:
    atc: str
    family: str  # the kind of income; rows of one family are alternatives for the same payment
    regime: Regime
    payee_type: PayeeType
    rate: Decimal  # percent, e.g. Decimal("2")
    nature: str  # the income description printed on the 2307 and the alphalists
    citation: str
    valid_from: date = TRAIN
    valid_to: date = OPEN_END
    condition: Condition = Condition.ANY
    payor: Payor = Payor.ANY

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on <= self.valid_to

    def applies_to(self, condition: Condition) -> bool:
        return self.condition in (Condition.ANY, condition)


def _pair(ind: str, corp: str, family: str, rate: str, nature: str, citation: str, **kw: object) -> list[AtcRule]:
    return [AtcRule(ind, family, Regime.EWT, PayeeType.INDIVIDUAL, Decimal(rate), nature, citation, **kw),  # type: ignore[arg-type]
            AtcRule(corp, family, Regime.EWT, PayeeType.JURIDICAL, Decimal(rate), nature, citation, **kw)]  # type: ignore[arg-type]


_NOT_OVER, _OVER = Condition.INCOME_NOT_OVER_THRESHOLD, Condition.INCOME_OVER_THRESHOLD
_EWT = "RR 2-98 Sec. 2.57.2 as amended by RR 11-2018"
_TWA = "RR 2-98 Sec. 2.57.2(I) as amended by RR 11-2018; TWA criteria RR 31-2020"

CATALOG: tuple[AtcRule, ...] = (
    # Professional fees: individuals 5% / 10%, juridical persons 10% / 15%, by the gross-income threshold.
    AtcRule("WI010", "professional_fees", Regime.EWT, PayeeType.INDIVIDUAL, Decimal("5"),
            "Professional fees, gross income not over P3M", THRESHOLD_CITATION, condition=_NOT_OVER),
    AtcRule("WI011", "professional_fees", Regime.EWT, PayeeType.INDIVIDUAL, Decimal("10"),
            "Professional fees, gross income over P3M or VAT-registered", THRESHOLD_CITATION, condition=_OVER),
    AtcRule("WC010", "professional_fees", Regime.EWT, PayeeType.JURIDICAL, Decimal("10"),
            "Professional fees, gross income not over P720,000", THRESHOLD_CITATION, condition=_NOT_OVER),
    AtcRule("WC011", "professional_fees", Regime.EWT, PayeeType.JURIDICAL, Decimal("15"),
            "Professional fees, gross income over P720,000", THRESHOLD_CITATION, condition=_OVER),
    # Commissions of sales representatives, agents and dealers: the same thresholds and rates.
    AtcRule("WI515", "commissions", Regime.EWT, PayeeType.INDIVIDUAL, Decimal("5"),
            "Commissions of sales agents, gross income not over P3M", THRESHOLD_CITATION, condition=_NOT_OVER),
    AtcRule("WI516", "commissions", Regime.EWT, PayeeType.INDIVIDUAL, Decimal("10"),
            "Commissions of sales agents, gross income over P3M or VAT-registered", THRESHOLD_CITATION,
            condition=_OVER),
    AtcRule("WC515", "commissions", Regime.EWT, PayeeType.JURIDICAL, Decimal("10"),
            "Commissions of sales agents, gross income not over P720,000", THRESHOLD_CITATION, condition=_NOT_OVER),
    AtcRule("WC516", "commissions", Regime.EWT, PayeeType.JURIDICAL, Decimal("15"),
            "Commissions of sales agents, gross income over P720,000", THRESHOLD_CITATION, condition=_OVER),
    *_pair("WI100", "WC100", "rent", "5", "Rentals of real and personal property", _EWT),
    *_pair("WI110", "WC110", "film_rent", "5", "Cinematographic film rentals", _EWT),
    *_pair("WI120", "WC120", "contractors", "2", "Income payments to prime contractors and sub-contractors", _EWT),
    *_pair("WI157", "WC157", "government_services", "2", "Government payments to suppliers of services", _EWT,
           payor=Payor.GOVERNMENT),
    *_pair("WI640", "WC640", "government_goods", "1", "Government payments to suppliers of goods", _EWT,
           payor=Payor.GOVERNMENT),
    # Top withholding agents: goods 1%, services 2%; RR 24-2025 lowers goods to 0.5% for listed sellers.
    *_pair("WI158", "WC158", "twa_goods", "1", "Purchases of goods by a top withholding agent", _TWA,
           valid_to=date(2025, 10, 9), payor=Payor.TOP_WITHHOLDING_AGENT),
    *_pair("WI158", "WC158", "twa_goods", "1", "Purchases of goods by a top withholding agent", "RR 24-2025",
           valid_from=RR_24_2025, condition=Condition.OTHER_SELLER, payor=Payor.TOP_WITHHOLDING_AGENT),
    *_pair("WI158", "WC158", "twa_goods", "0.5",
           "Goods from a manufacturer or importer of vehicles, medicines or fuels (TWA)", "RR 24-2025",
           valid_from=RR_24_2025, condition=Condition.LISTED_SELLER, payor=Payor.TOP_WITHHOLDING_AGENT),
    *_pair("WI160", "WC160", "twa_services", "2", "Purchases of services by a top withholding agent", _TWA,
           payor=Payor.TOP_WITHHOLDING_AGENT),
    *_pair("WI760", "WC760", "e_marketplace", "0.5", "E-marketplace remittances to sellers (1% of one half)",
           "RR 16-2023", valid_from=date(2024, 1, 11), valid_to=date(2025, 3, 13)),
    *_pair("WI156", "WC156", "credit_card", "0.5", "Payments by credit card companies to merchants",
           "RR 5-2025, RMO 18-2025", valid_from=RR_5_2025),
    *_pair("WI820", "WC820", "e_marketplace", "0.5", "E-marketplace operators' remittances to sellers",
           "RR 5-2025, RMO 18-2025", valid_from=RR_5_2025),
    *_pair("WI830", "WC830", "dfsp", "0.5", "Digital financial services providers' remittances to sellers",
           "RR 5-2025, RMO 18-2025", valid_from=RR_5_2025),
    # Final withholding on non-resident foreign corporations: 30% until CREATE, 25% after.
    AtcRule("WC230", "nrfc_other", Regime.FWT, PayeeType.JURIDICAL, Decimal("30"),
            "Other payments to non-resident foreign corporations", "Tax Code Sec. 28(B)(1) before RA 11534",
            valid_to=date(2020, 12, 31)),
    AtcRule("WC230", "nrfc_other", Regime.FWT, PayeeType.JURIDICAL, Decimal("25"),
            "Other payments to non-resident foreign corporations", "Tax Code Sec. 28(B)(1) as amended by RA 11534",
            valid_from=CREATE_NRFC),
    # Withholding VAT by government payors (final), remitted with the 1600-VT.
    AtcRule("WV010", "government_vat_goods", Regime.WVAT, PayeeType.ANY, Decimal("5"),
            "VAT withheld on government purchases of goods", "Tax Code Sec. 114(C)", payor=Payor.GOVERNMENT),
    AtcRule("WV020", "government_vat_services", Regime.WVAT, PayeeType.ANY, Decimal("5"),
            "VAT withheld on government purchases of services", "Tax Code Sec. 114(C)", payor=Payor.GOVERNMENT),
)

ALL_RATES = CATALOG  # the name older code and the benchmark use
KNOWN_ATCS: frozenset[str] = frozenset(r.atc for r in CATALOG)
THRESHOLD_FAMILIES: frozenset[str] = frozenset(r.family for r in CATALOG if r.condition in (_NOT_OVER, _OVER))
SELLER_FAMILIES: frozenset[str] = frozenset(
    r.family for r in CATALOG if r.condition in (Condition.LISTED_SELLER, Condition.OTHER_SELLER))


def _code(atc: str) -> str:
    code = (atc or "").strip().upper()
    if code not in KNOWN_ATCS:
        raise BirRuleError(f"Unknown ATC {atc!r}: not in the catalog of {len(KNOWN_ATCS)} codes "
                           "(set the tax's ATC in Odoo: Accounting > Configuration > Taxes > Philippines ATC).")
    return code


def rules_for(atc: str) -> list[AtcRule]:
    """Every row of ``atc``, in force or not; raises BirRuleError for a code the catalog does not know."""
    code = _code(atc)
    return [r for r in CATALOG if r.atc == code]


def rates_for(atc: str, on: date) -> list[AtcRule]:
    """The rows of ``atc`` in force on ``on`` (empty when the code is not valid on that date)."""
    return [r for r in rules_for(atc) if r.in_force(on)]


def is_valid_rate(atc: str, on: date, rate_percent: Decimal) -> bool:
    return any(r.rate == rate_percent for r in rates_for(atc, on))


def family_of(atc: str) -> str:
    return rules_for(atc)[0].family


def nature_of(atc: str, on: date | None = None) -> str:
    """The income description for ``atc`` (the row in force on ``on`` when given)."""
    rows = rates_for(atc, on) if on else []
    return (rows or rules_for(atc))[0].nature


def payee_type_of(atc: str) -> str:
    """``individual`` for WI…, ``corporation`` for WC…, ``any`` otherwise."""
    code = atc.strip().upper()
    if code.startswith("WI"):
        return PayeeType.INDIVIDUAL.value
    if code.startswith("WC"):
        return PayeeType.JURIDICAL.value
    return PayeeType.ANY.value


def payee_condition(family: str, payee_type: str, *, declared_not_over: bool = False, vat_registered: bool = False,
                    paid_this_year: Decimal = Decimal(0), seller_category: str | None = None) -> Condition:
    """The payee's condition for a payment of ``family``.

    ``paid_this_year`` is what the payor has paid the payee this year in the family, including this payment.
    """
    if family in THRESHOLD_FAMILIES:
        limit = GROSS_INCOME_THRESHOLD[PayeeType(payee_type)]
        vat_blocks = vat_registered and payee_type == PayeeType.INDIVIDUAL
        within = declared_not_over and not vat_blocks and paid_this_year <= limit
        return Condition.INCOME_NOT_OVER_THRESHOLD if within else Condition.INCOME_OVER_THRESHOLD
    if family in SELLER_FAMILIES:
        listed = (seller_category or "") in LISTED_SELLER_CATEGORIES
        return Condition.LISTED_SELLER if listed else Condition.OTHER_SELLER
    return Condition.ANY


def expected_rule(family: str, payee_type: str, on: date, condition: Condition) -> AtcRule | None:
    """The row a payment of ``family`` to a payee of ``payee_type`` with ``condition`` takes on ``on``."""
    for rule in CATALOG:
        if (rule.family == family and rule.payee_type in (payee_type, PayeeType.ANY) and rule.in_force(on)
                and rule.applies_to(condition)):
            return rule
    return None


CATALOG_DDL = (
    "atc string, family string, regime string, payee_type string, rate decimal(9,4), nature string, "
    "citation string, valid_from date, valid_to date, condition string, payor string"
)


def catalog_rows() -> list[tuple]:
    """The catalog as plain rows for a Spark DataFrame with ``CATALOG_DDL``."""
    return [(r.atc, r.family, r.regime.value, r.payee_type.value, r.rate, r.nature, r.citation, r.valid_from,
             r.valid_to, r.condition.value, r.payor.value) for r in CATALOG]
