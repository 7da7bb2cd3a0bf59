"""The pipeline's transforms on small DataFrames, through the reusable ``spark`` fixture."""

from decimal import Decimal as D

from pyspark.sql import functions as F

from odoolake.pipeline import gold, silver


def test_latest_keeps_newest_version(spark):
    df = spark.createDataFrame([(1, "2026-01-01 00:00:00", "a"), (1, "2026-01-02 00:00:00", "b"),
                                (2, "2026-01-01 00:00:00", "c")], "id long, write_date string, v string")
    out = {r["id"]: r["v"] for r in silver.latest(df, "id", [F.col("write_date").desc()]).collect()}
    assert out == {1: "b", 2: "c"}


def test_newest_orders_by_write_date_then_batch_then_file(spark):
    """The max-and-join plan keeps, per record, the row the window keeps: newest write_date; on a tie the later batch;
    then the later file (one record version per file). One row per record, whatever the ties."""
    rows = [
        (1, "2026-01-01 00:00:00", "odoo-202601", "a/odoo-202601.jsonl", "old"),
        (1, "2026-01-02 00:00:00", "odoo-202601", "a/odoo-202601.jsonl", "newest date"),
        (1, "2026-01-01 23:59:59", "odoo-202603", "a/odoo-202603.jsonl", "later batch, older date"),
        (2, "2026-01-05 00:00:00", "odoo-202601", "a/odoo-202601.jsonl", "first delivery"),
        (2, "2026-01-05 00:00:00", "odoo-202602", "a/odoo-202602.jsonl", "same version, later batch"),
        (3, "2026-01-05 00:00:00", "odoo-202602", "a/odoo-202602.json", "same batch, .json"),
        (3, "2026-01-05 00:00:00", "odoo-202602", "a/odoo-202602.jsonl", "same batch, later file"),
        (4, "2026-01-05 00:00:00.5", "odoo-202601", "a/odoo-202601.jsonl", "fractional second"),
        (4, "2026-01-05 00:00:00", "odoo-202609", "a/odoo-202609.jsonl", "whole second, later batch"),
    ]
    df = spark.createDataFrame(rows, "id long, write_date string, _batch_id string, _source_file string, v string")
    got = sorted((r["id"], r["v"]) for r in silver.newest(df).collect())
    assert got == [(1, "newest date"), (2, "same version, later batch"), (3, "same batch, later file"),
                   (4, "fractional second")]
    by_window = {r["id"]: r["v"] for r in silver.latest(df, "id", [F.col("write_date").desc(), F.col("_batch_id").desc(),
                                                                   F.col("_source_file").desc()]).collect()}
    assert dict(got) == by_window


def test_taxes_resolve_atc_from_field_then_name(spark):
    raw = spark.createDataFrame(
        [(1, "1% WC158", -1.0, "purchase", "WC158", "2026-01-01 00:00:00", "b1"),
         (2, "2% WC120 manual", -2.0, "purchase", "false", "2026-01-01 00:00:00", "b1"),
         (3, "2% EWT contractor", -2.0, "purchase", "false", "2026-01-01 00:00:00", "b1"),
         (4, "12% VAT services", 12.0, "purchase", "false", "2026-01-01 00:00:00", "b1")],
        "id long, name string, amount double, type_tax_use string, l10n_ph_atc string, write_date string, "
        "_batch_id string",
    )
    got = {r["tax_id"]: (r["atc"], r["atc_source"], r["is_withholding"], r["vat_category"])
           for r in silver.build_taxes(raw).collect()}
    assert got[1] == ("WC158", "field", True, None)
    assert got[2] == ("WC120", "name", True, None)
    assert got[3] == (None, None, True, None)
    assert got[4] == (None, None, False, "services")


def test_features_fill_gaps_so_lags_are_calendar_lags(spark):
    tx = spark.createDataFrame(
        [("RIM", "2025-01", 100.0, 1.0, 2.0), ("RIM", "2025-03", 300.0, 1.0, 2.0), ("RIM", "2026-01", 50.0, 0.0, 0.0)],
        "agency string, period string, withholding_tax double, income_tax double, vat double",
    )
    rows = {r["period"]: r for r in gold.build_features(tx).collect()}
    assert len(rows) == 13
    assert rows["2025-02"]["withholding_tax"] == 0.0
    assert rows["2025-03"]["prev_month_wht"] == 0.0
    assert rows["2026-01"]["prev_year_wht"] == 100.0


def test_bir_transactions_split_by_regime(spark):
    ewt = spark.createDataFrame(
        [("2026-01", 2026, 1, "RIM", "EWT", 1000.0, 20.0), ("2026-01", 2026, 1, "RIM", "EWT", -500.0, -10.0),
         ("2026-01", 2026, 1, "RIM", "FWT", 100.0, 25.0), ("2026-01", 2026, 1, "RIM", "CWT", 900.0, 9.0)],
        "period string, year int, month int, agency string, regime string, base double, tax_withheld double",
    )
    vat = spark.createDataFrame(
        [("2026-01", 2026, 1, "RIM", "sale", 120.0), ("2026-01", 2026, 1, "RIM", "purchase", 36.0)],
        "period string, year int, month int, agency string, side string, vat double",
    )
    r = gold.build_bir_transactions(ewt.withColumn("atc_status", F.lit("ok")), vat).first()
    assert (r["withholding_tax"], r["final_withholding_tax"], r["income_tax"]) == (D("10.00"), D("25.00"), D("9.00"))
    assert (r["output_vat"], r["input_vat"], r["vat"], r["lines"]) == (D("120.00"), D("36.00"), D("84.00"), 2)
