"""Small hand-made journals for the silver rules: raw Odoo partners, taxes and companies (through silver's own
builders) and bills already in silver's journal shape, one withholding line each."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pyspark.sql import functions as F

from odoolake.pipeline import silver
from odoolake.pipeline.schemas import ACCOUNT_TAX, RES_COMPANY, RES_CURRENCY_RATE, RES_PARTNER, RawModel


def raw_frame(spark, model: RawModel, rows: list[dict]):
    """Rows as bronze holds them: every field of the model (missing ones null) plus a batch id."""
    names = [n for n, _ in model.fields]
    data = [(*[row.get(n) for n in names], "b1") for row in rows]
    return spark.createDataFrame(data, model.ddl + ", `_batch_id` string")


def partner(pid: int, name: str, company: bool, vat: str | None = "123-456-789-00000", **extra) -> dict:
    return {"id": pid, "name": name, "is_company": company, "company_type": "company" if company else "person",
            "vat": vat, "write_date": "2020-01-01 00:00:00", "street": "1 Ayala Avenue", "city": "Makati City",
            "zip": "1226", **extra}


def tax(tid: int, atc: str | None, rate: float, name: str | None = None, use: str = "purchase") -> dict:
    return {"id": tid, "name": name or f"{rate:g}% {atc or 'EWT'}", "amount": -rate, "type_tax_use": use,
            "l10n_ph_atc": atc or "false", "write_date": "2020-01-01 00:00:00"}


COMPANY = {"id": 1, "name": "RIM", "vat": "111-222-333-00000", "l10n_ph_rdo": "050", "write_date": "2020-01-01 00:00:00",
           "x_ph_twa_since": "2021-01-01"}


@dataclass
class Bill:
    move_id: int
    on: str  # YYYY-MM-DD
    partner_id: int
    tax_id: int
    base: str  # VAT-exclusive base in PHP
    tax: str  # tax withheld (positive), PHP
    move_type: str = "in_invoice"
    currency: str = "PHP"
    balance: str | None = None  # default: -tax (a credit to 206020), +tax for a credit note
    amount_currency: str | None = None
    written: str | None = None  # default: the bill's date, 09:00


def journal(spark, bills: list[Bill]):
    moves = spark.createDataFrame(
        [(b.move_id, f"BILL/{b.move_id}", None, b.move_type, "posted", b.on, b.on, b.partner_id, 1, b.currency, None,
          b.written or f"{b.on} 09:00:00", "b1") for b in bills],
        "move_id long, move_name string, ref string, move_type string, state string, date string, "
        "invoice_date string, partner_id long, company_id long, currency string, origin_payment_id long, "
        "write_date string, _batch_id string",
    ).withColumn("date", F.to_date("date")).withColumn("invoice_date", F.to_date("invoice_date")) \
        .withColumn("write_date", F.to_timestamp("write_date")).withColumn("period", F.date_format("date", "yyyy-MM"))

    def balance(b: Bill) -> Decimal:
        if b.balance is not None:
            return Decimal(b.balance)
        return Decimal(b.tax) if b.move_type == "in_refund" else -Decimal(b.tax)

    lines = spark.createDataFrame(
        [(b.move_id * 10, b.move_id, "tax", b.tax_id, Decimal(b.base), balance(b),
          Decimal(b.amount_currency) if b.amount_currency is not None else balance(b), b.on[:7],
          b.written or f"{b.on} 09:00:00", "b1") for b in bills],
        "line_id long, move_id long, display_type string, tax_line_id long, tax_base_amount decimal(18,2), "
        "balance decimal(18,2), amount_currency decimal(18,2), period string, write_date string, _batch_id string",
    ).withColumn("write_date", F.to_timestamp("write_date"))
    return moves, lines


def silver_lines(spark, bills: list[Bill], partners: list[dict], taxes: list[dict], company: dict | None = None,
                 rates: list[dict] | None = None):
    """(ewt_lines, vat_lines, quarantined tax lines) of the bills; ``rates`` are res.currency.rate records."""
    moves, lines = journal(spark, bills)
    return silver.build_tax_lines(
        moves, lines, silver.build_partners(raw_frame(spark, RES_PARTNER, partners)),
        silver.build_taxes(raw_frame(spark, ACCOUNT_TAX, taxes)),
        silver.build_companies(raw_frame(spark, RES_COMPANY, [company or COMPANY])),
        silver.build_currency_rates(raw_frame(spark, RES_CURRENCY_RATE, rates)) if rates else None)


def by_move(frame) -> dict[int, dict]:
    return {r["move_id"]: r.asDict() for r in frame.collect()}


def flags(row: dict) -> set[str]:
    return set(filter(None, (row["dq_flags"] or "").split(",")))
