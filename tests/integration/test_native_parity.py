"""The native bronze path (DuckDB parses, delta-rs appends) against the PySpark path, row for row.

The same raw files (generated data with every messy case the generator makes, plus hand-written lines for the
shapes Odoo and broken extracts send) are ingested twice on one engine: with ``ODOOLAKE_NATIVE_STEPS=off`` (the
PySpark path, what runs on Databricks and JVM Spark) and with the native path. Every bronze table and the ingest quarantine
must hold the same rows, as multisets; only ``_ingested_at`` (the time of the write) may differ. (One divergence is
known and documented in ``native``: an object repeating a key, which no Odoo extract holds.)"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from odoolake.bir import reasons
from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.pipeline import bronze, io, native
from odoolake.pipeline.schemas import RAW_MODELS
from odoolake.workspace.engine import LocalEngine

RAW = "dbfs:/raw/odoo"
CFG = GenConfig(months=3, end=date(2026, 3, 1), lines=6_000, seed=11)
W = '"write_date": "2026-03-02 08:00:00"'
# Shapes a real extract can hold, one line each; every one must come out of both paths alike.
EDGE_LINES = [
    '{"id": 990000001, "move_id": [5, "BILL/1"], "name": false, "partner_id": false, "tax_ids": [], '
    f'"tax_line_id": false, "balance": 12.5, "currency_id": false, {W}}}',
    f'{{"id": 990000002, "move_id": [5, "BILL/1"], "name": {{"en_US": "Fee", "fil_PH": "Bayad"}}, "balance": 1, {W}}}',
    f'{{"id": 990000003, "move_id": [5, "BILL/1"], "name": 123, "date": 20260101, "balance": -0.0, {W}}}',
    f'{{"id": 990000004, "move_id": [5, "BILL/1"], "name": "\\u00d1o\\u00f1o \\"q\\" \\\\ \\t end", "balance": 1e2, {W}}}',
    f'{{"id": 990000005, "move_id": [5, "BILL/1"], "name": "日本 — ñ", "balance": 1.7976931348623157e308, {W}}}',
    f'{{"id": 990000006, "move_id": [5, "BILL/1"], "balance": "12.5", {W}}}',
    f'{{"id": "990000007", "move_id": [5, "BILL/1"], "balance": 3.25, {W}}}',
    f'{{"id": 990000008.0, "move_id": [5, "BILL/1"], "balance": 3.25, {W}}}',
    f'{{"id": 990000009, "move_id": 5, "balance": 3.25, "tax_ids": ["3", 4], {W}}}',
    f'{{"id": 990000010, "move_id": [5, "BILL/1"], "balance": 3.25, "_deleted": "true", "tax_ids": [1.5], {W}}}',
    f'{{"id": 990000011, "move_id": [5, "BILL/1"], "balance": 3.25, "_deleted": 1, "unknown": {{"a": [1]}}, {W}}}',
    f'{{"id": 990000012, "move_id": [5, null], "balance": null, {W}}}',
    '{"id": 990000013, "move_id": null, "balance": 2.0, "write_date": null}',
    '{"id": 990000014, "write_date": "2026-03-02 08:00:00"}',
    f'   {{"id": 990000015, "move_id": [5, "BILL/1"], "balance": 0.1, {W}}}   ',
    f'{{"id": 990000016, "move_id": [5, "BILL/1"], "balance": 0.30000000000000004, "debit": true, {W}}}',
    '{"id": 990000017, "move_id": [5, "BILL/1", 7], "balance": 5, "write_date": "2026-03-02 08:00:00.123"}',
    '{"id": 990000018, "move_id": [5, "BI',
    '[1, 2, 3]',
    '42',
    '"text"',
    'null',
    '{}',
    '{"id": 990000019,}',
    f'{{"id": 990000020, "move_id": [5, "BILL/1", ], "balance": 1, {W}}}',
    f'{{"id": 990000021, "move_id": [5, "BILL/1"], "balance": NaN, {W}}}',
    f'{{"id": 990000022, "move_id": [5, "BILL/1"], "balance": -Infinity, {W}}}',
    f'{{"id": 990000023, "move_id": [5, "BILL/1"], "balance": 1e400, {W}}}',
    f'{{"id": 990000024, "move_id": [5, "BILL/1"], "name": "NaN Infinity, ]", "balance": 1, {W}}}',
    f'{{"id": 990000029, "move_id": [5, "BILL/1"], "name": {{"en_US": "Infinity"}}, "balance": 2.5e1, {W}}}',
    f'{{"id": 990000025, "move_id": [5, "BILL/1"], "name": "\\ud800", "balance": 1, {W}}}',
    f'{{"id": 990000026, "move_id": [5, "BILL/1"], "name": "tab\tinside", "balance": 1, {W}}}',
    f'{{"id": 990000027, "move_id": [5, "BILL/1"], "name": "a, }} b", "balance": 1, {W}}}',
    f'{{"id": 9223372036854775808, "move_id": [5, "BILL/1"], "balance": 1, {W}}}',
    f'{{"id": 990000028, "move_id": [5, "BILL/1"], "balance": 12345678901234567890, {W}}}',
    '   ',
    '\t',
]


RATE_EDGE_LINES = [f'{{"id": 990000101, "_deleted": true, {W}}}', f'{{"id": 990000102, {W}}}',
                   f'{{"id": 990000103, "_deleted": false, {W}}}']


def _rows(spark, table: str) -> Counter:
    frame = spark.table(table)
    columns = sorted(c for c in frame.columns if c != "_ingested_at")
    return Counter(tuple((c, repr(row[c])) for c in columns) for row in frame.select(*columns).collect())


def _snapshot(spark) -> dict[str, Counter]:
    tables = [m.bronze_table for m in RAW_MODELS] + [io.QUARANTINE]
    return {t: _rows(spark, t) for t in tables if io.table_exists(spark, t)}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    paths = WorkspacePaths.from_env(tmp_path_factory.mktemp("parity"))
    raw = paths.dbfs_to_local(RAW)
    generate(CFG, raw)
    lines = raw / "account_move_line"
    first = sorted(lines.glob("*.jsonl"))[0]
    (lines / "odoo-edge.jsonl").write_text(first.read_text() + "\n".join(EDGE_LINES) + "\n")
    rates = raw / "res_currency_rate"  # a deleted rate's tombstone carries no date or currency: kept, not rejected
    rates.mkdir(exist_ok=True)
    (rates / "odoo-edge.jsonl").write_text("\n".join(RATE_EDGE_LINES) + "\n")
    crlf = sorted((raw / "res_partner").glob("*.jsonl"))[0]
    (raw / "res_partner" / "odoo-crlf.jsonl").write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))
    # a file whose second half ends its lines with CRLF (two files joined): DuckDB's reader cannot read it, so the
    # engine appends the model's files, as the PySpark path does
    taxes = sorted((raw / "account_tax").glob("*.jsonl"))[0].read_bytes().splitlines(keepends=True)
    half = len(taxes) // 2
    (raw / "account_tax" / "odoo-mixed.jsonl").write_bytes(b"".join(taxes[:half]) + b"".join(
        line.replace(b"\n", b"\r\n") for line in taxes[half:]))
    with LocalEngine(paths) as engine, pytest.MonkeyPatch.context() as mp:
        spark = engine.session()
        assert native.enabled(spark) is None, "off unless asked for"
        mp.setenv(native.NATIVE_ENV, "on")
        assert native.enabled(spark) is not None, "the owner's session on the local engine takes the native path"
        mp.setenv(native.NATIVE_ENV, "off")
        assert native.enabled(spark) is None
        by_pyspark = bronze.ingest(spark, RAW, dbfs_lister(paths))
        pyspark_rows = _snapshot(spark)
        io.drop_tables(spark, [io.QUARANTINE])
        for model in RAW_MODELS:
            spark.sql(f"DROP TABLE IF EXISTS {model.bronze_table}")
        mp.setenv(native.NATIVE_ENV, "on")
        by_native = bronze.ingest(spark, RAW, dbfs_lister(paths))
        native_rows = _snapshot(spark)
        native_types = {m.bronze_table: spark.table(m.bronze_table).dtypes for m in RAW_MODELS
                        if io.table_exists(spark, m.bronze_table)}
        spark.sql(f"DROP TABLE {RAW_MODELS[0].bronze_table}")
        mp.setenv(native.NATIVE_ENV, "off")
        bronze.ingest(spark, RAW, dbfs_lister(paths), models=[RAW_MODELS[0]])
        pyspark_types = {RAW_MODELS[0].bronze_table: spark.table(RAW_MODELS[0].bronze_table).dtypes}
        yield by_pyspark, by_native, pyspark_rows, native_rows, native_types, pyspark_types


def test_every_bronze_table_and_the_quarantine_are_identical_row_for_row(both):
    by_pyspark, by_native, pyspark_rows, native_rows, _, _ = both
    assert set(native_rows) == set(pyspark_rows)
    for table, rows in pyspark_rows.items():
        only_pyspark, only_native = rows - native_rows[table], native_rows[table] - rows
        assert not only_pyspark and not only_native, "\n".join(
            [table, *(f"only PySpark: {dict(k)}" for k in list(only_pyspark)[:20]),
             *(f"only native:  {dict(k)}" for k in list(only_native)[:20])])
    assert (by_native.rows, by_native.rejected, by_native.new_batches) == \
        (by_pyspark.rows, by_pyspark.rejected, by_pyspark.new_batches)
    assert by_pyspark.engine_appended == {}
    assert list(by_native.engine_appended) == ["account_tax"], "every other model went the native way"
    assert "CSV" in by_native.engine_appended["account_tax"]


def test_the_edge_lines_reach_bronze_with_their_verdicts(both):
    """The comparison covers what it claims: the hand-written lines are in bronze, rejected or not as they should."""
    _, by_native, _, native_rows, _, _ = both
    lines = [dict(key) for key in native_rows[io.QUARANTINE].elements()
             if dict(key)["model"] == repr("account.move.line")]
    seen = Counter(row["reason"] for row in lines)
    assert seen[repr(reasons.MALFORMED_JSON.code)] >= 8 + CFG.messy.malformed_json_lines
    assert seen[repr(reasons.MISSING_FIELD.code)] >= 3
    assert by_native.rejected["account_move_line"] == len(lines)
    rates = {dict(key)["id"]: dict(key)["_reject"] for key in native_rows["bronze.odoo_res_currency_rate"].elements()
             if dict(key)["id"] in ("990000101", "990000102", "990000103")}
    assert rates == {"990000101": "None", "990000102": repr(reasons.MISSING_FIELD.code),
                     "990000103": repr(reasons.MISSING_FIELD.code)}


def test_the_native_tables_have_the_pyspark_schema(both):
    *_, native_types, pyspark_types = both
    for table, dtypes in pyspark_types.items():
        assert native_types[table] == dtypes
