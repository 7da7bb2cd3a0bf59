"""The native new-month prototype's plumbing (bench/native_month.py): which periods, quarters and files a new month's
gold and forms read and write, and tables kept open between calls. docs/performance.md's twelfth pass rests on it."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import native_month


def test_a_new_month_rewrites_the_quarters_of_its_periods_and_reads_all_their_months() -> None:
    scope = native_month._month_scope(["2026-03", "2026-04"], ["odoo-202604"])
    assert scope["quarters"] == "quarter IN ('2026Q1', '2026Q2')"
    assert scope["month_list"] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert scope["periods"] == "period IN ('2026-03', '2026-04')"
    assert scope["batches"] == "batch_id IN ('odoo-202604')"
    december = native_month._month_scope(["2026-12"], ["b"])
    assert december["quarters"] == "quarter IN ('2026Q4')"
    assert december["month_list"] == ["2026-10", "2026-11", "2026-12"]


def _lines(path: Path, periods: list[str], mode: str = "overwrite") -> None:
    rows = pa.table({"line_id": pa.array(range(len(periods)), pa.int64()), "period": pa.array(periods)})
    write_deltalake(str(path), rows, mode=mode, partition_by=["period"])


def test_a_scan_reads_only_the_periods_asked_for_and_the_partition_as_text(tmp_path: Path) -> None:
    table = tmp_path / "ewt_lines"
    _lines(table, ["2026-09", "2026-10", "2026-10", "2026-11"])
    con = native_month.connect()
    native_month.scan_delta(con, "late", table, "parquet", ["2026-10", "2026-11"])
    native_month.scan_delta(con, "every", table, "parquet")
    assert con.execute("SELECT period, count(*) FROM late GROUP BY ALL ORDER BY 1").fetchall() == [
        ("2026-10", 2), ("2026-11", 1)]
    assert con.execute("SELECT count(*) FROM every").fetchone() == (4,)
    assert con.execute("SELECT typeof(period) FROM every LIMIT 1").fetchone() == ("VARCHAR",)


def test_an_open_table_sees_what_was_written_after_it_was_opened(tmp_path: Path) -> None:
    table = tmp_path / "batch_log"
    _lines(table, ["2026-10"])
    first = native_month.delta_table(table)
    _lines(table, ["2026-11"], mode="append")
    assert native_month.delta_table(table) is first
    assert first.version() == 1
    con = native_month.connect()
    native_month.scan_delta(con, "log", table, "parquet")
    assert con.execute("SELECT count(*) FROM log").fetchone() == (2,)


def test_rows_written_keep_the_table_schema_and_replace_only_what_the_predicate_selects(tmp_path: Path) -> None:
    table = tmp_path / "moves"
    write_deltalake(str(table), pa.table({"move_id": pa.array([1, 2], pa.int64()), "note": ["a", "b"],
                                          "period": ["2026-10", "2026-11"]}), partition_by=["period"])
    con = native_month.connect()
    native_month.write_rows(con, table, "SELECT 3 AS move_id, '2026-11' AS period", "period IN ('2026-11')")
    native_month.scan_delta(con, "moves", table, "parquet")
    assert con.execute("SELECT move_id, note, period FROM moves ORDER BY 1").fetchall() == [
        (1, "a", "2026-10"), (3, None, "2026-11")]


# -- the stages' checks answered from the Delta logs (docs/performance.md's fifteenth pass) ----------------------------


@pytest.fixture(autouse=True)
def _tables_closed() -> Iterator[None]:
    """Each test opens its own tables: none stays open in ``native_month``'s cache after it."""
    yield
    native_month._OPEN.clear()

def test_a_layout_read_from_the_log_names_each_type_as_spark_does(tmp_path: Path) -> None:
    table = tmp_path / "t"
    rows = pa.table({
        "id": pa.array([1], pa.int64()), "n": pa.array([1], pa.int32()),
        "amount": pa.array([1], pa.decimal128(18, 2)), "day": pa.array([0], pa.date32()),
        "at": pa.array([0], pa.timestamp("us", tz="UTC")), "ok": [True], "tags": pa.array([["a"]]),
        "pair": pa.array([{"a": "x", "b": 1}], pa.struct([("a", pa.string()), ("b", pa.int64())]))})
    write_deltalake(str(table), rows)
    assert native_month.delta_layout(table) == [
        ("id", "bigint"), ("n", "int"), ("amount", "decimal(18,2)"), ("day", "date"), ("at", "timestamp"),
        ("ok", "boolean"), ("tags", "array<string>"), ("pair", "struct<a:string,b:bigint>")]


def _table(warehouse: Path, name: str, rows: pa.Table, partition_by: list[str] | None = None) -> None:
    schema, _, table = name.partition(".")
    write_deltalake(str(warehouse / schema / table), rows, mode="overwrite", partition_by=partition_by)


def _one(column: str = "id") -> pa.Table:
    return pa.table({column: pa.array([1], pa.int64())})


def _committed_after(warehouse: Path, later: str, earlier: str) -> None:
    """Write ``later`` again until its commit time is past ``earlier``'s (commit times are in milliseconds)."""
    while native_month._committed_at(warehouse, later) <= native_month._committed_at(warehouse, earlier):  # type: ignore[operator]
        _table(warehouse, later, _one())


def _silver_lake(warehouse: Path) -> dict[str, list[tuple[str, str]]]:
    """Bronze dimensions, then silver's dimensions built after them; the layouts their build writes."""
    from odoolake.pipeline import silver

    for schema in ("bronze", "silver", "gold"):
        (warehouse / schema).mkdir(parents=True, exist_ok=True)
    for raw, table, _ in silver.DIMENSIONS:
        _table(warehouse, raw.bronze_table, _one())
        _table(warehouse, table, _one())
        _committed_after(warehouse, table, raw.bronze_table)
    return {table: [("id", "bigint")] for _, table, _ in silver.DIMENSIONS}


def test_native_silver_checks_pass_a_lake_whose_dimensions_are_newer_than_their_bronze(tmp_path: Path) -> None:
    layouts = _silver_lake(tmp_path)
    assert native_month.native_checks(tmp_path, "silver", layouts) == []


def test_native_silver_checks_refuse_a_dimension_received_again_since_it_was_built(tmp_path: Path) -> None:
    layouts = _silver_lake(tmp_path)
    _committed_after(tmp_path, "bronze.odoo_res_partner", "silver.partners")
    with pytest.raises(RuntimeError, match=re.escape("['silver.partners'] would be rebuilt whole")):
        native_month.native_checks(tmp_path, "silver", layouts)


def test_native_silver_checks_refuse_a_dimension_of_another_layout_or_an_outdated_table(tmp_path: Path) -> None:
    layouts = _silver_lake(tmp_path)
    layouts["silver.taxes"] = [("id", "bigint"), ("rate", "decimal(18,4)")]
    _table(tmp_path, "silver.move_lines", pa.table({"balance": pa.array([1.0], pa.float64())}))  # DOUBLE, not MONEY
    with pytest.raises(RuntimeError, match=re.escape("['silver.move_lines', 'silver.taxes'] would be rebuilt whole")):
        native_month.native_checks(tmp_path, "silver", layouts)


def _logs(warehouse: Path) -> None:
    _table(warehouse, "silver.batch_log", pa.table({"batch_id": ["b1", "b2", "b3"],
                                                   "periods": ["2026-01", "2026-03,2026-04", None]}))
    _table(warehouse, "gold.batch_log", pa.table({"batch_id": ["b1"]}))


def test_native_gold_checks_name_the_periods_of_the_batches_gold_has_not_seen(tmp_path: Path) -> None:
    (tmp_path / "bronze").mkdir()
    _logs(tmp_path)
    assert native_month.native_checks(tmp_path, "gold", {}) == ["2026-03", "2026-04"]


_ARROW = {"decimal(18,2)": pa.decimal128(18, 2), "string": pa.string(), "boolean": pa.bool_()}


def _form_rows(name: str) -> pa.Table:
    """A row of form table ``name`` holding the columns of the forms' current layout, and its quarter."""
    from odoolake.pipeline import forms

    columns = {column: pa.nulls(1, _ARROW[kind]) for column, kind in forms.LAYOUT[name].items()}
    return pa.table({**columns, "quarter": ["2026Q1"]})


def _forms_lake(warehouse: Path) -> None:
    from odoolake.pipeline import forms

    (warehouse / "bronze").mkdir(parents=True)
    _logs(warehouse)
    _table(warehouse, "gold.batch_log", pa.table({"batch_id": ["b1", "b2"]}))
    for name in forms.QUARTER_TABLES:
        _table(warehouse, name, _form_rows(name), partition_by=["quarter"])
    _table(warehouse, forms.FORMS_LOG, pa.table({"batch_id": ["b1"]}))


def test_native_forms_checks_name_the_quarters_of_the_gold_batches_the_forms_have_not_seen(tmp_path: Path) -> None:
    _forms_lake(tmp_path)
    assert native_month.native_checks(tmp_path, "forms", {}) == ["2026Q1", "2026Q2"]


def test_native_forms_checks_refuse_a_form_table_not_partitioned_by_quarter(tmp_path: Path) -> None:
    _forms_lake(tmp_path)
    shutil.rmtree(tmp_path / "gold/sawt")  # written again unpartitioned, as an earlier version wrote it
    _table(tmp_path, "gold.sawt", _form_rows("gold.sawt"))
    with pytest.raises(RuntimeError, match=re.escape("['gold.sawt'] would be rebuilt whole")):
        native_month.native_checks(tmp_path, "forms", {})
