"""End to end: generated Odoo data → bronze → silver → gold, checked against an independent oracle."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from odoolake.bir.atc import ALL_RATES
from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.errors import RawDataError
from odoolake.pipeline import bronze, month_end
from odoolake.workspace.engine import LocalEngine

RAW = "dbfs:/raw/odoo"
CFG = GenConfig(months=6, end=date(2026, 10, 1), lines=40_000, seed=7)
EWT_ATCS = {r.atc for r in ALL_RATES if r.regime == "EWT"}


def _load(raw: Path, model: str) -> pd.DataFrame:
    rows = []
    for path in sorted((raw / model).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            rec["_batch"] = path.stem
            rows.append(rec)
    return pd.DataFrame(rows)


def oracle_wht(raw: Path) -> dict[tuple[str, str], float]:
    """EWT per (agency, period) from the raw files with pandas, not the pipeline's code."""
    moves = _load(raw, "account_move").sort_values(["write_date", "_batch"])
    moves = moves.groupby("id").tail(1)
    moves = moves[(moves.get("_deleted") != True) & (moves["state"] == "posted")].copy()  # noqa: E712
    # a second posted document with the same company, partner, type and (non-empty) reference is a duplicate
    moves["key"] = moves.apply(lambda m: (m["company_id"][0], m["partner_id"][0], m["move_type"], m["ref"])
                               if m["ref"] else ("id", m["id"]), axis=1)
    moves = moves.sort_values("id").groupby("key").head(1)
    lines = _load(raw, "account_move_line")
    lines = lines[lines["balance"].notna()]
    lines["move"] = lines["move_id"].map(lambda v: v[0])
    lines = lines.merge(moves[["id", "_batch", "company_id", "currency_id"]].rename(
        columns={"id": "move", "_batch": "move_batch", "company_id": "move_company",
                 "currency_id": "move_currency"}), on="move")
    lines = lines[lines["_batch"] >= lines["move_batch"]].sort_values(["write_date", "_batch"]).groupby("id").tail(1)
    taxes = _load(raw, "account_tax").set_index("id")
    total: dict[tuple[str, str], float] = defaultdict(float)
    for _, ln in lines.iterrows():
        if not isinstance(ln["tax_line_id"], list):
            continue
        tax = taxes.loc[ln["tax_line_id"][0]]
        if tax["amount"] >= 0 or tax["type_tax_use"] != "purchase":
            continue
        atc = tax["l10n_ph_atc"] or (re.findall(r"W[IC]\d{3}", tax["name"]) or [None])[0]
        if atc not in EWT_ATCS:
            continue
        if ln["move_currency"][1] != "PHP" and ln["balance"] == 0 and ln["amount_currency"] != 0:
            continue
        total[(ln["move_company"][1], ln["date"][:7])] += -ln["balance"]
    return {k: round(v, 2) for k, v in total.items()}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    paths = WorkspacePaths.from_env(tmp_path_factory.mktemp("lake"))
    raw = paths.dbfs_to_local(RAW)
    manifest = generate(CFG, raw)
    engine = LocalEngine(paths)
    spark = engine.session()
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    yield paths, raw, manifest, engine, spark, result
    engine.close()


def _gold(spark) -> dict[tuple[str, str], float]:
    return {(r["agency"], r["period"]): r["withholding_tax"]
            for r in spark.table("gold.bir_transactions").collect()}


def assert_gold_matches_oracle(spark, raw: Path) -> None:
    expected = oracle_wht(raw)
    got = _gold(spark)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.011), key


def test_gold_matches_independent_totals(lake):
    _, raw, _, _, spark, _ = lake
    assert_gold_matches_oracle(spark, raw)


def test_seed_query_answers_per_agency(lake):
    spark = lake[4]
    rows = spark.sql("SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions "
                     "WHERE year = 2026 AND month = 10 GROUP BY agency").collect()
    assert {r["agency"] for r in rows} == set(CFG.agencies)
    assert all(r["total_wht"] > 0 for r in rows)


def test_quarantine_counts_per_messy_case(lake):
    _, _, manifest, _, spark, _ = lake
    q = spark.table("silver.quarantine")

    def ids(reason: str) -> set[int]:
        return {r[0] for r in q.where(f"reason = '{reason}'").select("record_id").collect()}

    cases = {k: set(v) for k, v in manifest.cases.items()}
    assert q.where("reason = 'MALFORMED_JSON'").count() == CFG.messy.malformed_json_lines
    assert ids("MISSING_FIELD") == cases["missing_field"]
    assert ids("DUPLICATE_RECORD") == cases["duplicate_record"]
    assert ids("DELETED") == cases["draft_deleted"]
    cancelled = ids("CANCELLED")
    assert cases["cancelled"] <= cancelled
    assert cases["duplicate_bill_cancelled"] <= cancelled
    # a duplicate bill not yet cancelled at the last extraction is caught by the duplicate rule
    assert ids("DUPLICATE_BILL") == cases["duplicate_bill"] - cases["duplicate_bill_cancelled"]
    drafts = ids("DRAFT")
    assert cases["draft_kept"] <= drafts
    assert not (cases["draft_posted_late"] & drafts)
    assert ids("MISSING_CURRENCY_RATE") <= {r[0] for r in spark.table("silver.move_lines").select("line_id").collect()}
    assert q.where("reason = 'UNKNOWN_ATC'").count() > 0
    assert q.where("reason = 'ATC_FROM_NAME' AND action = 'flagged'").count() > 0


def test_rerun_is_idempotent_and_skips_ingested_files(lake):
    paths, _, _, _, spark, _ = lake
    before = _gold(spark)
    again = month_end.run(spark, RAW, dbfs_lister(paths))
    assert again.bronze.new_batches == [] and again.silver.periods == []
    assert _gold(spark) == before
    forced = month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert forced.silver.periods
    assert _gold(spark) == before


def test_new_month_rebuilds_only_affected_periods(lake):
    paths, raw, _, _, spark, _ = lake
    before = _gold(spark)
    versions = spark.sql("DESCRIBE HISTORY silver.ewt_lines").count()
    generate(CFG, raw, months=[date(2026, 11, 1)])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert result.bronze.new_batches == ["odoo-202611"]
    assert result.silver.periods == ["2026-10", "2026-11"]
    after = _gold(spark)
    untouched = {k: v for k, v in before.items() if k[1] < "2026-10"}
    assert {k: after[k] for k in untouched} == untouched
    assert spark.sql("DESCRIBE HISTORY silver.ewt_lines").count() == versions + 1
    expected = oracle_wht(raw)
    for key, value in expected.items():
        assert after[key] == pytest.approx(value, abs=0.011), key
    # the incremental run reads only part of bronze; a full rebuild from all of it must agree row for row
    incremental = _silver_state(spark)
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert _silver_state(spark) == incremental


def _silver_state(spark) -> dict[str, object]:
    state: dict[str, object] = {
        table: sorted(tuple(r) for r in spark.table(table).select(*keys).collect())
        for table, keys in (("silver.moves", ("move_id", "state", "period", "_batch_id")),
                            ("silver.move_lines", ("line_id", "move_id", "period", "balance", "_batch_id")),
                            ("silver.tax_lines", ("line_id", "period", "_reject")),
                            ("silver.ewt_lines", ("line_id", "tax_withheld", "dq_flags")),
                            ("silver.vat_lines", ("line_id", "vat")))
    }
    state["quarantine"] = sorted(
        (r["stage"], r["reason"], r["record_id"], r["_batch_id"] or "")
        for r in spark.table("silver.quarantine").collect())
    return state


def test_bad_raw_file_stops_with_file_and_line_and_writes_nothing(lake):
    paths, raw, _, _, spark, _ = lake
    bad = raw / "account_move" / "odoo-209901.jsonl"
    bad.write_text("agency,amount\nRIM,1\nBOM,2\n")
    rows_before = spark.table("bronze.odoo_account_move").count()
    try:
        with pytest.raises(RawDataError, match=r"odoo-209901\.jsonl \(line 1, 2, 3\): not JSON lines"):
            bronze.ingest(spark, RAW, dbfs_lister(paths))
        assert spark.table("bronze.odoo_account_move").count() == rows_before
    finally:
        bad.unlink()


def test_odoo19_withholding_on_payment_counts_in_the_payment_month(tmp_path):
    """Odoo 19 puts the EWT line on the payment entry; the pipeline takes it from there, in the payment's period."""
    paths = WorkspacePaths.from_env(tmp_path)
    raw = paths.dbfs_to_local(RAW)
    cfg = GenConfig(months=3, end=date(2026, 10, 1), lines=15_000, seed=3, odoo_version=19)
    manifest = generate(cfg, raw)
    payments = set(manifest.cases["ewt_on_payment"])
    assert payments
    with LocalEngine(paths) as engine:
        spark = engine.session()
        month_end.run(spark, RAW, dbfs_lister(paths))
        from_payments = {r[0] for r in spark.table("silver.ewt_lines").where("move_type = 'entry'")
                         .select("move_id").distinct().collect()}
        assert from_payments == payments
        got = _gold(spark)
    expected = oracle_wht(raw)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.011), key


def test_schema_drift_and_empty_files_stop_before_writing(lake):
    paths, raw, _, _, spark, _ = lake
    drift = raw / "account_move_line" / "odoo-209902.jsonl"
    drift.write_text('{"id": 1, "move_id": [1, "X"], "write_date": "2026-01-01 00:00:00"}\n' * 3)
    empty = raw / "account_tax" / "odoo-209903.jsonl"
    empty.write_text("\n\n")
    rows_before = spark.table("bronze.odoo_account_move_line").count()
    try:
        with pytest.raises(RawDataError, match=r"odoo-20990[23]\.jsonl"):
            bronze.ingest(spark, RAW, dbfs_lister(paths))
        empty.unlink()
        with pytest.raises(RawDataError, match=r"required field 'balance' of account\.move\.line is missing"):
            bronze.ingest(spark, RAW, dbfs_lister(paths))
        assert spark.table("bronze.odoo_account_move_line").count() == rows_before
    finally:
        drift.unlink(missing_ok=True)
        empty.unlink(missing_ok=True)


def test_bir_forms_reconcile_with_gold(lake):
    """2307 totals = QAP totals = gold EWT for each quarter; credit notes reduce their own quarter."""
    from odoolake.pipeline import forms

    spark = lake[4]
    quarters = forms.run(spark, as_of=date(2026, 11, 5))
    assert quarters
    q = "quarter"

    def totals(table: str, column: str) -> dict:
        return {(r["agency"], r[q]): round(r["t"], 2) for r in spark.sql(
            f"SELECT agency, {q}, SUM({column}) AS t FROM {table} GROUP BY agency, {q}").collect()}

    gold = {(r["agency"], r[q]): round(r["t"], 2) for r in spark.sql(
        "SELECT agency, concat(year, 'Q', ceil(month / 3)) AS quarter, SUM(withholding_tax) AS t "
        "FROM gold.bir_transactions GROUP BY agency, concat(year, 'Q', ceil(month / 3))").collect()}
    form_2307 = totals("gold.form_2307", "tax_withheld")
    qap = totals("gold.qap", "tax_withheld")
    assert set(form_2307) == set(qap) <= set(gold)
    for key in form_2307:
        assert form_2307[key] == pytest.approx(qap[key], abs=0.05) == pytest.approx(gold[key], abs=0.05)
    by_atc = {(r["agency"], r["period"]): r["t"] for r in spark.sql(
        "SELECT agency, period, SUM(tax_withheld) AS t FROM gold.ewt_by_atc WHERE regime = 'EWT' "
        "GROUP BY agency, period").collect()}
    monthly_gold = {(r["agency"], r["period"]): r["withholding_tax"] for r in spark.table("gold.bir_transactions")
                    .collect()}
    assert by_atc.keys() <= monthly_gold.keys()
    assert all(by_atc[k] == pytest.approx(monthly_gold[k], abs=0.05) for k in by_atc)
    monthly = spark.sql("SELECT SUM(income_month1 + income_month2 + income_month3 - income_total) AS d "
                        "FROM gold.form_2307").first()["d"]
    assert abs(monthly) < 0.5
    refunds = spark.sql("SELECT COUNT(*) AS n FROM silver.ewt_lines WHERE move_type = 'in_refund' "
                        "AND tax_withheld < 0").first()["n"]
    assert refunds > 0
    cal = spark.table("gold.filing_calendar")
    assert cal.where("form = '1601-EQ' AND period = '2026Q3'").select("due").first()["due"] == date(2026, 11, 3)
    status = {(r["form"], r["period"]): r["status"] for r in cal.where("agency = 'RIM'").collect()}
    assert status[("0619-E", "2026-10")] == "due_soon"  # due 10 Nov, 5 days after as_of
    assert status[("1601-EQ", "2026Q3")] == "deadline_passed"
    assert status[("0619-E", "2026-01")] == "no_data"  # the test data start in May 2026
    assert spark.table("gold.slsp").where("side = 'purchase'").count() > 0
    assert spark.table("gold.sawt").count() > 0


def test_bir_cli_outputs(lake):
    """odoolake bir calendar / dat qap / forms on the e2e lake: strict by default, explicit when skipping."""
    from decimal import Decimal

    import openpyxl
    from typer.testing import CliRunner

    from odoolake.cli.main import app

    paths, spark = lake[0], lake[4]
    runner = CliRunner()
    home = ["--home", str(paths.home)]
    cal = runner.invoke(app, ["bir", "calendar", "--year", "2026", *home])
    assert cal.exit_code == 0 and "1601-EQ" in cal.output and "moved" in cal.output
    strict = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "RIM", *home])
    assert strict.exit_code == 1 and "need fixing in Odoo first" in strict.output
    folder = paths.dbfs_to_local("dbfs:/bir/RIM/2026Q3")
    assert not (folder.exists() and any(folder.glob("*.dat"))), "nothing is written half"
    skip = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "RIM", "--skip-invalid-tins",
                               *home])
    assert skip.exit_code == 0, skip.output
    dat = next(folder.glob("*1601EQ.dat")).read_text()
    c1 = next(line for line in dat.splitlines() if line.startswith("C1,"))
    excluded = next(folder.glob("*_excluded.csv")).read_text().splitlines()[1:]
    written_tax = Decimal(c1.split(",")[-1])
    excluded_tax = sum((Decimal(line.rsplit(",", 1)[1]) for line in excluded), Decimal(0))
    gold_tax = spark.sql("SELECT SUM(tax_withheld) AS t FROM gold.qap WHERE agency = 'RIM' AND quarter = '2026Q3' "
                         "AND schedule = 1").first()["t"]
    assert float(written_tax + excluded_tax) == pytest.approx(gold_tax, abs=0.05)
    forms_run = runner.invoke(app, ["bir", "forms", "--period", "2026Q3", "--agency", "RIM", "--skip-invalid-tins",
                                    *home])
    assert forms_run.exit_code == 0, forms_run.output
    xlsx = sorted(folder.glob("2307_*.xlsx"))
    assert xlsx
    tin = xlsx[0].name.split("_")[1]
    sheet = openpyxl.load_workbook(xlsx[0]).active
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, float)]
    expected = spark.sql(f"SELECT SUM(tax_withheld) AS t FROM gold.form_2307 WHERE agency = 'RIM' "
                         f"AND quarter = '2026Q3' AND payee_tin = '{tin}'").first()["t"]
    assert any(abs(v - expected) < 0.01 for v in values)
    summary = paths.dbfs_to_local("dbfs:/bir/all/2026Q3/month_end_2026-09.html").read_text()
    assert "<svg" in summary and "RIM" in summary
    bad = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q5", "--agency", "RIM", *home])
    assert bad.exit_code == 1 and "not a quarter" in bad.output
    empty = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2024Q1", "--agency", "RIM", *home])
    assert empty.exit_code == 1 and "No withholding data for RIM in 2024Q1" in empty.output
    sawt_run = runner.invoke(app, ["bir", "dat", "sawt", "--quarter", "2026Q3", "--agency", "RIM", *home])
    assert sawt_run.exit_code == 0, sawt_run.output
    assert next(folder.glob("*1702Q.dat")).read_text().startswith("HSAWT,H1702Q,")
    annual = runner.invoke(app, ["bir", "dat", "1604e", "--year", "2026", "--agency", "RIM", "--skip-invalid-tins",
                                 *home])
    assert annual.exit_code == 0, annual.output
    assert next(paths.dbfs_to_local("dbfs:/bir/RIM/2026").glob("*1604E.dat")).read_text().startswith("H1604E,")


def test_scout_dlt_pipeline_runs_locally(lake):
    """The bundle's DLT notebook, unchanged (it says `import dlt`), through odoolake.dlt on the e2e lake."""
    from odoolake.dlt import run_pipeline
    from odoolake.workspace.notebooks import run_notebook

    paths, spark = lake[0], lake[4]
    notebook = Path(__file__).resolve().parents[2] / "databricks/src/etl/dlt_pipeline.py"
    results = run_pipeline(spark, lambda: run_notebook(notebook, spark, paths), target="scout", pipeline_id="scout_dlt")
    assert [r.name for r in results] == ["scout_moves", "scout_bills", "scout_bills_by_agency"]
    states = {r[0] for r in spark.table("scout.scout_bills").select("state").distinct().collect()}
    assert states == {"posted"}
    dropped = {m["name"]: m["failed_records"] for m in next(r for r in results if r.name == "scout_bills").expectations}
    assert dropped["posted"] > 0 and dropped["vendor_document"] > 0
    assert spark.table("scout.event_log").where("pipeline_id = 'scout_dlt'").count() >= 4


def test_silver_in_period_chunks_gives_the_same_gold(tmp_path, monkeypatch):
    """Large lakes build silver lines in groups of periods (bounded memory); forced here to one period per group."""
    from odoolake.pipeline import silver

    assert silver.period_chunks(["2026-01", "2026-02", "2026-03"], 0) == [["2026-01", "2026-02", "2026-03"]]
    assert silver.period_chunks(["2026-01", "2026-02", "2026-03"], 3 * silver.LINES_BYTES_PER_CHUNK) == [
        ["2026-01"], ["2026-02"], ["2026-03"]]
    monkeypatch.setattr(silver, "LINES_BYTES_PER_CHUNK", 1)
    paths = WorkspacePaths.from_env(tmp_path / "chunked")
    raw = paths.dbfs_to_local(RAW)
    generate(CFG, raw)
    engine = LocalEngine(paths)
    spark = engine.session()
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert_gold_matches_oracle(spark, raw)
    engine.close()
