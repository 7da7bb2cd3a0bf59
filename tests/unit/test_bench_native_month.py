"""The native new-month prototype's plumbing (bench/native_month.py): which periods, quarters and files a new month's
gold and forms read and write, and tables kept open between calls. docs/performance.md's twelfth pass rests on it."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
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
    native_month._OPEN.clear()


def test_rows_written_keep_the_table_schema_and_replace_only_what_the_predicate_selects(tmp_path: Path) -> None:
    table = tmp_path / "moves"
    write_deltalake(str(table), pa.table({"move_id": pa.array([1, 2], pa.int64()), "note": ["a", "b"],
                                          "period": ["2026-10", "2026-11"]}), partition_by=["period"])
    con = native_month.connect()
    native_month.write_rows(con, table, "SELECT 3 AS move_id, '2026-11' AS period", "period IN ('2026-11')")
    native_month.scan_delta(con, "moves", table, "parquet")
    assert con.execute("SELECT move_id, note, period FROM moves ORDER BY 1").fetchall() == [
        (1, "a", "2026-10"), (3, None, "2026-11")]
    native_month._OPEN.clear()
