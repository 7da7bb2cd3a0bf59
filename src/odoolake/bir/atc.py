"""The ATC catalog: alphanumeric tax codes with effective-dated rates.

Rates change by regulation (RR 11-2018, RR 31-2020, RR 5-2025, RR 24-2025 …), so a rate is a row with
``valid_from``/``valid_to``, never an ``if`` in code. A line withheld on date D is checked against the
row in force on D. Sources: shared/reference/bir-odoo.md §1.2 and §1.7.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from odoolake.errors import BirRuleError

OPEN_END = date(9999, 12, 31)


@dataclass(frozen=True)
class AtcRate:
    atc: str
    payee_type: str  # "individual" | "corporation"
    description: str
    rate: Decimal  # percent, e.g. Decimal("2.00")
    valid_from: date
    valid_to: date = OPEN_END
    regime: str = "EWT"  # EWT | FWT | WVAT

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on <= self.valid_to


def _pair(ind: str, corp: str, description: str, rate: str, since: date, until: date = OPEN_END,
          regime: str = "EWT") -> list[AtcRate]:
    return [
        AtcRate(ind, "individual", description, Decimal(rate), since, until, regime),
        AtcRate(corp, "corporation", description, Decimal(rate), since, until, regime),
    ]


TRAIN = date(2018, 1, 1)

CATALOG: tuple[AtcRate, ...] = tuple(
    [
        AtcRate("WI010", "individual", "Professional fees, individual, gross income <= P3M", Decimal("5"), TRAIN),
        AtcRate("WI011", "individual", "Professional fees, individual, > P3M or VAT-registered", Decimal("10"),
                TRAIN),
        AtcRate("WC010", "corporation", "Professional fees, corporate, gross income <= P720k", Decimal("10"),
                TRAIN),
        AtcRate("WC011", "corporation", "Professional fees, corporate, gross income > P720k", Decimal("15"),
                TRAIN),
        *_pair("WI100", "WC100", "Rental of real or personal property", "5", TRAIN),
        *_pair("WI110", "WC110", "Cinematographic film rentals", "5", TRAIN),
        *_pair("WI120", "WC120", "Prime contractors and sub-contractors", "2", TRAIN),
        *_pair("WI515", "WC515", "Commissions to agents and dealers", "10", TRAIN),
        *_pair("WI516", "WC516", "Commissions to agents and dealers", "10", TRAIN),
        *_pair("WI157", "WC157", "Government and GOCC payments for services", "2", TRAIN),
        *_pair("WI640", "WC640", "Government and GOCC payments for goods", "1", TRAIN),
        *_pair("WI158", "WC158", "Top withholding agent: goods from local suppliers", "1", date(2021, 1, 1)),
        *_pair("WI160", "WC160", "Top withholding agent: services from local suppliers", "2", date(2021, 1, 1)),
        *_pair("WI156", "WC156", "Credit card companies' payments to merchants", "0.5", date(2025, 3, 14)),
        *_pair("WI820", "WC820", "E-marketplace operators' remittances to sellers", "0.5", date(2025, 3, 14)),
        *_pair("WI830", "WC830", "Digital financial services providers' remittances", "0.5", date(2025, 3, 14)),
        *_pair("WI760", "WC760", "E-marketplace remittances (RR 16-2023, 1% of one half)", "0.5",
               date(2024, 1, 11), date(2025, 3, 13)),
        AtcRate("WC230", "corporation", "Other payments to non-resident foreign corporations", Decimal("25"),
                TRAIN, regime="FWT"),
        *_pair("WV010", "WV010", "Final withholding VAT, government purchases of goods", "5", TRAIN,
               regime="WVAT")[:1],
        *_pair("WV020", "WV020", "Final withholding VAT, government purchases of services", "5", TRAIN,
               regime="WVAT")[:1],
    ]
)

# RR 24-2025: from 10 Oct 2025 a TWA withholds 0.5% on goods bought for wholesale from manufacturers or
# importers of motor vehicles, medicines and fuels. Whether new ATCs were issued is unverified
# (bir-odoo.md §7), so the reduced rate is a separate, explicitly named rate row on WC158/WI158.
TWA_REDUCED_GOODS = (
    AtcRate("WI158", "individual", "TWA goods: fuel, medicine, motor vehicles (RR 24-2025)", Decimal("0.5"),
            date(2025, 10, 10)),
    AtcRate("WC158", "corporation", "TWA goods: fuel, medicine, motor vehicles (RR 24-2025)", Decimal("0.5"),
            date(2025, 10, 10)),
)

ALL_RATES: tuple[AtcRate, ...] = CATALOG + TWA_REDUCED_GOODS
KNOWN_ATCS: frozenset[str] = frozenset(r.atc for r in ALL_RATES)


def rates_for(atc: str, on: date) -> list[AtcRate]:
    """Every rate row in force for ``atc`` on ``on``; raises BirRuleError for an unknown ATC."""
    code = atc.strip().upper()
    if code not in KNOWN_ATCS:
        raise BirRuleError(f"Unknown ATC {atc!r}: not in the catalog of {len(KNOWN_ATCS)} codes.")
    return [r for r in ALL_RATES if r.atc == code and r.in_force(on)]


def is_valid_rate(atc: str, on: date, rate_percent: Decimal) -> bool:
    return any(r.rate == rate_percent for r in rates_for(atc, on))


def payee_type_of(atc: str) -> str:
    """``individual`` for WI…, ``corporation`` for WC…."""
    code = atc.strip().upper()
    if code.startswith("WI"):
        return "individual"
    if code.startswith("WC"):
        return "corporation"
    return "any"


def catalog_rows() -> list[tuple[str, str, str, float, str, str, str]]:
    """The catalog as plain rows (for a Spark DataFrame): atc, payee_type, regime, rate %, from, to, text."""
    return [
        (r.atc, r.payee_type, r.regime, float(r.rate), r.valid_from.isoformat(), r.valid_to.isoformat(),
         r.description)
        for r in ALL_RATES
    ]
