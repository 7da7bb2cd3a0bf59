"""End to end: generated Odoo data → bronze → silver → gold, checked against an independent oracle."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from odoolake.bir import atc, reasons
from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.errors import RawDataError
from odoolake.pipeline import bronze, io, month_end
from odoolake.pipeline.schemas import RAW_BY_NAME
from odoolake.workspace.engine import LocalEngine
from tests import oracle

RAW = "dbfs:/raw/odoo"
CFG = GenConfig(months=6, end=date(2026, 10, 1), lines=40_000, seed=7)


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


AMOUNTS = ("withholding_tax", "withholding_to_classify", "final_withholding_tax", "final_withholding_to_classify",
           "withholding_vat", "income_tax", "income_tax_to_classify", "output_vat", "input_vat")


def _gold(spark) -> dict[tuple[str, str], Decimal]:
    return {(r["agency"], r["period"]): r["withholding_tax"]
            for r in spark.table("gold.bir_transactions").collect()}


def assert_gold_matches_oracle(spark, raw: Path) -> None:
    """Every amount of gold.bir_transactions equals the oracle's to the centavo (DECIMAL on both sides)."""
    expected = oracle.build(raw).totals()
    got = {(r["agency"], r["period"]): r for r in spark.table("gold.bir_transactions").collect()}
    assert set(got) == set(expected)
    for key, row in got.items():
        assert {c: row[c] for c in AMOUNTS} == {c: expected[key][c] for c in AMOUNTS}, key


def test_gold_matches_independent_totals(lake):
    _, raw, _, _, spark, _ = lake
    assert_gold_matches_oracle(spark, raw)


def test_seed_query_answers_per_agency(lake):
    spark = lake[4]
    rows = spark.sql("SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions "
                     "WHERE year = 2026 AND month = 10 GROUP BY agency").collect()
    assert {r["agency"] for r in rows} == set(CFG.agencies)
    assert all(r["total_wht"] > 0 for r in rows)


def test_every_quarantine_reason_by_name_and_count(lake):
    """Each reason code lands on exactly the records the generator's cases and the oracle's rules say: ingest and
    de-duplication cases from the generator's manifest, everything else from the independent oracle."""
    _, raw, manifest, _, spark, _ = lake
    found: dict[str, set[int]] = defaultdict(set)
    actions: dict[str, set[str]] = defaultdict(set)
    for r in spark.table("silver.quarantine").collect():
        found[r["reason"]].add(r["record_id"])
        actions[r["reason"]].add(r["action"])
    cases = {k: set(v) for k, v in manifest.cases.items()}
    expected = oracle.build(raw).reason_ids()
    expected[reasons.MISSING_FIELD.code] = cases["missing_field"]
    expected[reasons.DUPLICATE_RECORD.code] = cases["duplicate_record"]
    assert len(found[reasons.MALFORMED_JSON.code] | {None}) == 1
    assert spark.table("silver.quarantine").where(f"reason = '{reasons.MALFORMED_JSON.code}'").count() == \
        CFG.messy.malformed_json_lines
    for reason in reasons.ALL_REASONS:
        assert actions[reason.code] <= {reason.action.value}, reason.code
        if reason is reasons.MALFORMED_JSON:
            continue
        assert len(found[reason.code]) == len(expected[reason.code]), reason.code
        assert found[reason.code] == expected[reason.code], reason.code
    # the generator's cases are among them (the oracle finds more: e.g. every bill of a wrongly coded vendor)
    assert expected[reasons.DELETED.code] == cases["draft_deleted"]
    assert cases["cancelled"] | cases["duplicate_bill_cancelled"] <= expected[reasons.CANCELLED.code]
    assert expected[reasons.DUPLICATE_BILL.code] == cases["duplicate_bill"] - cases["duplicate_bill_cancelled"]
    assert cases["draft_kept"] <= expected[reasons.DRAFT.code]
    assert expected[reasons.NAME_NOT_SPLIT.code] <= cases["name_not_split"]
    assert cases["duplicate_partner"] <= expected[reasons.TIN_SHARED_BY_PARTNERS.code]
    assert cases["missing_address"] | cases["missing_zip"] <= expected[reasons.MISSING_ADDRESS.code]
    moves_of = defaultdict(set)
    for r in spark.table("silver.quarantine").where("stage = 'rules'").collect():
        moves_of[r["reason"]].add(r["move_id"])
    no_php = cases["no_php_base"] | cases["no_php_base_rate_later"]
    assert moves_of[reasons.PHP_FROM_REFERENCE_RATE.code] and moves_of[reasons.PHP_FROM_REFERENCE_RATE.code] <= no_php
    assert moves_of[reasons.MISSING_CURRENCY_RATE.code] <= cases["no_php_base"]
    assert moves_of[reasons.PHP_FROM_TAX_BASE.code] <= cases["missing_rate"] - no_php
    # every case the generated data can show is shown (rules never fed by the generator are unit-tested)
    never_generated = {reasons.UNKNOWN_TAX, reasons.ATC_NOT_IN_FORCE, reasons.PAYOR_NOT_ELIGIBLE,
                       reasons.RATE_NOT_IN_FORCE}
    assert all(found[r.code] for r in reasons.ALL_REASONS if r not in never_generated), \
        [r.code for r in reasons.ALL_REASONS if r not in never_generated and not found[r.code]]


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
    assert_gold_matches_oracle(spark, raw)
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


def test_a_file_repeating_a_record_version_is_refused_and_taken_back_out(lake):
    """Silver orders a record's deliveries by (write_date, batch, file): a file holding one version twice would tie.
    The file is refused by name with the record, and its rows leave bronze again (other files' rows stay)."""
    paths, raw, _, _, spark, _ = lake
    line = '{"id": 990000001, "move_id": [1, "X"], "balance": 1.0, "write_date": "2099-01-01 00:00:00"}\n'
    other = '{"id": 990000002, "move_id": [1, "X"], "balance": 2.0, "write_date": "2099-01-01 00:00:00"}\n'
    twice = raw / "account_move_line" / "odoo-209904.jsonl"
    twice.write_text(line + other + line)
    rows_before = spark.table("bronze.odoo_account_move_line").count()
    try:
        with pytest.raises(RawDataError, match=r"odoo-209904\.jsonl: holds record id 990000001 twice with the same "
                                               r"write_date 2099-01-01 00:00:00"):
            bronze.ingest(spark, RAW, dbfs_lister(paths), models=[RAW_BY_NAME["account_move_line"]])
        assert spark.table("bronze.odoo_account_move_line").count() == rows_before
        assert not any(f.endswith("odoo-209904.jsonl")
                       for f in bronze.ingested_files(spark, RAW_BY_NAME["account_move_line"]))
    finally:
        twice.unlink()


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
        assert_gold_matches_oracle(spark, raw)


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


def _quarterly(totals: dict, column: str) -> dict[tuple[str, str], Decimal]:
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for (agency, period), row in totals.items():
        out[(agency, f"{period[:4]}Q{(int(period[5:7]) - 1) // 3 + 1}")] += row[column]
    return dict(out)


def test_bir_forms_match_the_oracle_and_gold(lake):
    """The month-end built the forms: QAP rows, 2307 rows, remittances and SLSP equal the oracle's, to the centavo,
    and the month-end's own check (forms vs gold) passes."""
    from odoolake.pipeline import forms

    _, raw, _, _, spark, _ = lake
    truth = oracle.build(raw)
    forms.check_in_step(spark)
    buckets = spark.sql("SELECT SUM(withholding_to_classify) AS e, SUM(income_tax_to_classify) AS c "
                        "FROM gold.bir_transactions").first()
    assert buckets["e"] > 0 and buckets["c"] > 0, "the check ran with tax to classify on both sides"
    for regime in ("EWT", "FWT"):
        got = {(r["agency"], r["quarter"], r["payee_key"], r["atc"], r["rate"]): (r["income"], r["tax_withheld"])
               for r in spark.table("gold.qap").where(f"regime = '{regime}'").collect()}
        assert got == truth.qap_rows(regime), regime
    assert truth.qap_rows("FWT"), "the generated data has final withholding"
    certified = {(r["agency"], r["quarter"], r["payee_key"], r["atc"], r["rate"]): (r["income_total"], r["tax_withheld"])
                 for r in spark.table("gold.form_2307").collect()}
    assert certified == truth.qap_rows("EWT")
    months = spark.sql("SELECT SUM(income_month1 + income_month2 + income_month3 - income_total) AS d "
                       "FROM gold.form_2307").first()["d"]
    assert months == 0
    totals = truth.totals()
    ewt, fwt = _quarterly(totals, "withholding_tax"), _quarterly(totals, "final_withholding_tax")
    remitted = {(r["agency"], r["form"], r["period"]): r for r in spark.table("gold.remittances").collect()}
    for (agency, quarter), total in ewt.items():
        row = remitted[(agency, "1601-EQ", quarter)]
        assert row["total_withheld"] == total, (agency, quarter)
        assert row["still_due"] == total - row["previously_remitted"]
        assert remitted[(agency, "1601-FQ", quarter)]["total_withheld"] == fwt[(agency, quarter)]
    month = remitted[("RIM", "0619-E", "2026-07")]
    assert (month["total_withheld"], month["to_classify"]) == (
        totals[("RIM", "2026-07")]["withholding_tax"], totals[("RIM", "2026-07")]["withholding_to_classify"])
    slsp = {(r["agency"], r["quarter"], r["side"]): r["b"] for r in spark.sql(
        "SELECT agency, quarter, side, SUM(exempt + zero_rated + services + capital_goods + goods + imports + taxable)"
        " AS b FROM gold.slsp GROUP BY 1, 2, 3").collect()}
    assert slsp == {k: v for k, v in truth.slsp().items()}
    assert any(side == "import" for _, _, side in slsp), "importations are listed apart from purchases"
    cal = spark.table("gold.filing_calendar")
    assert cal.where("form = '1601-EQ' AND period = '2026Q3'").select("due").first()["due"] == date(2026, 11, 3)
    # RIM files by eFPS, group B (the 14th): 14 Nov 2026 is a Saturday, so the 0619-E moves to Monday the 16th
    rim = {(r["form"], r["period"]): r for r in cal.where("agency = 'RIM'").collect()}
    assert rim[("0619-E", "2026-10")]["due"] == date(2026, 11, 16) and rim[("0619-E", "2026-10")]["efps_group"] == "B"
    assert rim[("0619-F", "2026-10")]["statutory_due"] == date(2026, 11, 14)
    assert rim[("1604-E", "2026")]["due"] == date(2027, 3, 1) and rim[("1604-F", "2026")]["due"] == date(2027, 2, 1)
    assert rim[("0619-E", "2026-01")]["status"] == "no_data"  # the test data start in May 2026


def test_forms_catch_up_when_gold_changed_without_them(lake):
    """The reported failure: a month loaded through silver and gold only (as `lake run` did) left the forms of
    its quarter stale. The month-end check names the quarter, and the forms task rebuilds it from its own log."""
    from odoolake.pipeline import forms, gold, silver

    paths, raw, _, _, spark, _ = lake
    generate(CFG, raw, months=[date(2026, 12, 1)])
    bronze.ingest(spark, RAW, dbfs_lister(paths))
    silver.run(spark)
    gold.run(spark)
    with pytest.raises(forms.FormsOutOfStepError, match=r"2026Q4 is PHP [0-9,.]+, gold says PHP [0-9,.]+.*Rebuild the"):
        forms.check_in_step(spark)
    assert forms.run(spark) == ["2026Q4"]
    forms.check_in_step(spark)
    assert forms.run(spark) == []  # nothing pending any more
    # Each quarter has its own files: the rebuild wrote 2026Q4's rows and no other quarter's
    q4 = spark.table(forms.FORM_2307).where("quarter = '2026Q4'").count()
    assert 0 < q4 < spark.table(forms.FORM_2307).count()
    assert io.last_write_rows(spark, forms.FORM_2307) == q4


def _unpartitioned(spark, table: str) -> None:
    """Rewrite ``table`` as an earlier version wrote it: the same rows, no partitions, ``quarter`` second."""
    held = spark.table(table)
    order = [c for c in held.columns if c != "quarter"]
    order.insert(1, "quarter")
    io.overwrite(spark.createDataFrame(held.collect(), held.schema).select(*order), table)
    assert io.partition_columns(spark, table) == [] and spark.table(table).columns == order


def _rows(spark, table: str) -> list[list[tuple]]:
    return sorted((sorted(r.asDict().items()) for r in spark.table(table).collect()), key=repr)


@pytest.mark.parametrize("earlier", [
    pytest.param(("gold.form_2307", "gold.qap", "gold.sawt", "gold.slsp", "gold.remittances"), id="all"),
    pytest.param(("gold.qap",), id="one"),
])
def test_forms_written_unpartitioned_are_rebuilt_by_quarter(lake, earlier):
    """Until 2026-12-02 the form tables were one set of files for all quarters. Such a lake's forms (or a lake where
    one table was replaced since) are rebuilt whole, each quarter in its own files, with the same rows."""
    from odoolake.pipeline import forms

    spark = lake[4]
    before = {t: _rows(spark, t) for t in forms.QUARTER_TABLES}
    for table in earlier:
        _unpartitioned(spark, table)
    assert forms.run(spark) == sorted({forms.quarter_of(r["period"]) for r in
                                       spark.table("gold.bir_transactions").select("period").distinct().collect()})
    assert all(io.partition_columns(spark, t) == ["quarter"] for t in forms.QUARTER_TABLES)
    assert {t: _rows(spark, t) for t in forms.QUARTER_TABLES} == before
    forms.check_in_step(spark)


def _dat(folder: Path, pattern: str) -> list[list[str]]:
    return [line.split(",") for line in next(folder.glob(pattern)).read_bytes().decode().split("\r\n") if line]


def test_bir_cli_outputs(lake):
    """odoolake bir calendar / dat / forms on the e2e lake: strict by default, explicit when skipping, every DAT
    row as the validator checks it (unsigned, tax = income x rate, one row per payee/ATC/rate, names split)."""
    import openpyxl
    from pypdf import PdfReader
    from typer.testing import CliRunner

    from odoolake.cli.main import app

    paths, spark = lake[0], lake[4]
    runner = CliRunner()
    home = ["--home", str(paths.home)]
    cal = runner.invoke(app, ["bir", "calendar", "--year", "2026", *home])
    assert cal.exit_code == 0, cal.output
    assert re.search(r"1604-E\s+│?\s*2025\s+│?\s*Mon 02 Mar 2026", cal.output) and "prior-year period" in cal.output
    strict = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "RIM", *home])
    assert strict.exit_code == 1 and "need fixing in Odoo first" in strict.output and "--skip-invalid" in strict.output
    folder = paths.dbfs_to_local("dbfs:/bir/RIM/2026Q3")
    assert not (folder.exists() and any(folder.glob("*.dat"))), "nothing is written half"
    skip = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "RIM", "--skip-invalid", *home])
    assert skip.exit_code == 0, skip.output
    rows = _dat(folder, "*1601EQ.dat")
    details = [r for r in rows if r[0] == "D1"]
    c1 = next(r for r in rows if r[0] == "C1")
    for r in details:
        income, rate, tax = Decimal(r[-2]), Decimal(r[-3]), Decimal(r[-1])
        assert income > 0 and tax >= 0
        assert tax == (income * rate / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"), r
        assert (r[6] == "") != (r[5] == ""), "a registered name or a person's names, never both or neither"
        if r[5] == "":
            assert r[6].strip('"') and r[7].strip('"'), r
    assert len({(r[3], r[4], r[10], r[11]) for r in details}) == len(details), "one row per payee, ATC and rate"
    assert sum(Decimal(r[-2]) for r in details) == Decimal(c1[-2])
    assert sum(Decimal(r[-1]) for r in details) == Decimal(c1[-1])
    excluded = list(csv.DictReader(next(folder.glob("*1601EQ_exceptions.csv")).open()))
    gold_rows = spark.sql("SELECT income, tax_withheld FROM gold.qap WHERE agency = 'RIM' AND quarter = '2026Q3' "
                          "AND regime = 'EWT' AND schedule = 1").collect()
    assert len(details) + len(excluded) == len(gold_rows)
    assert {e["problem"] for e in excluded} <= {"INVALID_TIN", "NAME_NOT_SPLIT", "NET_NEGATIVE"}
    assert len([e for e in excluded if e["problem"] == "NET_NEGATIVE"]) == len(
        [r for r in gold_rows if r["income"] <= 0 or r["tax_withheld"] < 0])
    # refused after a --skip-invalid run: the earlier file and its list are set aside, not left as if ready to upload
    written = next(folder.glob("*1601EQ.dat")).name
    refused = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "RIM", *home])
    assert refused.exit_code == 1 and f"set aside as {written}.superseded with its lists" in " ".join(
        refused.output.split())
    assert not list(folder.glob("*1601EQ.dat")) and not list(folder.glob("*1601EQ_exceptions.csv"))
    assert (folder / f"{written}.superseded").read_bytes().decode().startswith("HQAP,H1601EQ")
    assert (folder / f"{written.removesuffix('.dat')}_exceptions.csv.superseded").is_file()
    forms_run = runner.invoke(app, ["bir", "forms", "--period", "2026Q3", "--agency", "RIM", "--skip-invalid", *home])
    assert forms_run.exit_code == 0, forms_run.output
    pdfs = sorted(folder.glob("2307_*.pdf"))
    assert pdfs and len(pdfs) == len(list(folder.glob("2307_*.xlsx")))
    pdf = next(p for p in pdfs if p.name.split("_")[1][:9] in {r[3] for r in details})
    tin = pdf.name.split("_")[1]
    text = PdfReader(pdf).pages[0].extract_text()
    assert "Certificate of Creditable Tax Withheld at Source" in text and f"{tin[:3]}-{tin[3:6]}-{tin[6:9]}" in text
    certified = [r for r in details if r[3] + r[4] == tin[:9] + tin[-4:]]
    sheet = openpyxl.load_workbook(next(folder.glob(f"2307_{tin}_*.xlsx"))).active
    printed = next(row for row in sheet.iter_rows(values_only=True) if row[0] == "Total" and row[6] is not None)
    assert Decimal(str(printed[6])).quantize(Decimal("0.01")) == sum(Decimal(r[-1]) for r in certified)
    assert (folder / "2307_exceptions.csv").exists()
    said = " ".join(forms_run.output.split())
    differences = folder / "2307_differences.csv"  # the certificates' own list (the QAP's leaves out some payees)
    assert ("certificate row(s) certify income x rate" in said) == differences.exists()
    for row in csv.DictReader(differences.open()) if differences.exists() else []:
        at_rate = (Decimal(row["income"]) * Decimal(row["rate"]) / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert Decimal(row["tax_certified"]) == at_rate != Decimal(row["tax_withheld"]), row
        assert Decimal(row["difference"]) == Decimal(row["tax_withheld"]) - at_rate, row
    slp = _dat(folder, "*P092026.dat")
    for col in range(10, 16):
        assert Decimal(slp[0][col]) == sum(Decimal(r[col - 1]) for r in slp[1:]), col
    summary = paths.dbfs_to_local("dbfs:/bir/all/2026Q3/month_end_2026-09.html").read_text()
    assert "<svg" in summary and "RIM" in summary and "Withheld, to classify" in summary
    # lines filed although a rule flags them are named on the page, counted per agency and reason (an audit found
    # wrong rates and codes in the QAP with no warning in any filing output)
    flagged = Counter((r["agency"], flag) for r in spark.sql(
        "SELECT agency, dq_flags FROM silver.ewt_lines WHERE period = '2026-09' AND regime <> 'CWT'").collect()
        for flag in (r["dq_flags"] or "").split(",") if flag)
    assert flagged and "Filed with a warning" in summary
    for (agency, flag), count in flagged.items():
        assert f"<tr><td>{agency}</td><td>{flag}</td><td class=n>{count:,}</td>" in summary, (agency, flag)
    # and the posted bills no return includes (a duplicate bill's withholding left the 0619-E without a word)
    duplicates = Counter(r["agency"] for r in spark.sql(
        "SELECT DISTINCT agency, move_id FROM silver.quarantine WHERE period = '2026-09' "
        "AND reason = 'DUPLICATE_BILL'").collect())
    for agency, count in duplicates.items():
        assert f"<tr><td>{agency}</td><td>DUPLICATE_BILL</td><td class=n>{count:,}</td>" in summary, agency
    assert ("Posted, left out of the returns" in summary) == bool(duplicates)
    bad = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q5", "--agency", "RIM", *home])
    assert bad.exit_code == 2 and "not a quarter" in bad.output and "--quarter" in bad.output  # a usage error
    empty = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2024Q1", "--agency", "RIM", *home])
    assert empty.exit_code == 1 and "No expanded withholding data for RIM in 2024Q1" in empty.output
    nothing = runner.invoke(app, ["bir", "forms", "--quarter", "2030Q1", *home])  # a month-end page of zeros before
    assert nothing.exit_code == 1 and "No month-end data for 2030Q1 in the lake (its periods run from" in nothing.output
    assert not paths.dbfs_to_local("dbfs:/bir/all/2030Q1").exists()
    unknown = runner.invoke(app, ["bir", "dat", "qap", "--quarter", "2026Q3", "--agency", "XYZ", *home])
    assert unknown.exit_code == 1 and "Unknown agency 'XYZ'; the lake has" in unknown.output and \
        "RIM" in unknown.output and "month-end" not in unknown.output
    sawt_run = runner.invoke(app, ["bir", "dat", "sawt", "--quarter", "2026Q3", "--agency", "RIM", "--skip-invalid",
                                   *home])
    assert sawt_run.exit_code == 0, sawt_run.output
    assert next(folder.glob("*1702Q.dat")).read_text().startswith("HSAWT,H1702Q,")
    annual = runner.invoke(app, ["bir", "dat", "1604e", "--year", "2026", "--agency", "RIM", "--skip-invalid", *home])
    assert annual.exit_code == 0, annual.output
    warned = [line for line in annual.output.splitlines() if "The year 2026 ends 31 Dec 2026, after today" in line]
    assert len(warned) == (date.today() <= date(2026, 12, 31))  # a year not over is said to be so, on one line
    assert all(line.startswith("warning: ") and line.endswith("its last month-end has run.") for line in warned)
    assert next(paths.dbfs_to_local("dbfs:/bir/RIM/2026").glob("*1604E.dat")).read_text().startswith("H1604E,")
    final = runner.invoke(app, ["bir", "dat", "1604f", "--year", "2026", "--agency", "RIM", "--classification", "A",
                                "--skip-invalid", *home])
    assert final.exit_code == 0, final.output
    owed = spark.sql("SELECT total_withheld, to_classify FROM gold.remittances WHERE agency = 'RIM' "
                     "AND form = '1601-EQ' AND period = '2026Q3'").first()
    listed = runner.invoke(app, ["bir", "remittances", "--period", "2026Q3", "--agency", "RIM", *home])
    assert listed.exit_code == 0 and f"{owed['total_withheld']:,.2f}" in listed.output, listed.output
    assert "1601-EQ" in listed.output and "0619-E" in listed.output and "03 Nov 2026" in listed.output
    listed_json = runner.invoke(app, ["bir", "remittances", "--period", "2026Q3", "--agency", "RIM", "--output", "json",
                                      *home])
    assert listed_json.exit_code == 0, listed_json.output
    eq = next(r for r in json.loads(listed_json.stdout) if r["form"] == "1601-EQ")
    assert list(eq) == ["agency", "form", "period", "quarter", "classified", "to_classify", "total_withheld",
                        "previously_remitted", "still_due", "due"]  # as before the table was partitioned
    assert Decimal(eq["total_withheld"]) == owed["total_withheld"] and eq["due"] == "2026-11-03"
    sawt_json = runner.invoke(app, ["bir", "dat", "sawt", "--quarter", "2026Q3", "--agency", "RIM", "--skip-invalid",
                                    "--output", "json", *home])
    assert sawt_json.exit_code == 0, sawt_json.output
    dat_file = next(f for f in json.loads(sawt_json.stdout) if f["kind"] == "dat")
    written = paths.dbfs_to_local(dat_file["path"]).read_bytes().decode().split("\r\n")
    assert dat_file["rows"] == len([line for line in written if line.startswith("DSAWT")]) > 0
    cal_json = runner.invoke(app, ["bir", "calendar", "--year", "2026", "--output", "json", *home])
    assert {"form": "1604-E", "period": "2025", "due": "2026-03-02", "statutory_due": "2026-03-01",
            "moved": True} in json.loads(cal_json.stdout)
    total = spark.sql("SELECT SUM(withholding_tax) AS t FROM gold.bir_transactions").first()["t"]
    shown = runner.invoke(app, ["lake", "sql", "SELECT SUM(withholding_tax) AS t FROM gold.bir_transactions", *home])
    assert shown.exit_code == 0 and f"{total:,.2f}" in shown.output and "," in f"{total:,.2f}", shown.output
    # wider than the terminal (80 columns here): a row at a time, every value whole (a table cut each to a letter)
    wide = runner.invoke(app, ["lake", "sql", "SELECT * FROM gold.bir_transactions ORDER BY period DESC, agency "
                                              "LIMIT 2", *home])
    newest = spark.sql("SELECT * FROM gold.bir_transactions ORDER BY period DESC, agency LIMIT 1").first()
    assert wide.exit_code == 0 and "row 1" in wide.output and "row 2" in wide.output, wide.output
    assert f"{newest['withholding_tax']:,.2f}" in wide.output and "…" not in wide.output, wide.output


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


def test_silver_in_period_chunks_and_id_buckets_gives_the_same_gold(tmp_path, monkeypatch):
    """Large lakes build silver lines in groups of periods and deduplicate moves and lines in groups of ids (bounded
    memory); forced here to one period per group and three groups of ids."""
    from odoolake.pipeline import silver

    assert silver.period_chunks(["2026-01", "2026-02", "2026-03"], 0) == [["2026-01", "2026-02", "2026-03"]]
    assert silver.period_chunks(["2026-01", "2026-02", "2026-03"], 3 * silver.LINES_BYTES_PER_CHUNK) == [
        ["2026-01"], ["2026-02"], ["2026-03"]]
    size = silver.MOVES_BYTES_PER_BUCKET
    assert [io.id_buckets(n, size) for n in (0, size, size + 1, 3 * size)] == [1, 1, 2, 3]
    monkeypatch.setattr(silver, "LINES_BYTES_PER_CHUNK", 1)
    written: list[tuple[str, str]] = []
    replace_where = io.replace_where

    def recorded(df, name, predicate, *args):
        written.append((name, predicate))
        replace_where(df, name, predicate, *args)

    monkeypatch.setattr(io, "replace_where", recorded)
    monkeypatch.setattr(io, "id_buckets", lambda _bytes, _per_bucket: 3)
    paths = WorkspacePaths.from_env(tmp_path / "chunked")
    raw = paths.dbfs_to_local(RAW)
    manifest = generate(CFG, raw)
    copy_id = _bill_copied_into_a_later_month(raw, "2026-06", "2026-09-15")
    engine = LocalEngine(paths)
    spark = engine.session()
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    # bronze's check, in groups of ids too, counts every line of the files and every line it rejects
    lines = sum(1 for path in raw.glob("*/*.jsonl") for line in path.read_text().splitlines() if line.strip())
    assert sum(result.bronze.rows.values()) + sum(result.bronze.rejected.values()) == lines
    assert sum(result.bronze.rejected.values()) == CFG.messy.malformed_json_lines + len(manifest.cases["missing_field"])
    for table, column in ((io.SILVER_MOVES, "move_id"), (io.QUARANTINE, "record_id")):
        assert sorted(p.rsplit(" AND ", 1)[-1] for name, p in written if name == table and "pmod" in p) == [
            io.in_bucket(column, bucket, 3) for bucket in range(3)], table
    assert_gold_matches_oracle(spark, raw)
    # the copy sits in another group of periods than its original, and is still found
    assert spark.sql(f"SELECT reason FROM silver.quarantine WHERE stage = 'rules' AND record_id = {copy_id}").first()[
        0] == reasons.DUPLICATE_BILL.code
    repeated = {r[0] for r in spark.sql(f"SELECT record_id FROM silver.quarantine "
                                        f"WHERE reason = '{reasons.DUPLICATE_RECORD.code}'").collect()}
    assert repeated == set(manifest.cases["duplicate_record"])

    # One file (a month's extract) is checked at once, without asking the table's size (an engine call a month).
    month = sorted((raw / "account_move_line").glob("*.jsonl"))[-1]
    with monkeypatch.context() as patched:
        patched.setattr(io, "table_bytes", lambda *_: pytest.fail("one file's check asked for the table's size"))
        checked = bronze._check_new_rows(spark, RAW_BY_NAME["account_move_line"],
                                         [f"{RAW}/account_move_line/{month.name}"])
    assert checked.rows == sum(1 for line in month.read_text().splitlines() if line.strip())
    assert checked.refused == []

    # A full rebuild stopped after the first group of moves loses none: each group replaced only its own rows.
    moves = {r[0] for r in spark.table(io.SILVER_MOVES).select("move_id").collect()}

    def stopped(df, name, predicate, *args):
        if name == io.SILVER_MOVES and predicate.endswith(io.in_bucket("move_id", 1, 3)):
            raise RuntimeError("stopped between two groups")
        replace_where(df, name, predicate, *args)

    monkeypatch.setattr(io, "replace_where", stopped)
    with pytest.raises(RuntimeError, match="stopped between two groups"):
        silver.run(spark, full_refresh=True)
    assert {r[0] for r in spark.table(io.SILVER_MOVES).select("move_id").collect()} == moves
    assert spark.table(io.SILVER_MOVES).count() == len(moves)
    engine.close()


def test_withholding_lines_built_year_by_year_keep_the_running_totals_of_the_oracle(tmp_path, monkeypatch):
    """A chunked full run builds ``silver.ewt_lines`` one year at a time (the running totals start again each year):
    over months of two years, every line's payments to its payee this year equal the independent oracle's."""
    from odoolake.pipeline import silver

    assert silver.years_of(["2025-11", "2025-12", "2026-01"]) == [["2025-11", "2025-12"], ["2026-01"]]
    monkeypatch.setattr(silver, "LINES_BYTES_PER_CHUNK", 1)
    written: list[str] = []
    replace_where = io.replace_where

    def recorded(df, name, predicate, *args):
        if name == io.EWT_LINES:
            written.append(predicate)
        replace_where(df, name, predicate, *args)

    monkeypatch.setattr(io, "replace_where", recorded)
    paths = WorkspacePaths.from_env(tmp_path / "years")
    raw = paths.dbfs_to_local(RAW)
    generate(GenConfig(months=6, end=date(2026, 3, 1), lines=20_000, seed=11), raw)
    engine = LocalEngine(paths)
    spark = engine.session()
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert [sorted({p[:4] for p in re.findall(r"'(\d{4}-\d{2})'", w)}) for w in written] == [["2025"], ["2026"]]
    expected = {ln.line_id: ln.paid for ln in oracle.build(raw).lines if ln.paid is not None}
    got = {r["line_id"]: r["paid_this_year"] for r in
           spark.table(io.EWT_LINES).where("paid_this_year IS NOT NULL").collect()}
    assert expected and got == expected
    assert_gold_matches_oracle(spark, raw)
    engine.close()


def _bill_copied_into_a_later_month(raw: Path, period: str, on: str, batch: str = "odoo-209901",
                                    ref: str | None = None, move_id: int | None = None) -> int:
    """Deliver again in ``batch``, under a new id and dated ``on``, a posted vendor bill of ``period`` with tax lines
    (the same vendor and reference: a duplicate bill, found only by comparing moves of both months; with ``ref``, a
    new bill of the same vendor; with ``move_id``, that bill). Returns the copy's id."""
    def records(model: str) -> list[dict]:
        out = []
        for path in sorted((raw / model).glob("*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # the generator's malformed lines
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("id"), int) and (
                        model != "account_move_line" or isinstance(rec.get("move_id"), list)):
                    out.append(rec)
        return out

    moves, lines = records("account_move"), records("account_move_line")
    taxed = {ln["move_id"][0] for ln in lines if ln.get("tax_line_id")}
    bill = next(m for m in moves if m.get("state") == "posted" and m.get("move_type") == "in_invoice"
                and str(m.get("date", "")).startswith(period) and m.get("ref") and m["id"] in taxed
                and move_id in (None, m["id"]))
    copy_id = max(m["id"] for m in moves) + 1
    next_line = max(ln["id"] for ln in lines) + 1
    copied = [dict(ln, id=next_line + i, move_id=[copy_id, "BILL/COPY"], date=on)
              for i, ln in enumerate(ln for ln in lines if ln["move_id"][0] == bill["id"]
                                     and ln["write_date"] == bill["write_date"])]
    (raw / "account_move" / f"{batch}.jsonl").write_text(json.dumps(
        dict(bill, id=copy_id, name="BILL/COPY", date=on, invoice_date=on, line_ids=[c["id"] for c in copied],
             ref=ref or bill["ref"])) + "\n")
    (raw / "account_move_line" / f"{batch}.jsonl").write_text("".join(json.dumps(c) + "\n" for c in copied))
    return copy_id


def test_late_change_to_an_old_month_rebuilds_that_quarter(lake):
    """A new drop that cancels a bill of an old quarter (Q2) besides nothing else: silver, gold and the forms of that
    quarter are rebuilt and equal the oracle's (which reads every raw file); a run that looked only at the newest
    months' periods or quarters, or read the wrong months of a quarter, leaves Q2 stale."""
    from odoolake.pipeline import forms

    paths, raw, _, _, spark, _ = lake
    bill = spark.sql("SELECT move_id, agency, tax_withheld FROM silver.ewt_lines WHERE period = '2026-05' AND "
                     "regime = 'EWT' AND atc_status = 'ok' AND move_type = 'in_invoice' ORDER BY tax_withheld DESC "
                     "LIMIT 1").first()
    q2_before = spark.sql(f"SELECT SUM(tax_withheld) AS t FROM gold.qap WHERE quarter = '2026Q2' AND regime = 'EWT' "
                          f"AND agency = '{bill['agency']}'").first()["t"]
    cancelled = dict(_latest_raw(raw, "account_move", bill["move_id"]), state="cancel",
                     write_date="2027-01-05 08:00:00")
    (raw / "account_move" / "odoo-202701.jsonl").write_text(json.dumps(cancelled) + "\n")
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert result.bronze.new_batches == ["odoo-202701"]
    assert "2026-05" in result.silver.periods and "2026-05" in result.gold_periods
    assert "2026Q2" in result.form_quarters
    forms.check_in_step(spark)
    truth = oracle.build(raw)
    for regime in ("EWT", "FWT"):
        got = {(r["agency"], r["quarter"], r["payee_key"], r["atc"], r["rate"]): (r["income"], r["tax_withheld"])
               for r in spark.table("gold.qap").where(f"regime = '{regime}'").collect()}
        assert got == truth.qap_rows(regime), regime
    certified = {(r["agency"], r["quarter"], r["payee_key"], r["atc"], r["rate"]): (r["income_total"], r["tax_withheld"])
                 for r in spark.table("gold.form_2307").collect()}
    assert certified == truth.qap_rows("EWT")
    q2_after = spark.sql(f"SELECT SUM(tax_withheld) AS t FROM gold.qap WHERE quarter = '2026Q2' AND regime = 'EWT' "
                         f"AND agency = '{bill['agency']}'").first()["t"]
    assert q2_after < q2_before  # the cancelled bill's tax left the quarter (the oracle comparison says by how much)


def test_dimensions_are_rebuilt_only_when_their_bronze_changed(lake):
    """Partners, taxes and companies are rebuilt whole, but only when their bronze table changed after they were
    built: a run with no partner drop leaves silver.partners at its version; a drop renaming a partner reaches it."""
    paths, raw, _, _, spark, _ = lake

    def versions(table: str) -> int:
        return spark.sql(f"DESCRIBE HISTORY {table}").count()

    before = {t: versions(t) for t in ("silver.partners", "silver.taxes", "silver.companies")}
    month_end.run(spark, RAW, dbfs_lister(paths))  # nothing new
    assert {t: versions(t) for t in before} == before
    pid = spark.sql("SELECT partner_id FROM silver.partners WHERE NOT is_deleted ORDER BY partner_id LIMIT 1").first()[0]
    renamed = dict(_latest_raw(raw, "res_partner", pid), name="Renamed Supplier Inc.", write_date="2027-01-06 08:00:00")
    (raw / "res_partner" / "odoo-202701.jsonl").write_text(json.dumps(renamed) + "\n")
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert spark.sql(f"SELECT partner_name FROM silver.partners WHERE partner_id = {pid}").first()[0] == \
        "Renamed Supplier Inc."
    assert versions("silver.partners") == before["silver.partners"] + 1
    assert versions("silver.taxes") == before["silver.taxes"]


# -- deliveries a later month can bring (each run again on a small lake, against the oracle) ---------------------------

SMALL = GenConfig(months=4, end=date(2026, 10, 1), lines=8_000, seed=11)


@pytest.fixture
def small_lake(tmp_path):
    """A small lake after its first month-end: (paths, raw folder, session)."""
    paths = WorkspacePaths.from_env(tmp_path)
    raw = paths.dbfs_to_local(RAW)
    generate(SMALL, raw)
    with LocalEngine(paths) as engine:
        spark = engine.session()
        month_end.run(spark, RAW, dbfs_lister(paths))
        yield paths, raw, spark


def _latest_raw(raw: Path, model: str, record_id: int) -> dict:
    """The newest delivery of a record in the raw drops (by write_date, then batch), as the extract wrote it."""
    versions = [(str(rec.get("write_date")), path.stem, rec) for path in sorted((raw / model).glob("*.jsonl"))
                for line in path.read_text().splitlines()
                if line.startswith("{") and (rec := _json_or_none(line)) and rec.get("id") == record_id]
    return max(versions, key=lambda found: found[:2])[2]


def _json_or_none(line: str) -> dict | None:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _deliver(raw: Path, model: str, batch: str, records: list[dict]) -> None:
    (raw / model / f"{batch}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _move_reasons(spark, move_id: int) -> list[str]:
    return sorted(r[0] for r in spark.sql(f"SELECT reason FROM silver.quarantine WHERE stage = 'rules' AND "
                                          f"record_id = {move_id} AND model = 'account.move'").collect())


def _original_of(spark, copy_id: int) -> int:
    copy = spark.table("silver.moves").where(f"move_id = {copy_id}").first()
    same = spark.table("silver.moves").where(
        (F.col("ref") == copy["ref"]) & (F.col("partner_id") == copy["partner_id"])
        & (F.col("company_id") == copy["company_id"]) & (F.col("move_id") != copy_id)).collect()
    assert len(same) == 1
    return same[0]["move_id"]


def _cancelled(raw: Path, move_id: int) -> dict:
    return dict(_latest_raw(raw, "account_move", move_id), state="cancel", write_date="2099-01-01 00:00:00")


def test_a_new_month_flags_a_copy_of_an_earlier_bill_and_frees_a_copy_whose_original_is_cancelled(small_lake):
    """A bill repeated in a new month is a duplicate of one in a period the month does not touch; a copy in an
    earlier period is freed when its original, in a later one, is cancelled (the copy's period is rebuilt too)."""
    paths, raw, spark = small_lake
    first = _bill_copied_into_a_later_month(raw, "2026-07", "2026-09-15", batch="odoo-209901")
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert _move_reasons(spark, first) == [reasons.DUPLICATE_BILL.code]
    assert spark.table("silver.ewt_lines").where(f"move_id = {first}").count() == 0
    assert_gold_matches_oracle(spark, raw)

    early = _bill_copied_into_a_later_month(raw, "2026-09", "2026-07-10", batch="odoo-209902")
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert _move_reasons(spark, early) == [reasons.DUPLICATE_BILL.code]
    original = _original_of(spark, early)
    _deliver(raw, "account_move", "odoo-209903", [_cancelled(raw, original)])
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert _move_reasons(spark, original) == [reasons.CANCELLED.code]
    assert _move_reasons(spark, early) == []
    assert spark.table("silver.ewt_lines").where(f"move_id = {early}").count() > 0
    assert_gold_matches_oracle(spark, raw)


def test_a_batch_of_changed_lines_alone_reaches_silver_and_gold(small_lake):
    """Odoo's extract of a month may hold a line whose move did not change: the batch is silver's to process."""
    paths, raw, spark = small_lake
    line = spark.sql("SELECT line_id, balance FROM silver.tax_lines WHERE is_withholding AND _reject IS NULL "
                     "AND period = '2026-08' ORDER BY line_id LIMIT 1").first()
    changed = dict(_latest_raw(raw, "account_move_line", line["line_id"]), write_date="2099-01-01 00:00:00")
    changed["balance"] = round(changed["balance"] * 2, 2)
    _deliver(raw, "account_move_line", "odoo-209901", [changed])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert result.silver.batches == ["odoo-209901"]
    got = spark.sql(f"SELECT balance FROM silver.tax_lines WHERE line_id = {line['line_id']}").first()["balance"]
    assert got == Decimal(str(changed["balance"])) != line["balance"]
    assert_gold_matches_oracle(spark, raw)


def test_a_deleted_move_keeps_its_newest_date_and_one_never_dated_is_left_out(small_lake, monkeypatch):
    """A tombstone takes its date from the newest dated version, whatever order the engine reads them in; a move
    whose tombstone is all that reached bronze has no period, and every path (a new month, a full run, a full run
    in groups of ids) leaves it out instead of failing or writing a row without one."""
    paths, raw, spark = small_lake
    moved = spark.sql("SELECT move_id FROM silver.moves WHERE period = '2026-08' AND state = 'posted' "
                      "ORDER BY move_id LIMIT 1").first()["move_id"]
    redated = dict(_latest_raw(raw, "account_move", moved), date="2026-09-05", write_date="2099-01-01 00:00:00")
    _deliver(raw, "account_move", "odoo-209901", [redated])
    month_end.run(spark, RAW, dbfs_lister(paths))
    never = 990_000_001
    _deliver(raw, "account_move", "odoo-209902", [
        {"id": moved, "_deleted": True, "write_date": "2099-01-02 00:00:00"},
        {"id": never, "_deleted": True, "write_date": "2099-01-02 00:00:00"}])

    def deleted_move() -> tuple:
        row = spark.table("silver.moves").where(f"move_id = {moved}").first()
        assert spark.table("silver.moves").where(f"move_id = {never} OR period IS NULL").count() == 0
        return row["state"], row["period"], str(row["date"])

    month_end.run(spark, RAW, dbfs_lister(paths))
    assert deleted_move() == ("deleted", "2026-09", "2026-09-05")
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert deleted_move() == ("deleted", "2026-09", "2026-09-05")
    monkeypatch.setattr(io, "id_buckets", lambda _bytes, _per_bucket: 3)
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert deleted_move() == ("deleted", "2026-09", "2026-09-05")
    assert _move_reasons(spark, moved) == [reasons.DELETED.code]
    assert_gold_matches_oracle(spark, raw)


def test_a_first_run_stopped_between_two_groups_is_finished_as_a_full_run(tmp_path, monkeypatch):
    """silver's log is written last: while it is missing the next run is a full one, in the same groups, not a new
    month over every batch at once (which would drop the memory bound the groups keep)."""
    from odoolake.pipeline import silver

    paths = WorkspacePaths.from_env(tmp_path)
    raw = paths.dbfs_to_local(RAW)
    generate(SMALL, raw)
    monkeypatch.setattr(io, "id_buckets", lambda _bytes, _per_bucket: 3)
    monkeypatch.setattr(silver, "LINES_BYTES_PER_CHUNK", 1)
    replace_where = io.replace_where
    written: list[str] = []

    def stopping(df, name, predicate, *args):
        if name == io.SILVER_LINES and len([w for w in written if w == io.SILVER_LINES]) == 1:
            raise RuntimeError("stopped between two groups")
        written.append(name)
        replace_where(df, name, predicate, *args)

    with LocalEngine(paths) as engine:
        spark = engine.session()
        monkeypatch.setattr(io, "replace_where", stopping)
        with pytest.raises(RuntimeError, match="stopped between two groups"):
            month_end.run(spark, RAW, dbfs_lister(paths))
        assert not io.table_exists(spark, io.SILVER_LOG)

        def recorded(df, name, predicate, *args):
            written.append(name)
            replace_where(df, name, predicate, *args)
        monkeypatch.setattr(io, "replace_where", recorded)
        written.clear()
        result = month_end.run(spark, RAW, dbfs_lister(paths))
        assert written.count(io.SILVER_MOVES) == 3, "the moves again in their groups of ids"
        assert written.count(io.SILVER_LINES) == len(result.silver.periods) > 1, "the lines again period by period"
        assert_gold_matches_oracle(spark, raw)


def _quarter_forms(spark, quarter: str) -> dict[str, list[tuple]]:
    """Every column but timestamps of the quarter's rows of each form table, sorted."""
    tables = ("gold.form_2307", "gold.qap", "gold.sawt", "gold.slsp")
    out = {}
    for table in tables:
        frame = spark.table(table).where(f"quarter = '{quarter}'")
        columns = sorted(name for name, kind in frame.dtypes if not kind.startswith("timestamp"))
        out[table] = sorted(tuple(repr(r[c]) for c in columns) for r in frame.select(*columns).collect())
    return out


def test_a_payees_new_tin_gives_one_form_row_in_a_quarter_built_before_and_after_it(small_lake):
    """A vendor's TIN changes after October was built, and a bill of November arrives: 2026Q4 is rebuilt from lines
    silver gave the old key (October) and the new one (November). The forms group a payee's lines by its key as it is
    now, as a full rebuild does, not in two rows of one quarter."""
    paths, raw, spark = small_lake
    copy_id = _bill_copied_into_a_later_month(raw, "2026-10", "2026-11-05", ref="NEW/2026/11/0001")
    partner_id = _latest_raw(raw, "account_move", copy_id)["partner_id"][0]
    _deliver(raw, "res_partner", "odoo-209901", [dict(_latest_raw(raw, "res_partner", partner_id),
                                                      vat="987-654-321-00000", write_date="2099-01-01 00:00:00")])
    month_end.run(spark, RAW, dbfs_lister(paths))
    incremental = _quarter_forms(spark, "2026Q4")
    keys = {r[0] for table, key in (("gold.form_2307", "payee_key"), ("gold.qap", "payee_key"),
                                    ("gold.slsp", "counterparty_key"))
            for r in spark.table(table).where("quarter = '2026Q4' AND payee_tin = '987654321'").select(key).collect()}
    assert len(keys) == 1, keys
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == _quarter_forms(spark, "2026Q4")


def test_a_payees_new_tin_carries_the_years_running_total_into_the_months_built_after_it(small_lake):
    """A vendor of a threshold family changes TIN after October was built, and a bill of November arrives. November's
    running total of what the payor paid the payee this year (which picks the expected rate) started again from
    nothing: the earlier months' totals were kept under the old TIN's key. A full rebuild carries the year's total
    under the new TIN, and so must a new month."""
    paths, raw, spark = small_lake
    bill = spark.sql(
        "SELECT e.move_id, e.partner_id FROM silver.ewt_lines e JOIN silver.moves m ON m.move_id = e.move_id "
        "WHERE e.period = '2026-10' AND e.paid_this_year IS NOT NULL AND e.move_type = 'in_invoice' "
        "AND m.state = 'posted' AND m.ref IS NOT NULL ORDER BY e.move_id LIMIT 1").first()
    copy_id = _bill_copied_into_a_later_month(raw, "2026-10", "2026-11-05", ref="NEW/2026/11/0002",
                                              move_id=bill["move_id"])
    _deliver(raw, "res_partner", "odoo-209901", [dict(_latest_raw(raw, "res_partner", bill["partner_id"]),
                                                      vat="987-654-321-00000", write_date="2099-01-01 00:00:00")])
    month_end.run(spark, RAW, dbfs_lister(paths))

    def november() -> list[tuple]:
        return _ewt_lines_of(spark, copy_id, "payee_key", "paid_this_year", "payee_condition", "dq_flags")

    incremental = november()
    copy = spark.table("silver.ewt_lines").where(f"move_id = {copy_id}").first()
    # by hand: the copy's base on top of what the same payor paid the partner in the family earlier this year
    earlier = spark.sql(f"SELECT SUM(base) AS paid FROM silver.ewt_lines WHERE partner_id = {bill['partner_id']} "
                        f"AND agency = '{copy['agency']}' AND family = '{copy['family']}' AND year = 2026 "
                        "AND period < '2026-11' AND paid_this_year IS NOT NULL").first()["paid"]
    assert len(incremental) == 1 and earlier > 0
    assert copy["payee_key"] == "9876543210000" and copy["paid_this_year"] == earlier + copy["base"]
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == november()


def _copy_naming(raw: Path, move_id: int, on: str, batch: str, ref: str, partner: int | None) -> int:
    """A copy of ``move_id`` under a new reference dated ``on``, naming ``partner`` (one silver does not hold), or
    no partner at all, on the move and its lines."""
    copy_id = _bill_copied_into_a_later_month(raw, "2026-10", on, batch=batch, ref=ref, move_id=move_id)
    named = [partner, "Not delivered"] if partner else False
    for model in ("account_move", "account_move_line"):
        path = raw / model / f"{batch}.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for rec in records:
            rec["partner_id"] = named
            if model == "account_move":
                rec["commercial_partner_id"] = named
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return copy_id


@pytest.mark.parametrize("partner", [99_999_999, None], ids=["not_delivered", "none"])
def test_a_payee_silver_holds_no_key_for_carries_its_running_total_as_a_full_rebuild_does(small_lake, partner):
    """Bills naming a partner silver does not hold (or none) had no payee key: a full rebuild's window ran their
    lines together across months, while a new month joined the earlier months' totals by equality, where null
    matches nothing, and started again from nothing (found by a review). Such a partner is now a payee of its own
    (``partner:<id>``), as one without a TIN is, and the earlier months' totals are joined null-safe."""
    paths, raw, spark = small_lake
    bill = spark.sql(
        "SELECT e.move_id FROM silver.ewt_lines e JOIN silver.moves m ON m.move_id = e.move_id "
        "WHERE e.period = '2026-10' AND e.paid_this_year IS NOT NULL AND e.move_type = 'in_invoice' "
        "AND m.state = 'posted' AND m.ref IS NOT NULL ORDER BY e.move_id LIMIT 1").first()["move_id"]
    october = _copy_naming(raw, bill, "2026-10-20", "odoo-209901", "ORPHAN/1", partner)
    month_end.run(spark, RAW, dbfs_lister(paths))
    november = _copy_naming(raw, bill, "2026-11-05", "odoo-209902", "ORPHAN/2", partner)
    month_end.run(spark, RAW, dbfs_lister(paths))

    def lines(move_id: int) -> list[tuple]:
        return _ewt_lines_of(spark, move_id, "payee_key", "paid_this_year", "payee_condition", "base")

    incremental = lines(november)
    assert incremental and {r[1] for r in incremental} == {f"partner:{partner}" if partner else None}
    # by hand: what the payor paid that payee (the same key, or none) in the family in the earlier months, and then
    # November's own base
    line = spark.table("silver.ewt_lines").where(f"move_id = {november}").first()
    key = f"'partner:{partner}'" if partner else "NULL"
    earlier = spark.sql(f"SELECT SUM(base) AS paid FROM silver.ewt_lines WHERE payee_key <=> {key} AND "
                        f"agency = '{line['agency']}' AND family = '{line['family']}' AND year = 2026 AND "
                        f"period < '2026-11' AND paid_this_year IS NOT NULL").first()["paid"]
    assert len(lines(october)) == len(incremental) == 1 and incremental[0][2] == earlier + line["base"] != line["base"]
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == lines(november)


def _ewt_lines_of(spark, move_id: int, *columns: str) -> list[tuple]:
    """A move's withholding lines in silver, by line id: the line id, then ``columns``."""
    rows = spark.table("silver.ewt_lines").where(f"move_id = {move_id}").select("line_id", *columns).collect()
    return sorted(tuple(r) for r in rows)


def _withholding_of(spark, move_id: int) -> list[tuple]:
    return _ewt_lines_of(spark, move_id, "family", "atc", "paid_this_year", "payee_condition", "expected_rate",
                         "dq_flags")


@pytest.mark.parametrize("change", ["atc_given", "atc_of_another_family"])
def test_a_tax_changed_in_odoo_applies_to_every_month_of_its_lines_as_a_full_rebuild_does(small_lake, change):
    """A withholding tax without an ATC is fixed in Odoo as the quarantine asks, or given the ATC of another family,
    after October was built, and a November bill under it arrives. The earlier months kept the tax as it was: their
    lines stayed "to classify" (or in the old family), November's running total started from nothing, and the
    quarter's forms held the tax twice (found by comparing new months with full rebuilds). The months holding the
    tax's lines are now rebuilt, as a full rebuild has them."""
    paths, raw, spark = small_lake
    where = ("e.atc_status = 'to_classify' AND e.regime = 'EWT'" if change == "atc_given"
             else "e.atc = 'WI011' AND e.paid_this_year IS NOT NULL")
    bill = spark.sql(
        "SELECT e.move_id, e.tax_id, e.is_company FROM silver.ewt_lines e JOIN silver.moves m ON m.move_id = e.move_id "
        f"WHERE e.period = '2026-10' AND {where} AND e.move_type = 'in_invoice' AND m.state = 'posted' "
        "AND m.ref IS NOT NULL ORDER BY e.move_id LIMIT 1").first()
    copy_id = _bill_copied_into_a_later_month(raw, "2026-10", "2026-11-05", ref="NEW/2026/11/0003",
                                              move_id=bill["move_id"])
    atc = ("WC010" if bill["is_company"] else "WI010") if change == "atc_given" else "WI515"
    _deliver(raw, "account_tax", "odoo-209901", [dict(_latest_raw(raw, "account_tax", bill["tax_id"]),
                                                      l10n_ph_atc=atc, write_date="2099-01-01 00:00:00")])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert {"2026-10", "2026-11"} <= set(result.silver.periods)
    incremental = _withholding_of(spark, copy_id), _withholding_of(spark, bill["move_id"]), _quarter_forms(
        spark, "2026Q4")
    assert {r[2] for r in incremental[1]} == {atc}
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == (_withholding_of(spark, copy_id), _withholding_of(spark, bill["move_id"]),
                           _quarter_forms(spark, "2026Q4"))


def test_a_tax_of_earlier_months_changed_in_odoo_rebuilds_the_later_months_of_their_year(small_lake):
    """A withholding tax last used before the lake's latest month (a company that moved to a new tax record) is given
    the ATC of another family in Odoo, and nothing else arrives: the months of its lines are rebuilt for the tax, and
    each later month of the year with them, since what a payee was paid earlier in a family (its running total, its
    threshold condition) changes with those months' lines. The year's withholding lines and running totals are then
    those of a full rebuild."""
    paths, raw, spark = small_lake
    last = spark.sql("SELECT max(period) AS p FROM silver.moves").first()["p"]
    tax = spark.sql(
        "WITH used AS (SELECT tax_line_id, min(period) AS since FROM silver.tax_lines GROUP BY tax_line_id "
        "HAVING max(period) < :last) SELECT e.tax_id, e.atc, u.since FROM silver.ewt_lines e JOIN used u "
        "ON u.tax_line_id = e.tax_id WHERE e.paid_this_year IS NOT NULL ORDER BY u.since DESC, e.tax_id LIMIT 1",
        args={"last": last}).first()
    assert tax is not None, "the generated lake has no withholding tax used only before its latest month"
    old = atc.rules_for(tax["atc"])[0]
    other = next(r.atc for r in atc.CATALOG if r.regime == old.regime and r.payee_type == old.payee_type
                 and r.family != old.family and r.in_force(date.fromisoformat(f"{tax['since']}-01")))
    _deliver(raw, "account_tax", "odoo-209901", [dict(_latest_raw(raw, "account_tax", tax["tax_id"]),
                                                      l10n_ph_atc=other, write_date="2099-01-01 00:00:00")])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    known = sorted(r[0] for r in spark.sql("SELECT DISTINCT period FROM silver.moves").collect())
    assert result.silver.periods == [p for p in known if p[:4] == tax["since"][:4] and p >= tax["since"]] != [last]

    def year() -> tuple[list[tuple], list[tuple]]:
        lines = spark.table("silver.ewt_lines").where(f"year = {last[:4]}").select(
            "line_id", "family", "atc", "paid_this_year", "payee_condition", "expected_rate").collect()
        ytd = spark.table("silver.payee_ytd").where(f"year = {last[:4]}").collect()
        return sorted(tuple(r) for r in lines), sorted(tuple(r) for r in ytd)

    incremental = year()
    assert other in {r[2] for r in incremental[0]}
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == year()


@pytest.mark.parametrize("groups", [False, True], ids=["one_group", "in_groups"])
def test_a_company_renamed_in_odoo_reports_every_month_under_its_new_name(small_lake, monkeypatch, groups):
    """A company's name is its agency in every gold table and return: renamed in Odoo, the months built before kept
    the old name beside the new month's, and the running totals of the year started again under the new one. A
    company delivered again with nothing silver takes from it changed (Odoo's lock dates are set on it every month)
    rebuilds no month; one renamed rebuilds every month of its lines, in groups of periods as a full run would."""
    from odoolake.pipeline import silver

    paths, raw, spark = small_lake
    company = spark.sql("SELECT company_id, agency FROM silver.companies ORDER BY company_id LIMIT 1").first()
    record = _latest_raw(raw, "res_company", company["company_id"])
    _deliver(raw, "res_company", "odoo-209900", [dict(record, street="12 Rizal Street", write_date="2099-01-01")])
    assert month_end.run(spark, RAW, dbfs_lister(paths)).silver.periods == []
    made: list[int] = []
    if groups:
        monkeypatch.setattr(silver, "ONE_GROUP_PERIODS", 1)
        monkeypatch.setattr(silver, "LINES_BYTES_PER_CHUNK", 1)
        chunked = silver.period_chunks
        monkeypatch.setattr(silver, "period_chunks", lambda *a: made.append(len(c := chunked(*a))) or c)
    _deliver(raw, "res_company", "odoo-209901", [dict(record, name="RENAMED", write_date="2099-01-02 00:00:00")])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    held = {r[0] for r in spark.sql(f"SELECT DISTINCT period FROM silver.moves WHERE company_id = "
                                    f"{company['company_id']}").collect()}
    assert set(result.silver.periods) == held and len(held) > 1
    assert made == ([len(held)] if groups else [])

    def by_agency() -> list[tuple]:
        return sorted((r["agency"], r["period"], r["withholding_tax"])
                      for r in spark.table("gold.bir_transactions").collect())

    incremental = by_agency()
    assert company["agency"] not in {r[0] for r in incremental} and "RENAMED" in {r[0] for r in incremental}
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == by_agency()


def test_a_company_renamed_in_a_run_stopped_after_the_dimensions_reaches_its_earlier_months(small_lake, monkeypatch):
    """silver rebuilds the dimensions first and writes its log last: a run stopped between them left the new name
    in silver.companies, and the next run, comparing with it, saw no rename (found by a review). The earlier values
    now come from bronze without the batches being processed."""
    paths, raw, spark = small_lake
    company = spark.sql("SELECT company_id FROM silver.companies ORDER BY company_id LIMIT 1").first()
    _deliver(raw, "res_company", "odoo-209901", [dict(_latest_raw(raw, "res_company", company["company_id"]),
                                                      name="RENAMED", write_date="2099-01-01 00:00:00")])
    replace_where = io.replace_where

    def stopping(df, name, *args, **kwargs):
        if name == io.SILVER_LINES:
            raise RuntimeError("stopped")
        return replace_where(df, name, *args, **kwargs)
    monkeypatch.setattr(io, "replace_where", stopping)
    with pytest.raises(RuntimeError, match="stopped"):
        month_end.run(spark, RAW, dbfs_lister(paths))
    monkeypatch.setattr(io, "replace_where", replace_where)
    month_end.run(spark, RAW, dbfs_lister(paths))

    def by_agency() -> list[tuple]:
        return sorted((r["agency"], r["period"], r["withholding_tax"])
                      for r in spark.table("gold.bir_transactions").collect())

    incremental = by_agency()
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == by_agency()


def test_a_batch_taken_again_does_not_rebuild_a_rename_it_already_applied(small_lake):
    """A batch with a company's rename and a bill's lines, its moves file arriving at a later month-end (the
    extractor commits companies and lines before moves): the second run compared the company with bronze without the
    whole batch, saw the rename again and rebuilt every month of the company once more (found by a review). Only the
    rows silver has not processed are left out now."""
    paths, raw, spark = small_lake
    billed = spark.sql("SELECT m.move_id, m.company_id FROM silver.moves m JOIN silver.ewt_lines e "
                       "ON e.move_id = m.move_id WHERE m.period = '2026-09' AND m.state = 'posted' "
                       "ORDER BY m.move_id LIMIT 1").first()
    move = _latest_raw(raw, "account_move", billed["move_id"])
    new_id, when = 990_000_100, "2099-01-01 00:00:00"
    lines = [dict(_latest_raw(raw, "account_move_line", line_id), id=990_000_200 + n, move_id=[new_id, "BILL/NEW"],
                  write_date=when) for n, line_id in enumerate(move["line_ids"])]
    _deliver(raw, "res_company", "odoo-209901", [dict(_latest_raw(raw, "res_company", billed["company_id"]),
                                                      name="RENAMED", write_date=when)])
    _deliver(raw, "account_move_line", "odoo-209901", lines)
    first = month_end.run(spark, RAW, dbfs_lister(paths))
    assert min(first.silver.periods) < "2026-09"  # the rename rebuilt the company's earlier months
    _deliver(raw, "account_move", "odoo-209901", [dict(move, id=new_id, name="BILL/NEW", ref="NEW-REF-1",
                                                       write_date=when, line_ids=[ln["id"] for ln in lines])])
    second = month_end.run(spark, RAW, dbfs_lister(paths))
    # September and the later months of its year, for the running totals; not the company's earlier months again
    assert second.silver.batches == ["odoo-209901"] and min(second.silver.periods) == "2026-09"


def test_a_company_delivered_after_its_moves_gets_its_months_rebuilt(small_lake):
    """A bill of a company silver did not hold yet is conformed without an agency; when the company is delivered,
    the months of its moves are rebuilt under it, as a full rebuild has them."""
    paths, raw, spark = small_lake
    record = _latest_raw(raw, "res_company", spark.table("silver.companies").first()["company_id"])
    copy_id = _bill_copied_into_a_later_month(raw, "2026-10", "2026-10-25", ref="NEWCO/1")
    for model in ("account_move", "account_move_line"):
        path = raw / model / "odoo-209901.jsonl"
        path.write_text("".join(json.dumps(dict(json.loads(line), company_id=[77, "NEWCO"])) + "\n"
                                for line in path.read_text().splitlines()))
    month_end.run(spark, RAW, dbfs_lister(paths))
    _deliver(raw, "res_company", "odoo-209902", [dict(record, id=77, name="NEWCO", write_date="2099-01-02 00:00:00")])
    assert "2026-10" in month_end.run(spark, RAW, dbfs_lister(paths)).silver.periods

    def newco() -> list[tuple]:
        return sorted((r["agency"], r["period"], r["withholding_tax"])
                      for r in spark.table("gold.bir_transactions").where("agency = 'NEWCO'").collect())

    incremental = newco()
    assert incremental and {r[0] for r in spark.table("silver.tax_lines").where(f"move_id = {copy_id}")
                            .select("agency").collect()} == {"NEWCO"}
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == newco()


def test_running_totals_an_earlier_version_kept_by_payee_alone_rebuild_silver_whole(small_lake):
    """An earlier version kept ``silver.payee_ytd`` by payee only, so a new month could not carry a partner's total
    to a new TIN: such a lake is rebuilt from bronze on the next run, not read with a column missing."""
    paths, raw, spark = small_lake
    old = spark.table("silver.payee_ytd").groupBy("period", "agency", "payee_key", "year", "family").agg(
        F.sum("base").alias("base"))
    old.write.format("delta").mode("overwrite").option("overwriteSchema", "true").saveAsTable("silver.payee_ytd")
    assert "partner_id" not in spark.table("silver.payee_ytd").columns
    batches = {r[0] for r in spark.table("silver.batch_log").select("batch_id").collect()}
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert set(result.silver.batches) == batches
    assert "partner_id" in spark.table("silver.payee_ytd").columns
    assert_gold_matches_oracle(spark, raw)


def test_a_batch_whose_moves_reach_bronze_after_its_lines_is_taken_again_down_to_the_forms(small_lake):
    """The extractor commits a batch's lines before its moves and an ingest lists moves first, so a month-end can
    ingest a batch's lines alone. Silver processed that batch (nothing to do yet) and logged it, and when its moves
    came the batch was never taken again: the new bill reached bronze and nothing after it. Now a batch with rows
    appended after silver processed it is processed again, and gold and the forms take it again after silver."""
    paths, raw, spark = small_lake
    billed = spark.sql("SELECT m.move_id FROM silver.moves m JOIN silver.ewt_lines e ON e.move_id = m.move_id "
                       "WHERE m.period = '2026-09' AND m.state = 'posted' ORDER BY m.move_id LIMIT 1").first()
    move = _latest_raw(raw, "account_move", billed["move_id"])
    new_id, when = 990_000_100, "2099-01-01 00:00:00"
    lines = [dict(_latest_raw(raw, "account_move_line", line_id), id=990_000_200 + n, move_id=[new_id, "BILL/NEW"],
                  write_date=when) for n, line_id in enumerate(move["line_ids"])]
    _deliver(raw, "account_move_line", "odoo-209901", lines)  # the lines file lands first
    first = month_end.run(spark, RAW, dbfs_lister(paths))
    assert first.silver.batches == ["odoo-209901"]
    _deliver(raw, "account_move", "odoo-209901", [dict(move, id=new_id, name="BILL/NEW", ref="NEW-REF-1",
                                                       write_date=when, line_ids=[ln["id"] for ln in lines])])
    second = month_end.run(spark, RAW, dbfs_lister(paths))
    assert second.silver.batches == ["odoo-209901"] and "2026-09" in second.silver.periods
    assert spark.table("silver.ewt_lines").where(f"move_id = {new_id}").count() > 0
    assert_gold_matches_oracle(spark, raw)
    incremental = _quarter_forms(spark, "2026Q3")
    assert month_end.run(spark, RAW, dbfs_lister(paths)).silver.batches == []  # taken once, not on every run
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == _quarter_forms(spark, "2026Q3")


def test_a_copy_stays_a_duplicate_when_its_period_is_rebuilt_for_another_reason(small_lake):
    """A July bill copied into September is flagged DUPLICATE_BILL. A later batch changing one line of another
    September move rebuilt September without July, where the original is: the duplicate check saw only the rebuilt
    periods' moves, so the copy lost its flag and its withholding was counted twice (the ordinary next month-end
    did the same through its later months of the year; found by an incremental-against-full comparison)."""
    paths, raw, spark = small_lake
    copy_id = _bill_copied_into_a_later_month(raw, "2026-07", "2026-09-15", batch="odoo-209900")
    # a September bill again, dated in August under a later id: the later copy, in a month not rebuilt below
    late_copy = _bill_copied_into_a_later_month(raw, "2026-09", "2026-08-20", batch="odoo-209901")
    month_end.run(spark, RAW, dbfs_lister(paths))
    assert _move_reasons(spark, copy_id) == _move_reasons(spark, late_copy) == [reasons.DUPLICATE_BILL.code]
    other = spark.sql(f"SELECT line_id FROM silver.tax_lines WHERE period = '2026-09' AND move_id NOT IN "
                      f"({copy_id}, {_original_of(spark, late_copy)}) AND _reject IS NULL ORDER BY line_id LIMIT 1"
                      ).first()["line_id"]
    changed = dict(_latest_raw(raw, "account_move_line", other), write_date="2099-01-02 00:00:00")
    changed["balance"] = round(changed["balance"] * 2, 2)
    _deliver(raw, "account_move_line", "odoo-209902", [changed])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert "2026-09" in result.silver.periods and not {"2026-07", "2026-08"} & set(result.silver.periods)
    assert _move_reasons(spark, copy_id) == _move_reasons(spark, late_copy) == [reasons.DUPLICATE_BILL.code]
    assert spark.table("silver.ewt_lines").where(f"move_id = {copy_id}").count() == 0
    assert_gold_matches_oracle(spark, raw)
    incremental = _quarter_forms(spark, "2026Q3")
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == _quarter_forms(spark, "2026Q3")


def test_an_exchange_rate_moved_to_a_later_date_stops_converting_the_months_it_left(small_lake):
    """A USD rate dated 1 July, then corrected to 1 September: July's dollar lines kept the July conversion, since
    only the new version's date said which months to convert again (a full rebuild has them without a rate)."""
    paths, raw, spark = small_lake
    rate = {"id": 990000001, "name": "2026-07-01", "currency_id": [2, "USD"], "company_id": [1, "RIM"],
            "rate": round(1 / 56.0, 12), "inverse_company_rate": 56.0, "write_date": "2099-01-01 00:00:00"}
    (raw / "res_currency_rate").mkdir(exist_ok=True)
    _deliver(raw, "res_currency_rate", "odoo-209901", [rate])
    month_end.run(spark, RAW, dbfs_lister(paths))
    converted = spark.sql("SELECT COUNT(*) AS n FROM silver.tax_lines WHERE period = '2026-07' "
                          "AND php_source = 'reference_rate'").first()["n"]
    assert converted > 0, "the generated July holds dollar lines only the reference rate converts"
    _deliver(raw, "res_currency_rate", "odoo-209902", [dict(rate, name="2026-09-01", write_date="2099-01-02 00:00:00")])
    result = month_end.run(spark, RAW, dbfs_lister(paths))
    assert "2026-07" in result.silver.periods
    assert spark.sql("SELECT COUNT(*) AS n FROM silver.tax_lines WHERE period = '2026-07' "
                     "AND php_source = 'reference_rate'").first()["n"] == 0
    incremental = _quarter_forms(spark, "2026Q3")
    month_end.run(spark, RAW, dbfs_lister(paths), full_refresh=True)
    assert incremental == _quarter_forms(spark, "2026Q3")
