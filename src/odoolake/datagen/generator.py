"""Odoo-shaped synthetic extracts: what ``search_read`` returns, one JSON object per line.

Each month becomes one extraction batch (``odoo-YYYYMM``), written as
``<raw_root>/<model>/<batch>.jsonl`` for ``res_company``, ``res_partner``, ``account_tax``,
``account_move`` and ``account_move_line``. Values look as Odoo sends them: many2one fields are
``[id, "display name"]``, empty fields are ``false``, datetimes are UTC ``YYYY-MM-DD HH:MM:SS``.

Every (agency, month) has its own seeded random stream and id block, so a month generates the same
records whether it is produced alone or with the others: "add one month" is reproducible. Things that
happen to a month's records later (a draft posted, a duplicate bill cancelled, a bill reset and
re-posted) are emitted into the *next* month's batch, as an extractor would see them.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from odoolake.datagen import profiles
from odoolake.datagen.amounts import (
    LARGE_CONTRACT_REF,
    RETAINER_CATEGORIES,
    ad_hoc_median,
    amount_scale,
    count_scale,
    large_contract_base,
    line_amount,
    profile,
    retainer_fees,
    vendor_weights,
)
from odoolake.datagen.model import (
    ALL_TAXES,
    CATEGORIES,
    ID_BLOCK,
    PARTNER_BASE,
    TAX_BASE,
    GenConfig,
    TaxSpec,
    VendorCategory,
    month_index,
)
from odoolake.errors import DropConflictError

MODELS = ("res_company", "res_partner", "account_tax", "account_move", "account_move_line", "res_currency_rate")
USD_RATE = 56.2
RATELESS_MONTHS = 3  # the first months of generated data, where no USD rate is entered for rateless bills
# Sales lines are large enough that sales run about 1.5x purchases, as for the reference company (bir-odoo.md §6.1).
CUSTOMER_LINE_MEDIAN = 300_000
RDO = "050"


def batch_id(month: date) -> str:
    return f"odoo-{month:%Y%m}"


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Vendor:
    id: int
    name: str
    category: VendorCategory
    is_company: bool
    tax_key: str | None  # withholding tax spec key
    vat_status: str  # vat | nonvat | exempt | zero
    currency: str
    record: dict[str, Any]


@dataclass
class Manifest:
    """What the generator did, for tests and the demo: batches, row counts and injected cases."""

    config: GenConfig
    batches: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cases: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    files: list[str] = field(default_factory=list)

    def add_rows(self, model: str, n: int) -> None:
        self.rows[model] += n


class _Writer:
    """Buffers records per (model, batch) and writes JSON lines."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self.buffers: dict[tuple[str, str], list[bytes]] = defaultdict(list)

    def add(self, model: str, batch: str, record: dict[str, Any]) -> None:
        self.buffers[(model, batch)].append(orjson.dumps(record))

    def add_raw(self, model: str, batch: str, line: bytes) -> None:
        self.buffers[(model, batch)].append(line)

    def flush(self) -> None:
        for (model, batch), lines in sorted(self.buffers.items()):
            folder = self.root / model
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{batch}.jsonl"
            tmp = path.with_suffix(".jsonl.tmp")
            with tmp.open("wb") as fh:
                fh.write(b"\n".join(lines))
                fh.write(b"\n")
            tmp.replace(path)
            self.manifest.add_rows(model, len(lines))
            self.manifest.files.append(str(path))
        self.buffers.clear()


class Generator:
    def __init__(self, config: GenConfig) -> None:
        self.cfg = config
        months = config.month_starts()
        self.first_month = months[0]
        self.lines_per_agency_month = max(1.0, config.lines / (config.months * len(config.agencies)))
        master = random.Random(config.seed)
        self.manifest_cases: dict[str, list[int]] = {}
        self.companies = self._companies(master)
        self.taxes = self._taxes()
        self.vendors, self.customers, self.partner_records = self._partners(master)
        self.profiles = [profile(code, i, config.seed) for i, code in enumerate(config.agencies)]
        self.mean_level = sum(p.level for p in self.profiles) / len(self.profiles)
        plain = [v for v in self.vendors if v.currency == "PHP" and v.tax_key and v.tax_key.startswith("ewt_")
                 and not v.tax_key.endswith("_onpay")]
        self.retainers = [retainer_fees(i, config.seed, [v for v in plain if v.category.key in RETAINER_CATEGORIES])
                          for i in range(len(config.agencies))]
        self.contractors = [v for v in plain if v.category.key == "contractor"] or plain  # tiny runs may have none

    # -- master data -----------------------------------------------------------------------------

    def _companies(self, rng: random.Random) -> list[dict[str, Any]]:
        out = []
        for idx, code in enumerate(self.cfg.agencies, start=1):
            tin = f"{rng.randint(0, 99):03d}-{rng.randint(100, 999)}-{rng.randint(100, 999)}-00000"
            out.append({
                "id": idx, "name": code, "vat": tin, "l10n_ph_rdo": RDO, "currency_id": [1, "PHP"],
                "partner_id": [idx, code], "write_date": f"{self.first_month:%Y-%m-%d} 00:00:00",
                **profiles.company_profile(code, idx, profiles.attribute_rng(self.cfg.seed, idx)),
            })
        return out

    def _taxes(self) -> dict[tuple[int, str], dict[str, Any]]:
        taxes: dict[tuple[int, str], dict[str, Any]] = {}
        for company in self.companies:
            for k, spec in enumerate(ALL_TAXES):
                tax_id = TAX_BASE + company["id"] * 100 + k
                taxes[(company["id"], spec.key)] = {
                    "id": tax_id, "name": spec.name, "description": spec.name, "amount": spec.amount,
                    "amount_type": "percent", "type_tax_use": spec.use,
                    "l10n_ph_atc": spec.atc or False, "is_withholding_tax_on_payment": spec.on_payment,
                    "active": True, "company_id": [company["id"], company["name"]],
                    "write_date": f"{self.first_month:%Y-%m-%d} 00:00:00",
                }
        return taxes

    def _partners(self, rng: random.Random):
        n_vendors = int(min(6000, max(40, self.lines_per_agency_month / 2.5)))
        n_customers = max(10, n_vendors // 5)
        weights = [c.share for c in CATEGORIES]
        vendors: list[Vendor] = []
        records: list[dict[str, Any]] = []
        messy = self.cfg.messy
        used_tins: list[str] = []
        pid = PARTNER_BASE
        for i in range(n_vendors):
            pid += 1
            cat = rng.choices(CATEGORIES, weights)[0]
            is_company = cat.payee == "corporation" if rng.random() > 0.1 else cat.payee != "corporation"
            if cat.key in ("prof_ind", "services_ind", "goods_ind", "commission"):
                is_company = False
            attrs = profiles.attribute_rng(self.cfg.seed, pid)
            names, name_case = profiles.person_name(i, attrs) if not is_company else (
                {"name": f"{cat.key.split('_')[0].title()} Supplier {i} Inc.", "first_name": False,
                 "middle_name": False, "last_name": False}, "")
            name = names["name"]
            tin_digits = f"{rng.randint(100, 999)}{rng.randint(100, 999)}{rng.randint(100, 999)}"
            vat: Any = f"{tin_digits[:3]}-{tin_digits[3:6]}-{tin_digits[6:]}-00000"
            r = rng.random()
            if r < messy.missing_tin:
                vat = False
                self_case = "missing_tin"
            elif r < messy.missing_tin + messy.malformed_tin:
                vat = rng.choice([
                    tin_digits,  # no dashes: normalisable
                    tin_digits + "000",  # 12 digits: normalisable
                    tin_digits[:-1] + "X",  # letters
                    tin_digits + "0",  # 10 digits
                    "000-000-000-000",  # dummy all-zero TIN
                    f"{tin_digits[:3]}-{tin_digits[3:6]}-{tin_digits[6:]}-123456",  # branch too long
                ])
                self_case = "malformed_tin"
            elif used_tins and r < messy.missing_tin + messy.malformed_tin + messy.duplicate_partner:
                vat = rng.choice(used_tins)
                self_case = "duplicate_partner"
            else:
                self_case = ""
                used_tins.append(vat)
            if cat.key == "nonresident":
                vat_status, currency = "nonvat", "USD"
            elif not is_company and rng.random() < 0.6:
                vat_status, currency = "nonvat", "PHP"
            else:
                vat_status = rng.choices(["vat", "exempt", "zero"], [0.93, 0.05, 0.02])[0]
                currency = "USD" if rng.random() < messy.usd_bill else "PHP"
            profile, cases = profiles.vendor_profile(attrs, cat.key, cat.atcs, is_company, vat_status)
            place, place_case = profiles.address(attrs)
            cases += [c for c in (self_case, name_case, place_case) if c]
            tax_key = None
            importer = profiles.is_importer(attrs, cat.key, is_company)
            if importer:
                vat_status = "import"
                cases.append("importer")
            elif cat.atcs:
                atc, atc_case = profiles.vendor_atc(attrs, cat.atcs, is_company, profile, messy.wrong_atc_payee)
                cases += [atc_case] if atc_case else []
                tax_key = "fwt_WC230" if atc == "WC230" else f"ewt_{atc}"
                if self.cfg.odoo_version >= 19 and tax_key.startswith("ewt_") and rng.random() < messy.ewt_on_payment:
                    tax_key += "_onpay"
                elif rng.random() < messy.tax_without_atc:
                    tax_key = rng.choice(["manual_named", "manual_unnamed"])
                    cases.append(f"tax_{tax_key}")
            for case in cases:
                self.manifest_cases.setdefault(case, []).append(pid)
            rec = {
                "id": pid, "is_company": is_company,
                "company_type": "company" if is_company else "person",
                "vat": vat, "branch_code": False if rng.random() < 0.5 else "000",
                **names, **place,
                "country_id": [233, "United States"] if cat.key == "nonresident" else [177, "Philippines"],
                **profile,
                "commercial_partner_id": [pid, name], "active": True, "supplier_rank": 1, "customer_rank": 0,
                "write_date": f"{self.first_month:%Y-%m-%d} 00:00:00",
            }
            if importer:
                rec.update(profiles.importer_fields(attrs))
            records.append(rec)
            vendors.append(Vendor(pid, str(name), cat, is_company, tax_key, vat_status, currency, rec))
        customers = []
        for i in range(n_customers):
            pid += 1
            name = f"Customer {i} Corp."
            tin = f"{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(100, 999)}-00000"
            rec = {
                "id": pid, "name": name, "is_company": True, "company_type": "company", "vat": tin,
                "branch_code": "000", "first_name": False, "middle_name": False, "last_name": False,
                **profiles.address(profiles.attribute_rng(self.cfg.seed, pid))[0],
                "country_id": [177, "Philippines"], "commercial_partner_id": [pid, name],
                "active": True, "supplier_rank": 0, "customer_rank": 1,
                "write_date": f"{self.first_month:%Y-%m-%d} 00:00:00",
            }
            records.append(rec)
            customers.append((pid, name, rng.random() < 0.4))
        return vendors, customers, records

    # -- generation ------------------------------------------------------------------------------

    def run(self, raw_root: Path, months: Iterable[date] | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> Manifest:
        manifest = Manifest(self.cfg)
        for case, ids in self.manifest_cases.items():
            manifest.cases[case].extend(ids)
        writer = _Writer(raw_root, manifest)
        wanted = sorted(set(months) if months is not None else set(self.cfg.month_starts()))
        for n, month in enumerate(wanted, start=1):
            batch = batch_id(month)
            manifest.batches.append(batch)
            if month == self.first_month:
                for rec in self.companies:
                    writer.add("res_company", batch, rec)
                for rec in self.partner_records:
                    writer.add("res_partner", batch, rec)
                for rec in self.taxes.values():
                    writer.add("account_tax", batch, rec)
            previous = month_before(month)
            for a_idx, company in enumerate(self.companies):
                if previous >= self.first_month:
                    _, followups = self._agency_month(previous, a_idx, company, followup_manifest=manifest)
                    for model, rec in followups:
                        writer.add(model, batch, rec)
                own, _ = self._agency_month(month, a_idx, company, own_manifest=manifest)
                for model, rec in own:
                    writer.add(model, batch, rec)
            if month == self.first_month and self.cfg.messy.malformed_json_lines:
                for k in range(self.cfg.messy.malformed_json_lines):
                    writer.add_raw("account_move_line", batch, b'{"id": ' + str(k).encode() + b', "move_id": [1, "BILL')
                manifest.cases["malformed_json"].extend(range(self.cfg.messy.malformed_json_lines))
            writer.flush()
            if progress:
                progress(batch, n, len(wanted))
        return manifest

    def _agency_month(self, month: date, a_idx: int, company: dict[str, Any],
                      own_manifest: Manifest | None = None, followup_manifest: Manifest | None = None):
        """Records of one agency-month, and the follow-ups that belong to the next batch.

        The result never depends on which manifest is passed: a month regenerated only for its
        follow-ups is record-for-record the month generated before.
        """
        mi = month_index(month)
        rng = random.Random(self.cfg.seed * 1_000_003 + mi * 101 + a_idx)
        block = (mi * len(self.cfg.agencies) + a_idx) * ID_BLOCK
        # The amount structure (datagen.amounts) draws from its own stream: it never shifts the records' choices.
        size_rng = random.Random(self.cfg.seed * 1_000_033 + mi * 131 + a_idx)
        agency = self.profiles[a_idx]
        scale = amount_scale(agency, month, self.mean_level, size_rng)
        ctx = _MonthContext(self, rng, month, company, block, own_manifest, followup_manifest, scale)
        target_lines = self.lines_per_agency_month * count_scale(agency, self.mean_level)
        while ctx.line_count < target_lines:
            if rng.random() < self.cfg.customer_invoice_share:
                ctx.customer_invoice()
            else:
                ctx.vendor_bill()
        for vendor, fee in self.retainers[a_idx]:
            ctx.retainer_bill(vendor, round(fee * scale, 2))
        contract = large_contract_base(size_rng, agency)
        if contract is not None:
            ctx.large_contract(contract)
        return ctx.records, ctx.followups


def month_before(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


class _MonthContext:
    def __init__(self, gen: Generator, rng: random.Random, month: date, company: dict[str, Any], block: int,
                 own_manifest: Manifest | None, followup_manifest: Manifest | None, scale: float = 1.0) -> None:
        self.gen = gen
        self.scale = scale  # the month's amount structure (datagen.amounts)
        self.rng = rng
        self.month = month
        self.company = company
        self.cref = [company["id"], company["name"]]
        self.next_id = block + 1
        self.next_line = block + 1
        self.own_manifest = own_manifest
        self.followup_manifest = followup_manifest
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.followups: list[tuple[str, dict[str, Any]]] = []
        self.line_count = 0
        self.days = (_next_month(month) - month).days
        self.extracted_at = datetime.combine(_next_month(month), datetime.min.time()) - timedelta(hours=6)
        self.messy = gen.cfg.messy
        pool = [v for v in gen.vendors if rng.random() < 0.3] or gen.vendors
        self.vendor_pool = pool
        # cumulative once: rng.choices with plain weights re-accumulates them on every call (O(pool) per bill)
        self.vendor_cum_weights = list(itertools.accumulate(vendor_weights(pool)))

    def case(self, name: str, record_id: int) -> None:
        """A case visible in this month's own batch."""
        if self.own_manifest is not None:
            self.own_manifest.cases[name].append(record_id)

    def later_case(self, name: str, record_id: int) -> None:
        """A case that materialises in the next batch (a follow-up)."""
        if self.followup_manifest is not None:
            self.followup_manifest.cases[name].append(record_id)

    def tax(self, key: str) -> dict[str, Any]:
        return self.gen.taxes[(self.company["id"], key)]

    def _line_record(self, move_ref: list, label: str, on: date, state: str, partner_ref: list, account: list,
                     display_type: str, balance: float, amount_currency: float, currency: list, subtotal: float,
                     written: str, **extra: Any) -> dict[str, Any]:
        """One ``account.move.line`` as ``search_read`` returns it."""
        rec = {
            "id": self._line_id(), "move_id": move_ref, "name": label, "date": on.isoformat(),
            "parent_state": state, "company_id": self.cref, "partner_id": partner_ref, "account_id": account,
            "display_type": display_type, "tax_ids": [], "tax_line_id": False, "tax_base_amount": 0.0,
            "balance": balance, "debit": max(balance, 0.0), "credit": max(-balance, 0.0),
            "amount_currency": amount_currency, "currency_id": currency, "price_subtotal": subtotal,
            "write_date": written,
        }
        rec.update(extra)
        return rec

    def _move_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _line_id(self) -> int:
        self.next_line += 1
        return self.next_line

    def _date(self) -> date:
        return self.month + timedelta(days=self.rng.randrange(self.days))

    # -- documents -------------------------------------------------------------------------------

    def vendor_bill(self) -> None:
        rng, messy = self.rng, self.messy
        vendor = rng.choices(self.vendor_pool, cum_weights=self.vendor_cum_weights)[0]
        move_id = self._move_id()
        refund = rng.random() < messy.credit_note
        acc_date = self._date()
        invoice_date = acc_date
        if rng.random() < messy.late_receipt and acc_date.day > 3:
            # invoice dated at the end of the previous month, booked (date) in this one
            invoice_date = self.month - timedelta(days=rng.randint(1, 5))
            self.case("late_receipt", move_id)
        n_lines = max(1, min(40, int(rng.lognormvariate(0.75, 0.7))))
        cat = vendor.category
        amounts = [line_amount(rng, ad_hoc_median(cat), cat.sigma, self.scale) for _ in range(n_lines)]
        if cat.key == "rent":
            amounts = [round(cat.amount_median * (1 + (vendor.id % 5) / 10), 2)]
        if rng.random() < messy.discount_line:
            amounts.append(-round(sum(amounts) * rng.uniform(0.05, 0.15), 2))
            self.case("discount_line", move_id)
        currency, rate = vendor.currency, 1.0
        if currency == "USD":
            rate = USD_RATE
            amounts = [round(a / USD_RATE, 2) for a in amounts]  # the medians are PHP: a USD bill is as large
            self.case("usd_bill", move_id)
        missing_rate = currency == "USD" and rng.random() < messy.missing_rate * 25
        state = "posted"
        state_roll = rng.random()
        if state_roll < messy.cancelled:
            state = "cancel"
        elif state_roll < messy.cancelled + messy.draft_at_cutoff:
            state = "draft"
        ref = f"SI-{vendor.id}-{acc_date:%y%m}-{move_id % ID_BLOCK}"
        tax_key, tax_case = profiles.bill_withholding_key(vendor.tax_key, vendor.record.get("x_ph_seller_category"),
                                                          acc_date, rng)
        base_incl_vat = tax_key is not None and rng.random() < messy.base_includes_vat
        move, lines = self._bill_records(
            move_id, vendor, refund, acc_date, invoice_date, amounts, currency, rate, state, ref, tax_key,
            base_incl_vat, missing_rate,
        )
        if tax_case:
            self.case(tax_case, move_id)
        if missing_rate:
            self._without_php(move_id, acc_date, lines)
        if base_incl_vat:
            self.case("base_includes_vat", move_id)
        if missing_rate:
            self.case("missing_rate", move_id)
        if refund:
            self.case("credit_note", move_id)
        if state == "cancel":
            self.case("cancelled", move_id)
        self._emit(move, lines)
        if tax_key and tax_key.endswith("_onpay") and state == "posted" and not refund and not missing_rate:
            self._payment_with_withholding(move, vendor, round(sum(amounts), 2), rate, self.tax(tax_key))
        if state == "draft":
            self._draft_followup(move, lines, vendor, amounts, currency, rate, ref, tax_key, refund)
        elif state == "posted":
            if rng.random() < messy.duplicate_bill:
                dup_id = self._move_id()
                dmove, dlines = self._bill_records(
                    dup_id, vendor, refund, acc_date, invoice_date, amounts, currency, rate, "posted", ref,
                    tax_key, base_incl_vat, missing_rate,
                )
                self._emit(dmove, dlines)
                self.case("duplicate_bill", dup_id)
                self.later_case("duplicate_bill_cancelled", dup_id)
                cancelled = dict(dmove, state="cancel", write_date=_ts(self.extracted_at + timedelta(days=3)))
                self.followups.append(("account_move", cancelled))
                for line in dlines:
                    self.followups.append(("account_move_line", dict(
                        line, parent_state="cancel", write_date=cancelled["write_date"])))
            elif rng.random() < messy.reset_reposted:
                self._reset_reposted(move, vendor, amounts, currency, rate, ref, tax_key, refund)
        if rng.random() < messy.duplicate_record:
            dup_line = lines[0]
            self.followups.append(("account_move_line", dup_line))
            self.later_case("duplicate_record", dup_line["id"])

    def _without_php(self, move_id: int, on: date, lines: list[dict[str, Any]]) -> None:
        """A bill posted without a rate may have no peso amount at all (Odoo then books it at 1.0); its rate may be
        entered later (next batch)."""
        case = profiles.currency_case(profiles.attribute_rng(self.gen.cfg.seed, move_id))
        if not case:
            return
        # In the first months of the data no rate is entered later: rateless bills there come before any rate exists
        # (rates are dated by the bills they were entered for), so MISSING_CURRENCY_RATE is in every lake with such
        # bills early on, whatever the random streams — and a month generated alone (--only) is the same month.
        if (on.year, on.month) < _months_after(self.gen.first_month, RATELESS_MONTHS):
            case = "no_php_base"
        for rec in lines:  # booked as Odoo books a currency without any rate: at 1.0, no peso amount anywhere
            rec["balance"] = rec["amount_currency"]
            rec["debit"], rec["credit"] = max(rec["balance"], 0.0), max(-rec["balance"], 0.0)
            if rec["display_type"] == "tax":
                rec["tax_base_amount"] = round(rec["tax_base_amount"] / USD_RATE, 2)
        self.case(case, move_id)
        if case == "no_php_base_rate_later":
            written = _ts(self.extracted_at + timedelta(days=2))
            self.followups.append(("res_currency_rate", profiles.rate_record(move_id, on, USD_RATE, self.cref,
                                                                             written)))

    def _payment_with_withholding(self, bill: dict[str, Any], vendor: Vendor, base: float, rate: float,
                                  tax: dict[str, Any]) -> None:
        """Odoo 19 "Withhold On Payment": the EWT line is on the payment's journal entry, dated the payment."""
        pay_date = date.fromisoformat(bill["date"]) + timedelta(days=self.rng.randint(0, 25))
        next_month = _next_month(self.month)
        pay_date = min(pay_date, _next_month(next_month) - timedelta(days=1))
        base_php = round(base * rate, 2)
        ewt = round(base_php * -tax["amount"] / 100, 2)
        payable = round(-bill["amount_total_signed"], 2)
        pay_id = self._move_id()
        name = f"PBNK/{pay_date:%Y/%m}/{pay_id % ID_BLOCK:05d}"
        written = _ts(datetime.combine(pay_date, datetime.min.time()) + timedelta(hours=15))
        mref, vref = [pay_id, name], [vendor.id, vendor.name]

        def line(display_type: str, balance: float, account: list, **extra: Any) -> dict[str, Any]:
            return self._line_record(mref, name, pay_date, "posted", vref, account, display_type, balance, balance,
                                     [1, "PHP"], abs(balance), written, **extra)

        lines = [
            line("payment_term", payable, [201000, "201000 Accounts payable"]),
            line("tax", -ewt, [206020, "206020 Withholding tax payable"], tax_line_id=[tax["id"], tax["name"]],
                 tax_base_amount=base_php),
            line("product", round(-(payable - ewt), 2), [101100, "101100 Bank"]),
        ]
        move = {
            "id": pay_id, "name": name, "ref": False, "move_type": "entry", "state": "posted",
            "date": pay_date.isoformat(), "invoice_date": False, "partner_id": vref, "commercial_partner_id": vref,
            "company_id": self.cref, "journal_id": [3, "Bank"], "currency_id": [1, "PHP"],
            "amount_untaxed": 0.0, "amount_tax": 0.0, "amount_total": payable, "amount_total_signed": payable,
            "reversed_entry_id": False, "origin_payment_id": [pay_id, f"PAY/{pay_date:%Y/%m}/{pay_id % ID_BLOCK:05d}"],
            "line_ids": [rec["id"] for rec in lines], "write_date": written, "create_date": written,
        }
        if pay_date < next_month:
            self._emit(move, lines)
            self.case("ewt_on_payment", pay_id)
        else:
            self.followups.append(("account_move", move))
            self.followups.extend(("account_move_line", rec) for rec in lines)
            self.later_case("ewt_on_payment", pay_id)

    def _draft_followup(self, move, lines, vendor, amounts, currency, rate, ref, tax_key, refund) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < self.messy.draft_deleted:
            self.followups.append(("account_move", {
                "id": move["id"], "_deleted": True, "write_date": _ts(self.extracted_at + timedelta(days=2)),
            }))
            self.later_case("draft_deleted", move["id"])
        elif roll < 0.9:
            # posted after the cut-off, keeping its date in this month: a back-dated posting
            posted_at = self.extracted_at + timedelta(days=rng.randint(5, 20))
            pmove = dict(move, state="posted", write_date=_ts(posted_at))
            self.followups.append(("account_move", pmove))
            for line in lines:
                self.followups.append(("account_move_line", dict(
                    line, parent_state="posted", write_date=_ts(posted_at))))
            self.later_case("draft_posted_late", move["id"])
        else:
            self.case("draft_kept", move["id"])

    def _reset_reposted(self, move, vendor, amounts, currency, rate, ref, tax_key, refund) -> None:
        reposted_at = self.extracted_at + timedelta(days=self.rng.randint(2, 6))
        new_amounts = [round(a * 1.1, 2) for a in amounts]
        acc_date = date.fromisoformat(move["date"])
        nmove, nlines = self._bill_records(
            move["id"], vendor, refund, acc_date, date.fromisoformat(move["invoice_date"]), new_amounts,
            currency, rate, "posted", ref, tax_key, False, False, written=reposted_at,
        )
        self.followups.append(("account_move", nmove))
        for line in nlines:
            self.followups.append(("account_move_line", line))
        self.later_case("reset_reposted", move["id"])

    def _emit(self, move: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        self.records.append(("account_move", move))
        for line in lines:
            self.records.append(("account_move_line", line))
        self.line_count += len(lines)

    def _bill_records(self, move_id, vendor, refund, acc_date, invoice_date, amounts, currency, rate, state, ref,
                      tax_key, base_incl_vat, missing_rate, written: datetime | None = None):
        sign = -1.0 if refund else 1.0
        move_type = "in_refund" if refund else "in_invoice"
        name = f"{'RBILL' if refund else 'BILL'}/{acc_date:%Y/%m}/{move_id % ID_BLOCK:05d}"
        write = written or (datetime.combine(acc_date, datetime.min.time()) + timedelta(hours=9))
        write = min(write, self.extracted_at) if written is None else write
        vendor_ref = [vendor.id, vendor.name]
        vat_spec: TaxSpec | None = None
        vat_key = {"vat": "vat_services" if vendor.category.service else "vat_goods", "zero": "vat_zero",
                   "exempt": "vat_exempt", "import": "vat_import"}.get(vendor.vat_status)
        taxes = []
        if vat_key:
            taxes.append(self.tax(vat_key))
            vat_spec = next(t for t in ALL_TAXES if t.key == vat_key)
        wht = self.tax(tax_key) if tax_key else None
        if wht:
            taxes.append(wht)
        tax_ids = [t["id"] for t in taxes]
        cur = [2, "USD"] if currency == "USD" else [1, "PHP"]

        def money(doc_amount: float) -> tuple[float, float]:
            balance = 0.0 if missing_rate else round(doc_amount * rate, 2)
            return balance, round(doc_amount, 2)

        lines: list[dict[str, Any]] = []
        mref = [move_id, name]

        def line(display_type: str, doc_amount: float, label: str, account: list, **extra: Any) -> None:
            balance, amount_currency = money(doc_amount)
            lines.append(self._line_record(mref, label, acc_date, state, vendor_ref, account, display_type, balance,
                                           amount_currency, cur, round(abs(doc_amount), 2), _ts(write), **extra))

        base = round(sum(amounts), 2)
        for k, amount in enumerate(amounts):
            line("product", sign * amount, f"Item {k + 1}", [510000, "510000 Expenses"], tax_ids=tax_ids)
        vat_amount = 0.0
        if vat_spec is not None:
            vat_amount = round(base * vat_spec.amount / 100, 2)
            line("tax", sign * vat_amount, vat_spec.name, [106010, "106010 Input VAT"],
                 tax_line_id=[taxes[0]["id"], taxes[0]["name"]], tax_base_amount=round(abs(base) * rate, 2))
        wht_amount = 0.0
        if wht is not None and not wht["is_withholding_tax_on_payment"]:
            pct = -wht["amount"]
            basis = base * 1.12 if base_incl_vat else base
            wht_amount = round(basis * pct / 100, 2)
            line("tax", -sign * wht_amount, wht["name"], [206020, "206020 Withholding tax payable"],
                 tax_line_id=[wht["id"], wht["name"]], tax_base_amount=round(abs(base) * rate, 2))
        total = round(base + vat_amount - wht_amount, 2)
        line("payment_term", -sign * total, ref, [201000, "201000 Accounts payable"])
        self._maybe_missing_field(lines)
        total_php = round(total * rate, 2)
        move = {
            "id": move_id, "name": name, "ref": ref, "move_type": move_type, "state": state,
            "date": acc_date.isoformat(), "invoice_date": invoice_date.isoformat(),
            "partner_id": vendor_ref, "commercial_partner_id": vendor_ref, "company_id": self.cref,
            "journal_id": [2, "Vendor Bills"], "currency_id": cur,
            "amount_untaxed": base, "amount_tax": round(vat_amount - wht_amount, 2), "amount_total": total,
            "amount_total_signed": -sign * total_php, "reversed_entry_id": False, "origin_payment_id": False,
            "line_ids": [rec["id"] for rec in lines], "write_date": _ts(write),
            "create_date": _ts(write),
        }
        return move, lines

    def _maybe_missing_field(self, lines: list[dict[str, Any]]) -> None:
        if self.rng.random() < self.messy.missing_field * len(lines):
            victim = lines[-1]
            del victim["balance"]
            self.case("missing_field", victim["id"])

    def customer_invoice(self) -> None:
        rng = self.rng
        cust_id, cust_name, withholds = rng.choice(self.gen.customers)
        move_id = self._move_id()
        acc_date = self._date()
        name = f"INV/{acc_date:%Y/%m}/{move_id % ID_BLOCK:05d}"
        write = datetime.combine(acc_date, datetime.min.time()) + timedelta(hours=10)
        n = max(1, min(20, int(rng.lognormvariate(0.6, 0.6))))
        amounts = [line_amount(rng, CUSTOMER_LINE_MEDIAN, 1.0, self.scale) for _ in range(n)]
        base = round(sum(amounts), 2)
        vat_tax = self.tax("vat_sale")
        cwt = self.tax(rng.choice(["cwt_WC158", "cwt_WC160"])) if withholds else None
        if cwt and profiles.customer_tax_without_atc(profiles.attribute_rng(self.gen.cfg.seed, move_id)):
            cwt = self.tax("cwt_manual")
            self.case("cwt_without_atc", move_id)
        tax_ids = [vat_tax["id"]] + ([cwt["id"]] if cwt else [])
        mref = [move_id, name]
        pref = [cust_id, cust_name]
        lines = []

        def line(display_type: str, balance: float, label: str, account: list, **extra: Any) -> None:
            balance = round(balance, 2)
            lines.append(self._line_record(mref, label, acc_date, "posted", pref, account, display_type, balance,
                                           balance, [1, "PHP"], abs(balance), _ts(write), **extra))

        for k, amount in enumerate(amounts):
            line("product", -amount, f"Service {k + 1}", [400000, "400000 Revenue"], tax_ids=tax_ids)
        vat = round(base * 0.12, 2)
        line("tax", -vat, vat_tax["name"], [206010, "206010 Output VAT"],
             tax_line_id=[vat_tax["id"], vat_tax["name"]], tax_base_amount=base)
        cwt_amount = 0.0
        if cwt:
            cwt_amount = round(base * -cwt["amount"] / 100, 2)
            line("tax", cwt_amount, cwt["name"], [106030, "106030 Creditable withholding tax"],
                 tax_line_id=[cwt["id"], cwt["name"]], tax_base_amount=base)
        total = round(base + vat - cwt_amount, 2)
        line("payment_term", total, name, [101200, "101200 Accounts receivable"])
        move = {
            "id": move_id, "name": name, "ref": False, "move_type": "out_invoice", "state": "posted",
            "date": acc_date.isoformat(), "invoice_date": acc_date.isoformat(), "partner_id": pref,
            "commercial_partner_id": pref, "company_id": self.cref, "journal_id": [1, "Customer Invoices"],
            "currency_id": [1, "PHP"], "amount_untaxed": base, "amount_tax": round(vat - cwt_amount, 2),
            "amount_total": total, "amount_total_signed": total, "reversed_entry_id": False,
            "origin_payment_id": False, "line_ids": [rec["id"] for rec in lines], "write_date": _ts(write),
            "create_date": _ts(write),
        }
        self._emit(move, lines)

    def _plain_bill(self, vendor: Vendor, base: float, on_day: int, ref_prefix: str) -> int:
        """A posted PHP bill of one line, withheld at the vendor's own rate (the amount-structure documents)."""
        move_id = self._move_id()
        acc_date = self.month + timedelta(days=min(self.days - 1, on_day))
        ref = f"{ref_prefix}-{vendor.id}-{acc_date:%y%m}-{move_id % ID_BLOCK}"
        move, lines = self._bill_records(move_id, vendor, False, acc_date, acc_date, [base], "PHP", 1.0, "posted",
                                         ref, vendor.tax_key, False, False)
        self._emit(move, lines)
        return move_id

    def retainer_bill(self, vendor: Vendor, base: float) -> None:
        """This month's bill of one of the agency's retainers (datagen.amounts)."""
        self._plain_bill(vendor, base, 24, "RET")

    def large_contract(self, base: float) -> None:
        """A one-off contract bill (datagen.amounts), marked ``large_contract`` and by its reference."""
        if not self.gen.contractors:
            return
        vendor = self.gen.contractors[self.month.toordinal() % len(self.gen.contractors)]
        self.case("large_contract", self._plain_bill(vendor, base, 14, LARGE_CONTRACT_REF))


RUN_RECORD = "_generator.json"  # beside the model folders: what the last generation was asked for


def _months_after(start: date, months: int) -> tuple[int, int]:
    index = start.year * 12 + start.month - 1 + months
    return index // 12, index % 12 + 1


def content_settings(config: GenConfig) -> dict[str, Any]:
    """The settings that decide what a month's drop holds, as the run record keeps them (``as_of`` is only recorded)."""
    return {"end": f"{config.end:%Y-%m}", "months": config.months, "lines": config.lines, "seed": config.seed,
            "agencies": list(config.agencies), "odoo_version": config.odoo_version}


def check_no_replacement(config: GenConfig, raw_root: Path, months: Iterable[date] | None = None) -> None:
    """Refuse to write a month whose drop is already under ``raw_root`` unless the recorded settings are these: the
    same settings write the same files, other settings other records under the same ids (a different partner behind
    an id the lake has ingested), with nothing to say the lake and its raw files disagree."""
    wanted = {batch_id(m) for m in (months if months is not None else config.month_starts())}
    present = sorted(wanted & {path.stem for path in raw_root.glob("*/*.jsonl")})
    if not present:
        return
    recorded = read_run_record(raw_root) or {}
    asked = content_settings(config)
    changed = [f"{key} {recorded.get(key)} → {value}" for key, value in asked.items() if recorded.get(key) != value]
    if not changed:
        return
    shown = present[0] if len(present) == 1 else f"{present[0]} … {present[-1]} ({len(present)} months)"
    raise DropConflictError(
        f"{raw_root} already holds {shown}, generated with other settings ({', '.join(changed)}); generating them "
        "again would replace drops the lake may have ingested. Generate into a new ODOOLAKE_HOME, add the next "
        "month with `odoolake lake generate --only YYYY-MM`, or start again with `odoolake demo --reset`.")


def generate(config: GenConfig, raw_root: Path, months: Iterable[date] | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> Manifest:
    """Write Odoo-shaped raw drops under ``raw_root`` and return what was generated (``check_no_replacement`` first:
    a month already there is written again only with the settings it was made with)."""
    months = list(months) if months is not None else None
    check_no_replacement(config, raw_root, months)
    manifest = Generator(config).run(raw_root, months, progress)
    record_run(manifest, raw_root, adding=months is not None)
    return manifest


def record_run(manifest: Manifest, raw_root: Path, adding: bool = False) -> Path:
    """``<raw_root>/_generator.json``: the settings (as-of date and seed included) that reproduce these drops.
    ``adding`` (a month generated alone, with the recorded settings): its batch and cases join the record's."""
    cfg = manifest.config
    previous = (read_run_record(raw_root) or {}) if adding else {}
    cases = dict(previous.get("cases") or {})
    for case, ids in manifest.cases.items():
        cases[case] = cases.get(case, 0) + len(ids)
    record = {
        "as_of": cfg.as_of.isoformat() if cfg.as_of else None, **content_settings(cfg),
        "batches": sorted({*previous.get("batches", []), *manifest.batches}), "cases": dict(sorted(cases.items())),
    }
    raw_root.mkdir(parents=True, exist_ok=True)
    path = raw_root / RUN_RECORD
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    return path


def read_run_record(raw_root: Path) -> dict[str, Any] | None:
    path = raw_root / RUN_RECORD
    return orjson.loads(path.read_bytes()) if path.is_file() else None
