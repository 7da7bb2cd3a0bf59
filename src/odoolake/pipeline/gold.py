"""Gold: what finance reads. Monthly BIR totals per agency, EWT by ATC, and the forecast features.

``bir_transactions`` answers the seed's query
``SELECT agency, SUM(withholding_tax) FROM gold.bir_transactions WHERE year = … AND month = … GROUP BY agency``.
- ``withholding_tax``: expanded withholding tax withheld by the agency on its purchases (0619-E/1601-EQ),
  including the "withheld, to classify" bucket (``withholding_to_classify``): tax withheld under a tax without a
  usable ATC is remitted all the same (Tax Code Sec. 58(A));
- ``final_withholding_tax``: final withholding (0619-F), e.g. WC230 on non-residents (``final_withholding_to_classify``:
  the part under a code not in force on the date);
- ``withholding_vat``: VAT withheld as a government payor (1600-VT);
- ``income_tax``: creditable tax withheld *from* the agency by its customers (claimed via SAWT;
  ``income_tax_to_classify``: the part without a usable ATC, which no SAWT row can carry yet);
- ``output_vat``, ``input_vat`` and ``vat`` = output − input (the 2550Q position);
- ``ewt_base`` and ``lines`` (EWT lines). Amounts are DECIMAL(18,2).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from odoolake.pipeline import io
from odoolake.pipeline.schemas import MONEY

LAYOUT = {
    io.BIR_TRANSACTIONS: {"withholding_tax": MONEY, "withholding_to_classify": MONEY,
                          "final_withholding_to_classify": MONEY, "income_tax_to_classify": MONEY},
    io.EWT_BY_ATC: {"tax_withheld": MONEY, "atc_status": "string"},
    io.BIR_FEATURES: {"withholding_tax": MONEY},
}


def _sum(value: Column, when: Column | None = None) -> Column:
    """A DECIMAL(18,2) sum (zero when nothing matches)."""
    picked = value if when is None else F.when(when, value)
    return F.coalesce(F.sum(picked), F.lit(0)).cast(MONEY)


def build_ewt_by_atc(ewt: DataFrame) -> DataFrame:
    """Withholding per agency, month, regime and ATC; ``atc_status`` = to_classify rows are the bucket (``atc`` null
    when the tax had no usable code)."""
    return ewt.groupBy("period", "year", "month", "agency", "regime", "atc_status", "atc", "rate").agg(
        _sum(F.col("base")).alias("base"),
        _sum(F.col("tax_withheld")).alias("tax_withheld"),
        F.count(F.lit(1)).alias("lines"),
    )


def build_bir_transactions(ewt: DataFrame, vat: DataFrame) -> DataFrame:
    keys = ["period", "year", "month", "agency"]
    regime, to_classify = F.col("regime"), F.col("atc_status") == "to_classify"
    tax = F.col("tax_withheld")
    wht = ewt.groupBy(*keys).agg(
        _sum(tax, regime == "EWT").alias("withholding_tax"),
        _sum(tax, (regime == "EWT") & to_classify).alias("withholding_to_classify"),
        _sum(tax, regime == "FWT").alias("final_withholding_tax"),
        _sum(tax, (regime == "FWT") & to_classify).alias("final_withholding_to_classify"),
        _sum(tax, regime == "WVAT").alias("withholding_vat"),
        _sum(tax, regime == "CWT").alias("income_tax"),
        _sum(tax, (regime == "CWT") & to_classify).alias("income_tax_to_classify"),
        _sum(F.col("base"), regime == "EWT").alias("ewt_base"),
        F.sum(F.when(regime == "EWT", 1).otherwise(0)).cast("bigint").alias("lines"),
    )
    v = vat.groupBy(*keys).agg(
        _sum(F.col("vat"), F.col("side") == "sale").alias("output_vat"),
        _sum(F.col("vat"), F.col("side") != "sale").alias("input_vat"),
    )
    amounts = ["withholding_tax", "withholding_to_classify", "final_withholding_tax", "final_withholding_to_classify",
               "withholding_vat", "income_tax", "income_tax_to_classify", "ewt_base", "output_vat", "input_vat"]
    out = wht.join(v, keys, "full_outer")
    out = out.select(*keys, *[F.coalesce(F.col(c), F.lit(0).cast(MONEY)).alias(c) for c in amounts],
                     F.coalesce(F.col("lines"), F.lit(0).cast("bigint")).alias("lines"))
    return out.withColumn("vat", (F.col("output_vat") - F.col("input_vat")).cast(MONEY))


def build_features(transactions: DataFrame) -> DataFrame:
    """One row per agency and month, gaps filled with zero, so lag(1)/lag(12) are true calendar lags."""
    bounds = transactions.agg(F.min("period").alias("lo"), F.max("period").alias("hi"))
    months = bounds.select(
        F.explode(F.sequence(F.to_date(F.concat("lo", F.lit("-01"))), F.to_date(F.concat("hi", F.lit("-01"))),
                             F.expr("interval 1 month"))).alias("d")
    )
    grid = transactions.select("agency").distinct().crossJoin(months)
    grid = grid.select("agency", F.date_format("d", "yyyy-MM").alias("period"),
                       F.year("d").alias("year"), F.month("d").alias("month"))
    facts = transactions.select("agency", "period", "withholding_tax", "income_tax", "vat")
    full = grid.join(facts, ["agency", "period"], "left").select(
        "agency", "period", "year", "month",
        *[F.coalesce(F.col(c), F.lit(0).cast(MONEY)).alias(c) for c in ("withholding_tax", "income_tax", "vat")])
    w = Window.partitionBy("agency").orderBy("period")
    return full.select(
        "agency", "period", "year", "month", "withholding_tax",
        F.lag("withholding_tax", 1).over(w).alias("prev_month_wht"),
        F.lag("withholding_tax", 12).over(w).alias("prev_year_wht"),
        "income_tax", "vat",
    )


@io.stage
def refresh_features(spark: SparkSession) -> int:
    """Rebuild ``gold.bir_features`` from ``gold.bir_transactions``; the lags make every row depend on others."""
    io.overwrite(build_features(spark.table(io.BIR_TRANSACTIONS)), io.BIR_FEATURES)
    return io.last_write_rows(spark, io.BIR_FEATURES)


def pending_periods(spark: SparkSession) -> tuple[list[str], list[str]]:
    """Silver batches gold has not seen yet (or not since silver processed them again), and the periods they
    touched."""
    silver_log = spark.table(io.SILVER_LOG).collect()
    new = set(io.pending_batches({r["batch_id"]: r["processed_at"] for r in silver_log},
                                 io.processed_at(spark, io.GOLD_LOG)))
    rows = [r for r in silver_log if r["batch_id"] in new]
    periods = sorted({p for r in rows for p in (r["periods"] or "").split(",") if p})
    return sorted(r["batch_id"] for r in rows), periods


@io.stage
def run(spark: SparkSession, periods: list[str] | None = None) -> list[str]:
    """Rebuild gold for ``periods`` (default: what silver changed since the last gold run)."""
    io.ensure_schemas(spark)
    stale = io.outdated(spark, LAYOUT)
    if stale:  # written by an earlier version: rebuilt whole below
        io.drop_tables(spark, [io.BIR_TRANSACTIONS, io.EWT_BY_ATC, io.BIR_FEATURES])
    batches, pending = pending_periods(spark)
    todo = sorted(set(periods) if periods is not None else set(pending))
    if not io.table_exists(spark, io.BIR_TRANSACTIONS):
        todo = sorted({r[0] for r in spark.table(io.EWT_LINES).select("period").distinct().collect()}
                      | {r[0] for r in spark.table(io.VAT_LINES).select("period").distinct().collect()})
    if todo:
        where_p = io.in_list("period", todo)
        ewt = spark.table(io.EWT_LINES).where(where_p)
        vat = spark.table(io.VAT_LINES).where(where_p)
        io.replace_where(build_ewt_by_atc(ewt), io.EWT_BY_ATC, where_p)
        io.replace_where(build_bir_transactions(ewt, vat), io.BIR_TRANSACTIONS, where_p)
    if batches:
        log = spark.createDataFrame([(b,) for b in batches], "batch_id string").withColumn(
            "processed_at", F.current_timestamp())
        if io.table_exists(spark, io.GOLD_LOG):
            io.replace_where(log, io.GOLD_LOG, io.in_list("batch_id", batches))
        else:
            io.overwrite(log, io.GOLD_LOG)
    return todo
