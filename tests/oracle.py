"""An independent oracle: BIR figures computed from the raw Odoo drops with plain Python and pandas.

Written apart from the pipeline on purpose: it imports nothing from ``odoolake`` and has its own rate table, typed
from the regulations (RR 11-2018 as amended by RR 14-2018, RR 31-2020, RR 16-2023, RR 5-2025, RR 24-2025,
RA 11534). A bug in the pipeline's rules (a flipped comparison, a dropped filter, a wrong rate) makes its figures
disagree with these.

It covers: the journal's current state, the PHP amount of every tax line (including foreign-currency lines without
a PHP balance), the "withheld, to classify" bucket, EWT/FWT/CWT and VAT per agency and month, every quarantine and
flag reason per record, and the QAP / 2307 / SLSP rows per quarter.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

D0 = Decimal("0")
CENT = Decimal("0.01")
FAR = date(9999, 12, 31)
THRESHOLD = {"individual": Decimal("3000000"), "corporation": Decimal("720000")}
LISTED = {"vehicle_manufacturer", "vehicle_importer", "medicine_manufacturer", "medicine_importer",
          "fuel_manufacturer", "fuel_importer"}

# code, family, payee, condition, rate %, from, to, regime, payor
RULES: list[tuple[str, str, str, str, str, date, date, str, str]] = []


def _rule(code, family, payee, cond, rate, start=date(2018, 1, 1), end=FAR, regime="EWT", payor="any"):
    RULES.append((code, family, payee, cond, rate, start, end, regime, payor))


for _ind, _corp, _fam in (("WI010", "WC010", "prof"), ("WI515", "WC515", "comm")):
    _rule(_ind, _fam, "individual", "low", "5")
    _rule(_ind[:-1] + str(int(_ind[-1]) + 1), _fam, "individual", "high", "10")
    _rule(_corp, _fam, "corporation", "low", "10")
    _rule(_corp[:-1] + str(int(_corp[-1]) + 1), _fam, "corporation", "high", "15")
for _n, _fam, _rate in (("100", "rent", "5"), ("110", "film", "5"), ("120", "contractor", "2"),
                        ("157", "gov_services", "2"), ("640", "gov_goods", "1"), ("160", "twa_services", "2")):
    for _p, _pt in (("WI", "individual"), ("WC", "corporation")):
        _payor = "twa" if _n == "160" else "gov" if _n in ("157", "640") else "any"
        _rule(_p + _n, _fam, _pt, "any", _rate, payor=_payor)
for _p, _pt in (("WI", "individual"), ("WC", "corporation")):
    _rule(_p + "158", "twa_goods", _pt, "any", "1", end=date(2025, 10, 9), payor="twa")
    _rule(_p + "158", "twa_goods", _pt, "unlisted", "1", start=date(2025, 10, 10), payor="twa")
    _rule(_p + "158", "twa_goods", _pt, "listed", "0.5", start=date(2025, 10, 10), payor="twa")
    _rule(_p + "760", "emarket", _pt, "any", "0.5", start=date(2024, 1, 11), end=date(2025, 3, 13))
    for _n, _fam in (("156", "card"), ("820", "emarket"), ("830", "dfsp")):
        _rule(_p + _n, _fam, _pt, "any", "0.5", start=date(2025, 3, 14))
_rule("WC230", "nrfc", "corporation", "any", "30", end=date(2020, 12, 31), regime="FWT")
_rule("WC230", "nrfc", "corporation", "any", "25", start=date(2021, 1, 1), regime="FWT")
_rule("WV010", "gov_vat_goods", "any", "any", "5", regime="WVAT", payor="gov")
_rule("WV020", "gov_vat_services", "any", "any", "5", regime="WVAT", payor="gov")

CODES = {r[0] for r in RULES}
FAMILY = {r[0]: r[1] for r in RULES}
REGIME = {r[0]: r[7] for r in RULES}
PAYOR = {r[0]: r[8] for r in RULES}
THRESHOLD_FAMILIES = {"prof", "comm"}


def q2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value) -> Decimal:
    if value is None or value is False or (isinstance(value, float) and pd.isna(value)):
        return D0
    return Decimal(str(value))


def load(raw: Path, model: str) -> pd.DataFrame:
    rows = []
    for path in sorted((raw / model).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                rec["_batch"] = path.stem
                rows.append(rec)
    return pd.DataFrame(rows)


def latest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["write_date", "_batch"], kind="stable").groupby("id").tail(1)


def text(value) -> str:
    return "" if value is None or value is False or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def parse_tin(vat, hint) -> tuple[str | None, str]:
    """(TIN + 4-digit branch, status) from Odoo's vat, as BIR and Odoo format it (9 digits plus a branch)."""
    raw = text(vat)
    if raw == "" or raw.lower() == "false":
        return None, "MISSING"
    digits = re.sub(r"\D", "", raw)
    if re.search(r"[A-Za-z]", raw) or len(digits) not in (9, 12, 13, 14) or len(set(digits[:9])) == 1:
        return None, "MALFORMED"
    branch = digits[9:] or re.sub(r"\D", "", text(hint) if text(hint).lower() != "false" else "")
    branch = branch.lstrip("0") or "0"
    if len(branch) > 4:
        return None, "MALFORMED"
    status = "VALID" if re.fullmatch(r"\d{3}-\d{3}-\d{3}(-\d{3,5})?", raw) else "NORMALISED"
    return digits[:9] + branch.zfill(4), status


@dataclass
class Partner:
    id: int
    name: str
    is_company: bool | None
    key: str
    tin_status: str
    name_status: str
    last: str
    first: str
    middle: str
    has_address: bool
    has_zip: bool
    declaration: str
    declared_on: date | None
    vat_registered: bool
    seller: str
    deleted: bool


def partners_of(raw: Path) -> dict[int, Partner]:
    out = {}
    for _, p in latest(load(raw, "res_partner")).iterrows():
        is_company = p.get("is_company")
        if is_company is None or (isinstance(is_company, float) and pd.isna(is_company)):
            is_company = p.get("company_type") == "company" if text(p.get("company_type")) else None
        tin, status = parse_tin(p.get("vat"), p.get("branch_code"))
        name = text(p.get("name"))
        last, first, middle = (text(p.get(f)) for f in ("last_name", "first_name", "middle_name"))
        last, first, middle = ("" if v.lower() == "false" else v for v in (last, first, middle))
        pieces = name.split(",")
        if is_company:
            name_status = "company"
        elif last and first:
            name_status = "fields"
        elif 2 <= len(pieces) <= 3 and all(x.strip() for x in pieces[:2]):
            name_status, last, first = "comma", pieces[0].strip(), pieces[1].strip()
            middle = pieces[2].strip() if len(pieces) == 3 else ""
        else:
            name_status = "not_split"
        country = p.get("country_id")
        abroad = isinstance(country, list) and country[1] != "Philippines"
        has_address = bool(text(p.get("street")) or text(p.get("street2")) or text(p.get("city"))
                           or isinstance(p.get("state_id"), list) or abroad)
        declared_on = text(p.get("x_ph_declaration_date"))
        out[int(p["id"])] = Partner(
            int(p["id"]), name, is_company, tin or f"partner:{int(p['id'])}", status, name_status, last, first, middle,
            has_address, bool(text(p.get("zip"))), text(p.get("x_ph_gross_income_declaration")).lower(),
            date.fromisoformat(declared_on) if declared_on else None, bool(p.get("x_ph_vat_registered") is True),
            text(p.get("x_ph_seller_category")).lower(), bool(p.get("_deleted") is True))
    return out


@dataclass
class Line:
    line_id: int
    move_id: int
    move_type: str
    agency: str
    on: date
    written: date
    partner: Partner | None
    sale: bool
    withholding: bool
    rate: Decimal
    atc: str | None
    atc_from_name: bool
    vat_category: str
    php: Decimal | None
    php_from_base: bool
    base: Decimal
    reason: str | None = None  # UNKNOWN_TAX / UNKNOWN_ATC / ATC_NOT_IN_FORCE / MISSING_CURRENCY_RATE
    php_from_rate: bool = False
    flags: set[str] = field(default_factory=set)
    paid: Decimal | None = None

    @property
    def period(self) -> str:
        return f"{self.on:%Y-%m}"

    @property
    def quarter(self) -> str:
        return f"{self.on.year}Q{(self.on.month - 1) // 3 + 1}"

    @property
    def withheld(self) -> Decimal:
        return (self.php if self.sale else -self.php) if self.php is not None else D0

    @property
    def regime(self) -> str:
        if self.sale:
            return "CWT"
        return REGIME.get(self.atc or "", "EWT")


@dataclass
class Oracle:
    lines: list[Line]
    partners: dict[int, Partner]
    moves: pd.DataFrame  # current versions
    companies: dict[int, dict]

    # -- totals ---------------------------------------------------------------------------------------------------
    def totals(self) -> dict[tuple[str, str], dict[str, Decimal]]:
        out: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: D0))
        for ln in self.lines:
            if ln.reason == "UNKNOWN_TAX":
                continue
            t = out[(ln.agency, ln.period)]
            if ln.withholding:
                regime = ln.regime
                name = {"EWT": "withholding_tax", "FWT": "final_withholding_tax", "WVAT": "withholding_vat",
                        "CWT": "income_tax"}[regime]
                t[name] += ln.withheld
                if ln.reason:
                    t[{"EWT": "withholding_to_classify", "FWT": "final_withholding_to_classify",
                       "CWT": "income_tax_to_classify", "WVAT": "withholding_vat_to_classify"}[regime]] += ln.withheld
            elif ln.reason is None:
                t["output_vat" if ln.sale else "input_vat"] += -ln.php if ln.sale else ln.php
        return out

    # -- reasons --------------------------------------------------------------------------------------------------
    def reason_ids(self) -> dict[str, set[int]]:
        """Record ids per quarantine reason (lines, moves or partners), as the rules say they should be."""
        out: dict[str, set[int]] = defaultdict(set)
        for _, m in self.moves.iterrows():
            if m.get("_deleted") is True:
                out["DELETED"].add(int(m["id"]))
            elif m["state"] == "draft":
                out["DRAFT"].add(int(m["id"]))
            elif m["state"] == "cancel":
                out["CANCELLED"].add(int(m["id"]))
        out["DUPLICATE_BILL"] |= self.duplicate_bills
        for ln in self.lines:
            if ln.reason:
                out[ln.reason].add(ln.line_id)
            for flag in ln.flags:
                out[flag].add(ln.line_id)
        for p in self.partners.values():
            if p.deleted:
                continue
            if p.is_company is False and p.name_status == "not_split":
                out["NAME_NOT_SPLIT"].add(p.id)
            if not p.has_address or not p.has_zip:
                out["MISSING_ADDRESS"].add(p.id)
        names: dict[str, set[str]] = defaultdict(set)
        for p in self.partners.values():
            if not p.deleted:
                names[p.key].add(p.name.upper())
        out["TIN_SHARED_BY_PARTNERS"] = {p.id for p in self.partners.values()
                                         if not p.deleted and len(names[p.key]) > 1}
        return out

    duplicate_bills: set[int] = field(default_factory=set)

    # -- forms ----------------------------------------------------------------------------------------------------
    def qap_rows(self, regime: str = "EWT") -> dict[tuple[str, str, str, str, Decimal], tuple[Decimal, Decimal]]:
        """(agency, quarter, payee key, ATC, rate) -> (income, tax withheld), classified purchase lines only."""
        rows: dict = defaultdict(lambda: [D0, D0])
        for ln in self.lines:
            if ln.withholding and not ln.sale and ln.reason is None and ln.regime == regime:
                key = (ln.agency, ln.quarter, ln.partner.key if ln.partner else "", ln.atc, ln.rate)
                rows[key][0] += ln.base
                rows[key][1] += ln.withheld
        return {k: (v[0], v[1]) for k, v in rows.items()}

    def slsp(self) -> dict[tuple[str, str, str], Decimal]:
        """(agency, quarter, side) -> net VAT base, sales / purchases / importations."""
        out: dict = defaultdict(lambda: D0)
        for ln in self.lines:
            if not ln.withholding and ln.reason is None:
                side = "sale" if ln.sale else "import" if ln.vat_category == "imports" else "purchase"
                out[(ln.agency, ln.quarter, side)] += ln.base
        return dict(out)


def _deadline(on: date) -> date:
    year, month = (on.year + 1, 1) if on.month == 12 else (on.year, on.month + 1)
    if on.month in (3, 6, 9, 12):
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)
    return date(year, month, 10)


def _vat_category(name: str, use: str) -> str:
    low = name.lower()
    for word, cat in (("zero", "zero_rated"), ("exempt", "exempt"), ("capital", "capital_goods"),
                      ("import", "imports"), ("service", "services")):
        if word in low:
            return cat
    return "taxable" if use == "sale" else "goods"


def exchange_rates(raw: Path) -> dict[str, list[tuple[date, Decimal]]]:
    """Currency -> [(date, PHP per unit)] from Odoo's rate table, one rate a day (the newest record), by date."""
    frame = load(raw, "res_currency_rate")
    if frame.empty:
        return {}
    by_day: dict[tuple[str, date], tuple[int, Decimal]] = {}
    for _, r in latest(frame).iterrows():
        if r.get("_deleted") is True:
            continue
        per_unit = dec(r.get("inverse_company_rate")) or (1 / dec(r["rate"]) if dec(r.get("rate")) else D0)
        key = (r["currency_id"][1], date.fromisoformat(str(r["name"])[:10]))
        if per_unit and (key not in by_day or int(r["id"]) > by_day[key][0]):
            by_day[key] = (int(r["id"]), Decimal(per_unit).quantize(Decimal("0.000001")))
    out: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for (currency, day), (_, value) in sorted(by_day.items()):
        out[currency].append((day, value))
    return out


def rate_on(rates: dict[str, list[tuple[date, Decimal]]], currency: str, on: date) -> Decimal | None:
    """The latest rate on or before ``on`` (a rate holds until the next one)."""
    found = [value for day, value in rates.get(currency, []) if day <= on]
    return found[-1] if found else None


def build(raw: Path) -> Oracle:
    partners = partners_of(raw)
    rates = exchange_rates(raw)
    companies = {int(c["id"]): c for _, c in latest(load(raw, "res_company")).iterrows()}
    taxes = {int(t["id"]): t for _, t in latest(load(raw, "account_tax")).iterrows()}
    all_moves = load(raw, "account_move")
    # a tombstone carries no date or company: they come from the move's earlier versions
    moves = latest(all_moves).copy()
    posted = moves[(moves.get("_deleted") != True) & (moves["state"] == "posted")].copy()  # noqa: E712
    keyed = posted[posted["ref"].map(lambda r: bool(text(r)) and text(r).lower() != "false")]
    dup_ids: set[int] = set()
    for _, group in keyed.groupby(keyed.apply(lambda m: (m["company_id"][0], m["partner_id"][0], m["move_type"],
                                                           m["ref"]), axis=1)):
        dup_ids |= set(sorted(int(i) for i in group["id"])[1:])
    usable = posted[~posted["id"].isin(dup_ids)]
    lines = load(raw, "account_move_line")
    lines = lines[lines["balance"].notna()].copy()
    lines["move"] = lines["move_id"].map(lambda v: v[0])
    lines = lines.merge(usable[["id", "_batch", "company_id", "currency_id", "move_type", "partner_id", "date"]].rename(
        columns={"id": "move", "_batch": "move_batch", "company_id": "move_company", "currency_id": "move_currency",
                 "partner_id": "move_partner", "date": "move_date"}), on="move")
    lines = latest(lines[lines["_batch"] >= lines["move_batch"]])
    out: list[Line] = []
    for _, ln in lines.iterrows():
        if not isinstance(ln["tax_line_id"], list):
            continue
        tax = taxes.get(int(ln["tax_line_id"][0]))
        partner = partners.get(int(ln["move_partner"][0])) if isinstance(ln["move_partner"], list) else None
        on = date.fromisoformat(ln["move_date"])
        written = date.fromisoformat(str(ln["write_date"])[:10])
        refund = ln["move_type"] in ("in_refund", "out_refund")
        base = abs(dec(ln.get("tax_base_amount"))) * (-1 if refund else 1)
        if tax is None:
            out.append(Line(int(ln["id"]), int(ln["move"]), ln["move_type"], ln["move_company"][1], on, written,
                            partner, False, False, D0, None, False, "", None, False, base, reason="UNKNOWN_TAX"))
            continue
        rate = abs(dec(tax["amount"]))
        field_atc = text(tax.get("l10n_ph_atc")).upper()
        field_atc = "" if field_atc == "FALSE" else field_atc
        named = re.findall(r"W[ICV]\d{3}", text(tax["name"]).upper())
        atc = field_atc or (named[0] if named else None)
        balance, in_currency = dec(ln["balance"]), dec(ln.get("amount_currency"))
        php: Decimal | None = balance
        from_base = from_rate = False
        # Odoo books a currency that has no rate at all at 1.0 (res.currency._get_rates: COALESCE(..., 1.0)): the
        # balance is then the document amount, and the line's tax base too, neither of them pesos
        at_one = ln["move_currency"][1] != "PHP" and in_currency != 0 and balance == in_currency
        if ln["move_currency"][1] != "PHP" and (balance == 0 or at_one) and in_currency != 0:
            tax_base = D0 if at_one else abs(dec(ln.get("tax_base_amount")))
            fx = rate_on(rates, ln["move_currency"][1], on)
            if tax_base:
                php, from_base = q2(tax_base * rate / 100) * (1 if in_currency > 0 else -1), True
            elif fx is not None:
                php, from_rate = q2(in_currency * fx), True
                if not tax_base and rate:  # no PHP base in Odoo: the base the converted tax implies
                    base = q2(abs(php) * 100 / rate) * (-1 if refund else 1)
            else:
                php = None
        withholding = dec(tax["amount"]) < 0
        sale = tax["type_tax_use"] == "sale"
        line = Line(int(ln["id"]), int(ln["move"]), ln["move_type"], ln["move_company"][1], on, written, partner,
                    sale, withholding, rate, atc, not field_atc and atc is not None,
                    _vat_category(text(tax["name"]), tax["type_tax_use"]), php, from_base, base, php_from_rate=from_rate)
        if php is None:
            line.reason = "MISSING_CURRENCY_RATE"
        elif withholding and atc not in CODES:
            line.reason = "UNKNOWN_ATC"
        elif withholding and not any(r[0] == atc and r[5] <= on <= r[6] for r in RULES):
            line.reason = "ATC_NOT_IN_FORCE"
        out.append(line)
    oracle = Oracle(out, partners, moves, companies, dup_ids)
    _flag(oracle)
    return oracle


def _flag(oracle: Oracle) -> None:
    wht = [ln for ln in oracle.lines if ln.withholding and ln.reason != "UNKNOWN_TAX"]
    running: dict[tuple, Decimal] = defaultdict(lambda: D0)
    for ln in sorted(wht, key=lambda x: (x.on, x.line_id)):
        if not ln.sale and ln.reason is None and FAMILY.get(ln.atc or "") in THRESHOLD_FAMILIES:
            key = (ln.agency, ln.partner.key if ln.partner else "", ln.on.year, FAMILY[ln.atc])
            running[key] += ln.base
            ln.paid = running[key]
    for ln in wht:
        p = ln.partner
        status = p.tin_status if p else None
        if status == "MISSING":
            ln.flags.add("MISSING_TIN")
        if status == "MALFORMED":
            ln.flags.add("MALFORMED_TIN")
        if ln.php_from_base:
            ln.flags.add("PHP_FROM_TAX_BASE")
        if ln.php_from_rate:
            ln.flags.add("PHP_FROM_REFERENCE_RATE")
        if ln.reason is not None:
            if not ln.sale and ln.written > _deadline(ln.on):
                ln.flags.add("BACKDATED_POSTING")
            continue
        if ln.atc_from_name:
            ln.flags.add("ATC_FROM_NAME")
        in_force = [r for r in RULES if r[0] == ln.atc and r[5] <= ln.on <= r[6]]
        rate_ok = any(Decimal(r[4]) == ln.rate for r in in_force)
        if not rate_ok:
            ln.flags.add("RATE_NOT_IN_FORCE")
        at_rate = abs(ln.base) * ln.rate / 100
        if abs(abs(ln.withheld) - at_rate) > max(Decimal(1), at_rate * Decimal("0.005")):
            ln.flags.add("TAX_NOT_RATE_X_BASE")
        if ln.sale:
            continue
        if ln.written > _deadline(ln.on):
            ln.flags.add("BACKDATED_POSTING")
        is_company = p.is_company if p else None
        wrong_payee = (ln.atc.startswith("WI") and is_company is True) or (
            ln.atc.startswith("WC") and is_company is False)
        if wrong_payee:
            ln.flags.add("WRONG_ATC_FOR_PAYEE")
        company = next(c for c in oracle.companies.values() if c["name"] == ln.agency)
        since = text(company.get("x_ph_twa_since"))
        payor = PAYOR[ln.atc]
        if (payor == "twa" and not (since and date.fromisoformat(since) <= ln.on)) or (
                payor == "gov" and company.get("x_ph_is_government") is not True):
            ln.flags.add("PAYOR_NOT_ELIGIBLE")
        payee = "individual" if not is_company else "corporation"
        family = FAMILY[ln.atc]
        condition = "any"
        if family in THRESHOLD_FAMILIES:
            declared = p is not None and p.declaration == "not_over" and p.declared_on is not None \
                and p.declared_on <= ln.on
            vat_blocks = p is not None and p.vat_registered and payee == "individual"
            condition = "low" if declared and not vat_blocks and ln.paid <= THRESHOLD[payee] else "high"
        elif family == "twa_goods":
            condition = "listed" if p is not None and p.seller in LISTED else "unlisted"
        expected = [r for r in RULES if r[1] == family and r[2] in (payee, "any") and r[5] <= ln.on <= r[6]
                    and r[3] in ("any", condition)]
        assert len(expected) <= 1, (ln, expected)  # the rate table's conditions never overlap
        if not wrong_payee and rate_ok and expected and (expected[0][0] != ln.atc
                                                         or Decimal(expected[0][4]) != ln.rate):
            ln.flags.add("WRONG_RATE_FOR_PAYEE")
