"""The pipeline's transforms on small DataFrames, through the reusable ``spark`` fixture."""

from pyspark.sql import functions as F

from odoolake.pipeline import gold, silver


def test_latest_keeps_newest_version(spark):
    df = spark.createDataFrame([(1, "2026-01-01 00:00:00", "a"), (1, "2026-01-02 00:00:00", "b"),
                                (2, "2026-01-01 00:00:00", "c")], "id long, write_date string, v string")
    out = {r["id"]: r["v"] for r in silver.latest(df, "id", [F.col("write_date").desc()]).collect()}
    assert out == {1: "b", 2: "c"}


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
    r = gold.build_bir_transactions(ewt, vat).first()
    assert (r["withholding_tax"], r["final_withholding_tax"], r["income_tax"]) == (10.0, 25.0, 9.0)
    assert (r["output_vat"], r["input_vat"], r["vat"], r["lines"]) == (120.0, 36.0, 84.0, 2)


def _tax_line_inputs(spark, dated: str, rate: float, move_type: str = "in_invoice", balance: float = -5.0):
    from odoolake.pipeline.silver import build_companies, build_partners, build_taxes

    moves = spark.createDataFrame(
        [(10, "BILL/1", None, move_type, "posted", dated, dated, 7, 1, "PHP", None, "2026-01-01 00:00:00", "b1")],
        "move_id long, move_name string, ref string, move_type string, state string, date string, invoice_date string, "
        "partner_id long, company_id long, currency string, origin_payment_id long, write_date string, _batch_id string",
    ).withColumn("date", F.to_date("date")).withColumn("invoice_date", F.to_date("invoice_date")) \
     .withColumn("write_date", F.to_timestamp("write_date")).withColumn("period", F.date_format("date", "yyyy-MM"))
    lines = spark.createDataFrame(
        [(100, 10, "tax", 5, 1000.0, balance, balance, dated[:7], "b1")],
        "line_id long, move_id long, display_type string, tax_line_id long, tax_base_amount double, balance double, "
        "amount_currency double, period string, _batch_id string",
    ).withColumn("write_date", F.to_timestamp(F.lit(f"{dated} 09:00:00")))
    partners = build_partners(spark.createDataFrame(
        [(7, "Fuel Corp", True, "company", "123-456-789-00000", "2026-01-01 00:00:00", "b1")],
        "id long, name string, is_company boolean, company_type string, vat string, write_date string, _batch_id string",
    ).withColumn("branch_code", F.lit(None).cast("string")).withColumn("first_name", F.lit(None).cast("string"))
     .withColumn("middle_name", F.lit(None).cast("string")).withColumn("last_name", F.lit(None).cast("string"))
     .withColumn("zip", F.lit(None).cast("string")).withColumn("country_id", F.lit(None).cast("array<string>"))
     .withColumn("_deleted", F.lit(None).cast("boolean")))
    taxes = build_taxes(spark.createDataFrame(
        [(5, f"{rate}% WC158", -rate, "purchase", "WC158", "2026-01-01 00:00:00", "b1")],
        "id long, name string, amount double, type_tax_use string, l10n_ph_atc string, write_date string, "
        "_batch_id string"))
    companies = build_companies(spark.createDataFrame(
        [(1, "RIM", "111-222-333-00000", "050", "2026-01-01 00:00:00", "b1")],
        "id long, name string, vat string, l10n_ph_rdo string, write_date string, _batch_id string"))
    return moves, lines, partners, taxes, companies


def test_a_mid_year_rate_change_applies_by_date(spark):
    """WC158 at 0.5% is in force from 10 Oct 2025 (RR 24-2025): flagged the day before, clean on the day."""
    flags = {}
    for dated in ("2025-10-09", "2025-10-10"):
        ewt, _, rejects = silver.build_tax_lines(spark, *_tax_line_inputs(spark, dated, 0.5))
        row = ewt.first()
        flags[dated] = row["dq_flags"]
        assert rejects.count() == 0 and row["tax_withheld"] == 5.0
    assert "RATE_NOT_IN_FORCE" in flags["2025-10-09"]
    assert "RATE_NOT_IN_FORCE" not in flags["2025-10-10"]


def test_a_credit_note_reduces_its_own_period(spark):
    ewt, _, _ = silver.build_tax_lines(spark, *_tax_line_inputs(spark, "2026-02-15", 1.0, "in_refund", 10.0))
    row = ewt.first()
    assert (row["period"], row["base"], row["tax_withheld"]) == ("2026-02", -1000.0, -10.0)
