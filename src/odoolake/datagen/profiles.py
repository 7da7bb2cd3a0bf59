"""Partner and company attributes the BIR outputs need, and the withholding-tax cases, for the generator.

Kept apart from the amounts (``generator.py``, ``model.py``) so the two evolve separately. Each function draws from
its own seeded stream (``attribute_rng``), so adding or changing an attribute never shifts the amounts.

- Individuals' names: 70% have Odoo's Last/First/Middle name fields; 15% only a name written
  ``Last, First, Middle``; 15% only ``First Middle Last`` (cannot be split: the NAME_NOT_SPLIT case).
- Registered addresses with the city's ZIP code; 20% of vendors lack the ZIP and 3% the whole address
  (bir-odoo.md §6.4).
- Sworn declarations of gross income (RR 11-2018) for payees of professional fees and commissions, VAT
  registration, and RR 24-2025 seller categories for goods suppliers.
- The ATC a vendor's tax carries follows the catalog (``odoolake.bir.atc``) for the payee's declaration, with the
  messy cases of §6.5: a WI code on a corporation and the reverse, a reduced TWA rate on an unlisted seller, the
  full rate on a listed one. Payees whose payments pass their threshold later in the year keep the lower code, as a
  tax set on a vendor in Odoo does (flagged WRONG_RATE_FOR_PAYEE by the pipeline).
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from odoolake.bir.atc import LISTED_SELLER_CATEGORIES, RR_24_2025, THRESHOLD_FAMILIES, family_of

FIRST_NAMES = ("Juan", "Maria", "Jose", "Ana", "Antonio", "Rosa", "Pedro", "Carmen", "Ramon", "Elena", "Miguel",
               "Teresa", "Rafael", "Luz", "Andres", "Cristina", "Eduardo", "Gloria", "Fernando", "Isabel",
               "Ricardo", "Josefina", "Manuel", "Corazon", "Roberto", "Victoria", "Emilio", "Pilar", "Danilo",
               "Rowena")
MIDDLE_NAMES = ("Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Flores",
                "Villanueva", "Aquino", "Ramos", "Castillo", "Navarro", "de Guzman", "Salazar", "Domingo",
                "Pascual", "Aguilar", "Manalo")
LAST_NAMES = ("Dela Cruz", "Santos", "Reyes", "Garcia", "De los Reyes", "San Jose", "Bautista", "Mendoza",
              "Villanueva", "Ramos", "Gonzales", "Fernandez", "Lopez", "Del Rosario", "Castro", "Rivera",
              "Tolentino", "Soriano", "Mercado", "Sta. Maria")
CITIES = (  # city, province (state_id), ZIP
    ("Makati City", "Metro Manila", "1226"), ("Quezon City", "Metro Manila", "1100"),
    ("Pasig City", "Metro Manila", "1605"), ("Taguig City", "Metro Manila", "1634"),
    ("Cebu City", "Cebu", "6000"), ("Davao City", "Davao del Sur", "8000"), ("Iloilo City", "Iloilo", "5000"),
    ("Cagayan de Oro City", "Misamis Oriental", "9000"), ("Baguio City", "Benguet", "2600"),
    ("Santa Rosa City", "Laguna", "4026"),
)
STREETS = ("Ayala Avenue", "Rizal Street", "Mabini Street", "Bonifacio Drive", "Osmena Boulevard", "Luna Street",
           "Quezon Avenue", "Roxas Boulevard", "Aguinaldo Highway", "Magsaysay Avenue")
STATE_IDS = {province: 600 + i for i, province in enumerate(sorted({c[1] for c in CITIES}))}
LISTED_CATEGORIES = tuple(sorted(LISTED_SELLER_CATEGORIES))
IMPORT_COUNTRIES = ((48, "China"), (113, "Japan"), (197, "Singapore"))

NAME_FIELDS_SHARE = 0.70
COMMA_NAME_SHARE = 0.15  # the rest cannot be split
MISSING_ADDRESS = 0.03
MISSING_ZIP = 0.20
LISTED_SELLER_SHARE = 0.15  # of goods suppliers that are corporations
IMPORTER_SHARE = 0.03  # of corporate goods suppliers: foreign sellers whose goods are imported (VAT at customs)
DECLARED_NOT_OVER = 0.5  # of payees of professional fees and commissions
REDUCED_ON_UNLISTED = 0.02  # RR 24-2025 0.5% wrongly used for an unlisted seller
FULL_ON_LISTED = 0.05  # the old 1% kept for a listed seller
DECLARATION_DATE = "2020-01-06"


def attribute_rng(seed: int, partner_id: int) -> random.Random:
    return random.Random(seed * 7_919 + partner_id * 104_729 + 13)


def person_name(index: int, rng: random.Random) -> tuple[dict[str, Any], str]:
    """Odoo's ``name`` and l10n_ph name fields for individual number ``index`` (unique names), and its case."""
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    middle = MIDDLE_NAMES[(index // len(FIRST_NAMES)) % len(MIDDLE_NAMES)]
    last = LAST_NAMES[(index // (len(FIRST_NAMES) * len(MIDDLE_NAMES))) % len(LAST_NAMES)]
    roll = rng.random()
    if roll < NAME_FIELDS_SHARE:
        return {"name": f"{first} {middle} {last}", "first_name": first, "middle_name": middle,
                "last_name": last}, ""
    if roll < NAME_FIELDS_SHARE + COMMA_NAME_SHARE:
        return {"name": f"{last}, {first}, {middle}", "first_name": False, "middle_name": False,
                "last_name": False}, "name_comma"
    return {"name": f"{first} {middle} {last}", "first_name": False, "middle_name": False,
            "last_name": False}, "name_not_split"


def address(rng: random.Random) -> tuple[dict[str, Any], str]:
    """A registered address (street, city, province, ZIP), possibly incomplete, and its case."""
    city, province, zip_code = rng.choice(CITIES)
    fields: dict[str, Any] = {
        "street": f"{rng.randint(1, 999)} {rng.choice(STREETS)}", "street2": False, "city": city,
        "state_id": [STATE_IDS[province], province], "zip": zip_code,
    }
    roll = rng.random()
    if roll < MISSING_ADDRESS:
        return dict(fields, street=False, city=False, state_id=False, zip=False), "missing_address"
    if roll < MISSING_ADDRESS + MISSING_ZIP:
        return dict(fields, zip=False), "missing_zip"
    return fields, ""


def vendor_profile(rng: random.Random, category: str, atcs: tuple[str, ...], is_company: bool,
                   vat_status: str) -> tuple[dict[str, Any], list[str]]:
    """The vendor's declaration, VAT registration and seller category (custom x_ph_* fields), and its cases."""
    cases: list[str] = []
    families = {family_of(a) for a in atcs}
    declared = None
    if families & THRESHOLD_FAMILIES:
        declared = "not_over" if rng.random() < DECLARED_NOT_OVER else "over"
    seller: str | bool = False
    if "twa_goods" in families and is_company and rng.random() < LISTED_SELLER_SHARE:
        seller = rng.choice(LISTED_CATEGORIES)
        cases.append("listed_seller")
    return {
        "x_ph_gross_income_declaration": declared or False,
        "x_ph_declaration_date": DECLARATION_DATE if declared else False,
        "x_ph_vat_registered": vat_status == "vat",
        "x_ph_seller_category": seller,
    }, cases


def is_importer(rng: random.Random, category: str, is_company: bool) -> bool:
    return category == "goods_corp" and is_company and rng.random() < IMPORTER_SHARE


def importer_fields(rng: random.Random) -> dict[str, Any]:
    country = rng.choice(IMPORT_COUNTRIES)
    return {"country_id": list(country), "vat": False, "branch_code": False, "x_ph_seller_category": False}


def vendor_atc(rng: random.Random, atcs: tuple[str, ...], is_company: bool, profile: dict[str, Any],
               wrong_payee_rate: float) -> tuple[str, str]:
    """The ATC of the tax set on the vendor in Odoo, and the messy case it carries ("" when none).

    Threshold families take the lower code when the payee declared its gross income not over the threshold (and
    is not a VAT-registered individual), else the higher one. A share of vendors gets the other payee type's code.
    """
    code = atcs[0]
    if family_of(code) in THRESHOLD_FAMILIES:
        lower = profile["x_ph_gross_income_declaration"] == "not_over" and not (
            profile["x_ph_vat_registered"] and not is_company)
        code = sorted(atcs)[0] if lower else sorted(atcs)[-1]
    elif len(atcs) > 1:
        code = atcs[0] if rng.random() < 0.7 else atcs[1]
    if code.startswith(("WC", "WI")) and code != "WC230":
        code = ("WC" if is_company else "WI") + code[2:]
        if rng.random() < wrong_payee_rate:
            return ("WI" if is_company else "WC") + code[2:], "wrong_atc_payee"
    return code, ""


def bill_withholding_key(vendor_key: str | None, seller_category: Any, on: date, rng: random.Random) -> tuple[
        str | None, str]:
    """The withholding tax used on one bill: RR 24-2025's 0.5% for listed sellers from 10 Oct 2025, with the two
    messy cases (0.5% on an unlisted seller, 1% kept on a listed one)."""
    if vendor_key != "ewt_WC158" or on < RR_24_2025:
        return vendor_key, ""
    if seller_category:
        if rng.random() < FULL_ON_LISTED:
            return vendor_key, "twa_full_rate_on_listed"
        return "ewt_WC158_half", "twa_reduced_rate"
    if rng.random() < REDUCED_ON_UNLISTED:
        return "ewt_WC158_half", "twa_reduced_rate_unlisted"
    return vendor_key, ""


def company_profile(code: str, index: int, rng: random.Random) -> dict[str, Any]:
    """A company's registered name, address and BIR attributes (TWA since 2021, eFPS group)."""
    city, province, zip_code = CITIES[index % len(CITIES)]
    return {
        "x_ph_registered_name": f"{code} Advertising Corporation",
        "street": f"{10 + index} {STREETS[index % len(STREETS)]}", "street2": False, "city": city,
        "state_id": [STATE_IDS[province], province], "zip": zip_code, "country_id": [177, "Philippines"],
        "x_ph_twa_since": "2021-01-01",
        "x_ph_is_government": False,
        "x_ph_efps_group": "ABCDE"[index % 5] if index % 3 else False,
    }


NO_PHP_BASE = 0.5  # of bills posted without a rate: Odoo holds no PHP base either
RATE_ENTERED_LATER = 0.5  # of those: the rate of the bill's date is entered after posting


def currency_case(rng: random.Random) -> str:
    """For a foreign-currency bill posted without a rate: "" (Odoo still holds the PHP base), "no_php_base" (no
    PHP amount at all) or "no_php_base_rate_later" (the rate is entered later, in Odoo's rate table)."""
    if rng.random() >= NO_PHP_BASE:
        return ""
    return "no_php_base_rate_later" if rng.random() < RATE_ENTERED_LATER else "no_php_base"


def rate_record(rate_id: int, on: date, php_per_unit: float, company: list, written: str) -> dict[str, Any]:
    """A ``res.currency.rate`` record as ``search_read`` returns it (USD, for one company)."""
    return {"id": rate_id, "name": on.isoformat(), "currency_id": [2, "USD"], "company_id": company,
            "rate": round(1 / php_per_unit, 12), "inverse_company_rate": php_per_unit, "write_date": written}


CUSTOMER_TAX_WITHOUT_ATC = 0.03  # of customer invoices with withholding: a hand-made tax without an ATC


def customer_tax_without_atc(rng: random.Random) -> bool:
    """A customer's withholding booked under a hand-made tax with no ATC (carried to classify on the SAWT side)."""
    return rng.random() < CUSTOMER_TAX_WITHOUT_ATC
