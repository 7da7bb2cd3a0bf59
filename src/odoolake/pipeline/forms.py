"""Gold tables for BIR filing, per quarter: 2307 certificates, QAP, SAWT, SLSP, and the filing calendar.

All come from ``silver.ewt_lines`` and ``silver.vat_lines`` (so they reconcile with ``gold.bir_transactions``)
and are replaced per quarter, so re-running a quarter is idempotent.
- ``form_2307``: agency × quarter × payee (TIN + branch) × ATC, with monthly income columns (EWT only);
- ``qap``: agency × quarter × payee × ATC × rate; ``schedule`` 1 (tax withheld) or 2 (exempt, rate 0);
- ``sawt``: agency (as payee) × quarter × payor × ATC, from tax withheld by customers (CWT);
- ``slsp``: agency × quarter × side (S/P) × counterparty TIN, amounts by VAT category;
- ``filing_calendar``: agency × obligation × period with its due date and a status as of a date.
Payees are keyed on TIN and branch, so two Odoo partners with one TIN are one payee; lines without a usable
TIN are keyed on the partner and carry ``tin_status`` so the alphalist writers can refuse them by name.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from odoolake.bir.calendar import HolidayTable, obligations_for_year
from odoolake.pipeline import io

FORM_2307 = "gold.form_2307"
QAP = "gold.qap"
SAWT = "gold.sawt"
SLSP = "gold.slsp"
FILING_CALENDAR = "gold.filing_calendar"


def with_quarter(df: DataFrame) -> DataFrame:
    return df.withColumn("quarter", F.concat(F.col("year").cast("string"), F.lit("Q"),
                                             F.ceil(F.col("month") / 3).cast("string")))


def _payee_lines(ewt: DataFrame, regime: str) -> DataFrame:
    """Withholding lines of one regime with their quarter and a payee key (TIN + branch, else the partner)."""
    key = F.coalesce(F.concat(F.col("payee_tin"), F.col("payee_branch")),
                     F.concat(F.lit("partner:"), F.col("partner_id").cast("string")))
    return with_quarter(ewt.where(F.col("regime") == regime)).withColumn("payee_key", key)


def _payee_identity() -> list[F.Column]:
    names = ("payee_tin", "payee_branch", "payee_name", "is_company", "last_name", "first_name", "middle_name")
    return [*[F.first(n, ignorenulls=True).alias(n) for n in names], F.min("tin_status").alias("tin_status")]


def build_form_2307(ewt: DataFrame) -> DataFrame:
    lines = _payee_lines(ewt, "EWT").withColumn("m", F.col("month") - (F.ceil(F.col("month") / 3) - 1) * 3)
    return lines.groupBy("agency", "quarter", "payee_key", "atc").agg(
        *_payee_identity(),
        F.round(F.sum(F.when(F.col("m") == 1, F.col("base")).otherwise(0.0)), 2).alias("income_month1"),
        F.round(F.sum(F.when(F.col("m") == 2, F.col("base")).otherwise(0.0)), 2).alias("income_month2"),
        F.round(F.sum(F.when(F.col("m") == 3, F.col("base")).otherwise(0.0)), 2).alias("income_month3"),
        F.round(F.sum("base"), 2).alias("income_total"),
        F.round(F.sum("tax_withheld"), 2).alias("tax_withheld"),
        F.count(F.lit(1)).alias("lines"),
    )


def build_qap(ewt: DataFrame) -> DataFrame:
    return _payee_lines(ewt, "EWT").groupBy("agency", "quarter", "payee_key", "atc", "rate").agg(
        *_payee_identity(),
        F.round(F.sum("base"), 2).alias("income"),
        F.round(F.sum("tax_withheld"), 2).alias("tax_withheld"),
    ).withColumn("schedule", F.when(F.col("rate") == 0, F.lit(2)).otherwise(F.lit(1)))


def build_sawt(ewt: DataFrame) -> DataFrame:
    return _payee_lines(ewt, "CWT").groupBy("agency", "quarter", "payee_key", "atc", "rate").agg(
        F.first("payee_tin", ignorenulls=True).alias("payor_tin"),
        F.first("payee_branch", ignorenulls=True).alias("payor_branch"),
        F.first("payee_name", ignorenulls=True).alias("payor_name"),
        F.min("tin_status").alias("tin_status"),
        F.round(F.sum("base"), 2).alias("income"),
        F.round(F.sum("tax_withheld"), 2).alias("tax_withheld"),
    ).withColumnRenamed("payee_key", "payor_key")


def build_slsp(vat: DataFrame) -> DataFrame:
    lines = with_quarter(vat).withColumn("counterparty_key", F.coalesce(
        F.concat(F.col("partner_tin"), F.col("partner_branch")), F.concat(F.lit("partner:"), F.col("partner_id"))))

    def amount(category: str) -> F.Column:
        return F.round(F.sum(F.when(F.col("vat_category") == category, F.col("base")).otherwise(0.0)), 2)

    return lines.groupBy("agency", "quarter", "side", "counterparty_key").agg(
        F.first("partner_tin", ignorenulls=True).alias("counterparty_tin"),
        F.first("partner_branch", ignorenulls=True).alias("counterparty_branch"),
        F.min("tin_status").alias("tin_status"),
        amount("exempt").alias("exempt"),
        amount("zero_rated").alias("zero_rated"),
        amount("services").alias("services"),
        amount("capital_goods").alias("capital_goods"),
        amount("goods").alias("goods"),
        amount("imports").alias("imports"),
        amount("taxable").alias("taxable"),
        F.round(F.sum("vat"), 2).alias("vat"),
    )


def build_filing_calendar(spark: SparkSession, agencies: list[str], years: list[int], periods_with_data: set[str],
                          as_of: date, holidays: HolidayTable | None = None) -> DataFrame:
    """One row per agency × obligation.

    Status: no_data, upcoming, due_soon (due within 7 days) or deadline_passed. Filings themselves are not
    tracked yet, so deadline_passed does not mean "not filed".
    """
    table = holidays or HolidayTable.philippines(range(min(years), max(years) + 2))
    rows = []
    for year in years:
        for ob in obligations_for_year(year, table):
            quarter_months = ({f"{ob.period[:4]}-{m:02d}" for m in range(3 * int(ob.period[-1]) - 2,
                                                                           3 * int(ob.period[-1]) + 1)}
                              if "Q" in ob.period else None)
            has_data = (ob.period in periods_with_data if len(ob.period) == 7 else
                        bool(quarter_months & periods_with_data) if quarter_months else
                        any(p.startswith(ob.period) for p in periods_with_data))
            days = (ob.due - as_of).days
            status = ("no_data" if not has_data else "deadline_passed" if days < 0 else
                      "due_soon" if days <= 7 else "upcoming")
            for agency in agencies:
                rows.append((agency, ob.form, ob.period, ob.statutory_due, ob.due, ob.moved, status,
                             ob.description, as_of))
    return spark.createDataFrame(rows, "agency string, form string, period string, statutory_due date, due date, "
                                       "moved boolean, status string, description string, as_of date")


def run(spark: SparkSession, periods: list[str] | None = None, as_of: date | None = None) -> list[str]:
    """Rebuild the form tables for the quarters containing ``periods`` (default: every quarter with data)."""
    ewt_all = spark.table(io.EWT_LINES)
    all_periods = {r[0] for r in ewt_all.select("period").distinct().collect()} | \
        {r[0] for r in spark.table(io.VAT_LINES).select("period").distinct().collect()}
    wanted = set(periods) if periods is not None else all_periods
    quarters = sorted({f"{p[:4]}Q{(int(p[5:7]) - 1) // 3 + 1}" for p in wanted if p})
    if quarters:
        where_q = io.in_list("quarter", quarters)
        ewt = with_quarter(ewt_all).where(where_q).drop("quarter")
        vat = with_quarter(spark.table(io.VAT_LINES)).where(where_q).drop("quarter")
        io.replace_where(build_form_2307(ewt), FORM_2307, where_q)
        io.replace_where(build_qap(ewt), QAP, where_q)
        io.replace_where(build_sawt(ewt), SAWT, where_q)
        io.replace_where(build_slsp(vat), SLSP, where_q)
    agencies = sorted(r[0] for r in spark.table(io.SILVER_COMPANIES).select("agency").collect())
    years = sorted({int(p[:4]) for p in all_periods if p})
    if years:
        io.overwrite(build_filing_calendar(spark, agencies, years, all_periods, as_of or date.today()), FILING_CALENDAR)
    return quarters
