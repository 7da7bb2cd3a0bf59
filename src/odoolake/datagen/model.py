"""Reference data for the generator: agencies, vendor categories, taxes, and the messy-case rates.

Shares and rates follow shared/reference/bir-odoo.md §6 (a medium, VAT-registered company that is a
top withholding agent). They are design assumptions, not measured statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from odoolake.bir.atc import rates_for

AGENCIES: tuple[str, ...] = ("RIM", "CKVC", "BOM", "JPAL", "JLI", "JAP", "LAS", "RMQB")

# Months are numbered from this epoch so ids stay stable when months are added later.
EPOCH = date(2020, 1, 1)
ID_BLOCK = 10_000_000  # ids available per (month, agency) for moves and for lines
PARTNER_BASE = 100_000
TAX_BASE = 1_000


@dataclass(frozen=True)
class VendorCategory:
    key: str
    share: float  # share of bill lines
    payee: str  # "corporation" | "individual"
    atcs: tuple[str, ...]  # candidate ATCs, chosen per vendor
    amount_median: float  # PHP, VAT-exclusive line amount
    sigma: float = 1.0
    service: bool = False


CATEGORIES: tuple[VendorCategory, ...] = (
    VendorCategory("goods_corp", 0.40, "corporation", ("WC158",), 9_000, 1.1),
    VendorCategory("goods_ind", 0.05, "individual", ("WI158",), 6_000, 1.0),
    VendorCategory("services_corp", 0.18, "corporation", ("WC160",), 14_000, 1.1, True),
    VendorCategory("services_ind", 0.03, "individual", ("WI160",), 7_000, 0.9, True),
    VendorCategory("contractor", 0.06, "corporation", ("WC120", "WI120"), 60_000, 1.2, True),
    VendorCategory("rent", 0.02, "corporation", ("WC100", "WI100"), 180_000, 0.3, True),
    VendorCategory("prof_corp", 0.03, "corporation", ("WC011", "WC010"), 80_000, 1.0, True),
    VendorCategory("prof_ind", 0.05, "individual", ("WI010", "WI011"), 30_000, 0.9, True),
    VendorCategory("commission", 0.01, "individual", ("WI515", "WI516"), 40_000, 0.8, True),
    VendorCategory("no_ewt", 0.14, "corporation", (), 5_000, 1.2),
    VendorCategory("nonresident", 0.03, "corporation", ("WC230",), 25_000, 1.0, True),
)


@dataclass(frozen=True)
class TaxSpec:
    key: str
    name: str
    amount: float  # Odoo percent; withholding taxes are negative
    use: str  # purchase | sale
    atc: str | None  # l10n_ph_atc, None when the field is empty
    kind: str  # vat | ewt | cwt | fwt
    vat_category: str | None = None
    on_payment: bool = False  # Odoo 19 "Withhold On Payment" (l10n_account_withholding_tax)


VAT_TAXES: tuple[TaxSpec, ...] = (
    TaxSpec("vat_goods", "12% VAT goods", 12.0, "purchase", None, "vat", "goods"),
    TaxSpec("vat_services", "12% VAT services", 12.0, "purchase", None, "vat", "services"),
    TaxSpec("vat_capital", "12% VAT capital goods", 12.0, "purchase", None, "vat", "capital_goods"),
    TaxSpec("vat_import", "12% VAT imports", 12.0, "purchase", None, "vat", "imports"),
    TaxSpec("vat_zero", "0% VAT zero-rated purchases", 0.0, "purchase", None, "vat", "zero_rated"),
    TaxSpec("vat_exempt", "VAT-exempt purchases", 0.0, "purchase", None, "vat", "exempt"),
    TaxSpec("vat_sale", "12% VAT sales", 12.0, "sale", None, "vat", "taxable"),
    TaxSpec("vat_sale_zero", "0% VAT sales zero-rated", 0.0, "sale", None, "vat", "zero_rated"),
)

# The EWT taxes configured in the generated Odoo, at their catalog rates (odoolake.bir.atc is the one rate table).
GENERATED_EWT_ATCS = ("WI010", "WI011", "WC010", "WC011", "WI100", "WC100", "WI120", "WC120", "WI515", "WI516",
                      "WC515", "WC516", "WI158", "WC158", "WI160", "WC160")
EWT_RATES: dict[str, float] = {atc: float(rates_for(atc, date(2024, 1, 1))[0].rate) for atc in GENERATED_EWT_ATCS}


def withholding_taxes() -> tuple[TaxSpec, ...]:
    specs = [TaxSpec(f"ewt_{atc}", f"{rate:g}% {atc}", -float(rate), "purchase", atc, "ewt")
             for atc, rate in EWT_RATES.items()]
    specs += [
        TaxSpec("ewt_WC158_half", "0.5% WC158 fuel/medicine (RR 24-2025)", -0.5, "purchase", "WC158", "ewt"),
        TaxSpec("fwt_WC230", "25% WC230 non-resident", -25.0, "purchase", "WC230", "fwt"),
        # Hand-made taxes, as users create them for ATCs Odoo does not ship (bir-odoo.md §3.3):
        TaxSpec("manual_named", "2% WC120 contractor (manual)", -2.0, "purchase", None, "ewt"),
        TaxSpec("manual_unnamed", "2% EWT contractor", -2.0, "purchase", None, "ewt"),
        TaxSpec("cwt_WC158", "1% WC158 withheld by customer", -1.0, "sale", "WC158", "cwt"),
        TaxSpec("cwt_WC160", "2% WC160 withheld by customer", -2.0, "sale", "WC160", "cwt"),
        TaxSpec("cwt_manual", "2% CWT withheld by customer (manual)", -2.0, "sale", None, "cwt"),
    ]
    specs += [TaxSpec(f"ewt_{atc}_onpay", f"{rate:g}% {atc} (on payment)", -float(rate), "purchase", atc, "ewt",
                      on_payment=True) for atc, rate in EWT_RATES.items()]
    return tuple(specs)


ALL_TAXES: tuple[TaxSpec, ...] = VAT_TAXES + withholding_taxes()


@dataclass(frozen=True)
class MessyRates:
    """Per-record probabilities of each messy case (bir-odoo.md §6.5)."""

    missing_tin: float = 0.04
    malformed_tin: float = 0.05
    duplicate_partner: float = 0.02
    credit_note: float = 0.03
    discount_line: float = 0.03
    duplicate_record: float = 0.01
    duplicate_bill: float = 0.005
    cancelled: float = 0.015
    draft_at_cutoff: float = 0.07
    draft_deleted: float = 0.01  # share of drafts
    reset_reposted: float = 0.01
    late_receipt: float = 0.10
    usd_bill: float = 0.04
    missing_rate: float = 0.002
    wrong_atc_payee: float = 0.02
    tax_without_atc: float = 0.015
    base_includes_vat: float = 0.01
    missing_field: float = 0.0005
    malformed_json_lines: int = 2  # per run, in the first batch of account.move.line
    ewt_on_payment: float = 0.4  # share of EWT vendors whose tax withholds on payment (Odoo 19+ only)


@dataclass(frozen=True)
class GenConfig:
    months: int = 24
    end: date = date(2026, 10, 1)  # first day of the last month generated
    lines: int = 200_000  # target number of account.move.line records over all months
    seed: int = 42
    agencies: tuple[str, ...] = AGENCIES
    messy: MessyRates = field(default_factory=MessyRates)
    customer_invoice_share: float = 0.12  # share of moves that are customer invoices
    odoo_version: int = 17  # 19+ adds withholding on payment (bir-odoo.md §3.4)
    as_of: date | None = None  # the day the extract is taken (the demo's --as-of); recorded with the run

    def month_starts(self) -> list[date]:
        out = []
        y, m = self.end.year, self.end.month
        for _ in range(self.months):
            out.append(date(y, m, 1))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        return sorted(out)


def month_index(month: date) -> int:
    return (month.year - EPOCH.year) * 12 + month.month - EPOCH.month
