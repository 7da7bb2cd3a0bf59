"""One new month's silver two ways, on copies of the same lake: the pipeline's ``silver.run`` on the embedded engine,
and a prototype of a native path for it (DuckDB scans the Delta tables through delta-rs, runs the new month's silver in
SQL, delta-rs writes each table with a predicate, as ``replaceWhere`` does). Issue 20's last untried design for "one
new month <= 10% of a full run at 1M": it measures what the design would cost, it is not a build.

    python bench/native_month.py setup --size 1000000       # the lake after a full run, then the new month's bronze
    python bench/native_month.py compare --rounds 5          # engine and native silver, interleaved
    python bench/native_month.py compare --kinds engine,native,native-warm   # ... and native as a warm host runs it
    python bench/native_month.py setup --moves 20 --snapshot bench/.data/native_month/tiny   # a month of 20 moves
    python bench/native_month.py statements                 # the warm prototype's costliest SQL statements
    python bench/native_month.py compare --rounds 3 --kinds month-engine-warm,month-native-index-parquet-warm
                                                             # silver, gold and the forms of the new month

The prototype's SQL is the honest floor's (``floor_honest``: the same rules written again from the same constants),
restricted to the new month as the pipeline restricts it: the batches not yet in silver's log, the moves they touch
(every version), the periods those moves were ever in (plus silver's earlier period of a moved move, later periods of
the same year, and periods a new exchange rate reaches), the lines of those moves from their move's delivery on, the
payees' running totals carried from the earlier months of the year, duplicate deliveries of the new batches' lines.
It writes what a new month's ``silver.run`` writes: moves, move lines, tax lines, EWT and VAT lines, payee running
totals, exchange rates, the quarantine's rules and duplicate rows, the batch log. Each round starts from a copy of the
same snapshot, in a new process; CPU is the process tree's (the engine host and Sail included for the engine). Row
counts of what each wrote for the new month's periods are printed beside each other: the prototype does the same work
where they agree (it is not row-for-row identical: its rules are the floor's).

The ``month-`` kinds run what ``month_end`` runs after bronze: silver, gold with its features, the forms and their
check against gold (``native_gold``, ``native_forms``: the floor's SQL for the new month's periods and quarters).
``-index`` looks the earlier versions of the touched records and the earlier deliveries of the new lines' ids up in
an index of bronze's record versions (``build_index``: a DuckDB file beside the lake that bronze would keep), so
bronze is read only in the batches holding them; ``-parquet`` has DuckDB read the Delta tables' files itself
(``scan_delta``) instead of through delta-rs's Arrow dataset. ``bench/month_end.py --engines sail-native-month``
runs the same after a full run, for the new month's share of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from cpu_time import tree_cpu
from saved import save_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MONEY = "DECIMAL(18,2)"
KINDS = ("engine", "native", "native-warm", "native-index-warm", "month-engine", "month-engine-warm",
         "month-native-warm", "month-native-index-warm", "month-native-index-parquet", "month-native-index-parquet-warm")
QUARTER_TABLES = ("form_2307", "qap", "sawt", "slsp", "remittances")
WRITTEN = ("moves", "move_lines", "tax_lines", "ewt_lines", "vat_lines", "payee_ytd", "quarantine", "batch_log",
           "currency_rates")


def connect(database: str = ":memory:") -> Any:
    """A DuckDB connection on one thread: a new month's statements read a few thousand rows each, and more threads
    cost more CPU over the month's silver, gold and forms for no shorter wall time."""
    import duckdb

    con = duckdb.connect(database)
    con.execute("SET threads = 1")
    return con


# The bronze columns each step reads (a scan through delta-rs reads only these)
MOVE_COLUMNS = ("id, _deleted, date, name, company_id, partner_id, move_type, ref, state, invoice_date, currency_id, "
                "origin_payment_id, write_date, _batch_id")
LINE_COLUMNS = ("id, move_id, display_type, tax_line_id, tax_ids, tax_base_amount, balance, amount_currency, account_id, "
                "parent_state, write_date, _batch_id, _source_file")
DUP_COLUMNS = "id, write_date, move_id, date, company_id, _batch_id, _source_file"


_OPEN: dict[Path, Any] = {}


def delta_table(path: Path) -> Any:
    """``path``'s Delta table at its latest version, kept open between calls as a long-lived host would keep it
    (brought up to date from the log's new entries only)."""
    from deltalake import DeltaTable

    table = _OPEN.get(path)
    if table is None:
        table = _OPEN[path] = DeltaTable(str(path))
    else:
        table.update_incremental()
    return table


def batches_of(table: Path) -> set[str]:
    """The batches a bronze table holds, from its files' statistics (each append writes one batch's files)."""
    import pyarrow as pa

    files = pa.table(delta_table(table).get_add_actions(flatten=True))
    low, high = files.column("min._batch_id").to_pylist(), files.column("max._batch_id").to_pylist()
    if any(a is None or a != b for a, b in zip(low, high, strict=True)):
        raise RuntimeError(f"{table}: a file holds several batches")
    return set(low)


def _quote(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def scan_delta(con: Any, view: str, path: Path, files: str, periods: list[str] | None = None) -> None:
    """``path``'s Delta table as a view of ``con``: with ``files="parquet"``, DuckDB reads the files of the table's
    current version itself (partition values from the folder names, row groups skipped by their statistics), which
    costs less to set up than delta-rs's Arrow dataset (``files="arrow"``); with ``periods``, only the files of those
    ``period`` partitions. Tables written by Sail and delta-rs here have no deletion vectors or column mapping, which
    the first way would not honour."""
    table = delta_table(path)
    if files == "arrow":
        con.register(view, table.to_pyarrow_dataset())
        return
    uris = table.file_uris(file_pruning_predicate=None if periods is None else [("period", "in", periods)])
    if not uris:
        con.register(view, table.schema().to_arrow().empty_table())
        return
    partitions = table.metadata().partition_columns
    hive = (", hive_partitioning = true, hive_types = {" + ", ".join(f"'{c}': VARCHAR" for c in partitions) + "}"
            if partitions else ", hive_partitioning = false")
    con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{_quote(uris)}], "
                f"union_by_name = true{hive})")


# -- the prototype --------------------------------------------------------------------------------------------------

class _TimedConnection:
    """A DuckDB connection whose ``execute`` records (wall s, CPU s of this process, the statement's start)."""

    def __init__(self, con: Any, spent: list[tuple[float, float, str]]) -> None:
        self._con, self._spent = con, spent

    def execute(self, sql: str, *args: Any) -> Any:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = self._con.execute(sql, *args)
        self._spent.append((time.perf_counter() - wall0, time.process_time() - cpu0, " ".join(sql.split())[:100]))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def build_index(warehouse: Path, index: Path, skip: list[str]) -> None:
    """The index of bronze's record versions a native path would keep beside bronze (a second store): every valid
    version's id, write date and batch (a move's also its date), sorted by id, in a DuckDB file. Built without the
    batches in ``skip`` (the new month's): the measured run appends those, as bronze's ingest would."""
    index.unlink(missing_ok=True)
    con = connect(str(index))
    for view, table in (("b_moves", "bronze/odoo_account_move"), ("b_lines", "bronze/odoo_account_move_line")):
        scan_delta(con, view, warehouse / table, "arrow")
    not_skipped = f"_batch_id NOT IN ({_quote(skip)})" if skip else "true"
    con.execute(f"""
        CREATE TABLE move_versions AS SELECT id, write_date, _batch_id AS batch, date FROM b_moves
          WHERE _reject IS NULL AND {not_skipped} ORDER BY id;
        CREATE TABLE line_versions AS SELECT id, write_date, _batch_id AS batch FROM b_lines
          WHERE _reject IS NULL AND {not_skipped} ORDER BY id""")
    con.close()


def new_batches(warehouse: Path) -> list[str]:
    """The batches bronze holds and silver's log does not (what a new month's silver processes)."""
    delivered = batches_of(warehouse / "bronze/odoo_account_move") | batches_of(warehouse / "bronze/odoo_res_currency_rate")
    con = connect()
    scan_delta(con, "s_log", warehouse / "silver/batch_log", "parquet")
    done = {r[0] for r in con.execute("SELECT batch_id FROM s_log").fetchall()}
    con.close()
    return sorted(delivered - done)


def native_silver(warehouse: Path, spent: list[tuple[float, float, str]] | None = None,
                  index: Path | None = None, *, files: str) -> dict:
    """A new month's silver in DuckDB over delta-rs; returns the batches and periods it rebuilt. With ``spent``,
    each SQL statement's wall and CPU time is appended to it. With ``index`` (made by ``build_index``), the new
    batches' keys are appended to it and the earlier versions and deliveries are looked up there, so that bronze is
    read only in the batches that hold them."""
    from floor_honest import (
        JOURNAL_SQL,
        LATEST,
        MACROS,
        MOVE_REJECTS_SQL,
        RATES_SQL,
        ewt_sql,
        rules_quarantine_sql,
        tax_lines_sql,
    )

    con = connect() if spent is None else _TimedConnection(connect(), spent)
    con.execute(MACROS)

    def scan(view: str, table: str, periods: list[str] | None = None) -> None:
        scan_delta(con, view, warehouse / table, files, periods)

    for view, table in (("b_moves", "bronze/odoo_account_move"), ("b_lines", "bronze/odoo_account_move_line"),
                        ("b_rates", "bronze/odoo_res_currency_rate"), ("s_moves", "silver/moves"),
                        ("s_lines", "silver/move_lines"), ("s_log", "silver/batch_log"),
                        ("s_ytd", "silver/payee_ytd"), ("s_partners", "silver/partners"),
                        ("s_taxes", "silver/taxes"), ("s_companies", "silver/companies")):
        scan(view, table)

    todo = new_batches(warehouse)
    if not todo:
        return {"batches": [], "periods": []}
    in_todo = f"_batch_id IN ({_quote(todo)})"
    con.execute(f"""
        CREATE TABLE touched AS
          SELECT id FROM b_moves WHERE _reject IS NULL AND {in_todo}
          UNION SELECT CAST(move_id[1] AS BIGINT) FROM b_lines WHERE _reject IS NULL AND {in_todo}""")

    def holding(versions: str, ids: str) -> str:
        """``true``, or (with the index) only the bronze batches that hold a version of ``ids``."""
        if index is None:
            return "true"
        found = [r[0] for r in con.execute(f"SELECT DISTINCT batch FROM ix.{versions} WHERE id IN ({ids})").fetchall()]
        return f"_batch_id IN ({_quote(found) or 'NULL'})"

    if index is not None:
        con.execute(f"""
            ATTACH '{index}' AS ix;
            INSERT INTO ix.move_versions SELECT id, write_date, _batch_id, date FROM b_moves
              WHERE _reject IS NULL AND {in_todo} ORDER BY id;
            INSERT INTO ix.line_versions SELECT id, write_date, _batch_id FROM b_lines
              WHERE _reject IS NULL AND {in_todo} ORDER BY id""")
    con.execute(f"CREATE TABLE v_account_move AS SELECT {MOVE_COLUMNS} FROM b_moves SEMI JOIN touched USING (id) "
                f"WHERE _reject IS NULL AND {holding('move_versions', 'SELECT id FROM touched')}")
    periods = {r[0] for r in con.execute(
        "SELECT DISTINCT substr(date, 1, 7) FROM v_account_move WHERE date IS NOT NULL").fetchall()}
    periods |= {r[0] for r in con.execute(
        "SELECT DISTINCT period FROM s_moves WHERE move_id IN (SELECT id FROM touched)").fetchall() if r[0]}
    known = {p for r in con.execute("SELECT periods FROM s_log").fetchall() for p in (r[0] or "").split(",") if p}
    first: dict[str, str] = {}
    for p in periods:
        first[p[:4]] = min(first.get(p[:4], p), p)
    periods |= {k for k in known if k[:4] in first and k > first[k[:4]]}
    new_rate = con.execute(f"SELECT min(substr(name, 1, 7)) FROM b_rates WHERE _reject IS NULL AND {in_todo}").fetchone()
    if new_rate and new_rate[0]:
        periods |= {k for k in known if k >= new_rate[0]}
    in_periods = f"period IN ({_quote(sorted(periods))})"

    # the current version of every touched move, and its lines from the move's delivery on
    # as ``silver.lines_since``: from the oldest batch holding a touched move's current version (a move touched only
    # by a new line has its current version in an earlier batch, and its earlier lines since then are current too)
    oldest = con.execute(f"SELECT min(_batch_id) FROM (SELECT _batch_id FROM v_account_move {LATEST.format(key='id')})"
                         ).fetchone()[0]
    con.execute(f"""
        CREATE TABLE v_account_move_line AS SELECT {LINE_COLUMNS} FROM b_lines
          WHERE _reject IS NULL AND {f"_batch_id >= '{oldest}'" if oldest else "false"}
            AND CAST(move_id[1] AS BIGINT) IN (SELECT id FROM touched)""")
    con.execute(JOURNAL_SQL)
    if files == "parquet":  # only the periods rebuilt are read from here on
        scan("s_moves", "silver/moves", sorted(periods))
        scan("s_lines", "silver/move_lines", sorted(periods))
    con.execute(f"""
        CREATE TABLE all_moves AS
          SELECT * FROM s_moves ANTI JOIN touched ON move_id = touched.id WHERE {in_periods}
          UNION ALL BY NAME SELECT * FROM moves WHERE {in_periods};
        CREATE TABLE all_lines AS
          SELECT * FROM s_lines ANTI JOIN touched ON move_id = touched.id WHERE {in_periods}
          UNION ALL BY NAME SELECT * FROM move_lines WHERE {in_periods};
        DROP TABLE moves; DROP TABLE move_lines;
        ALTER TABLE all_moves RENAME TO moves; ALTER TABLE all_lines RENAME TO move_lines;""")

    # the dimensions as silver holds them; exchange rates rebuilt (every run does)
    con.execute("CREATE VIEW v_res_currency_rate AS SELECT * FROM b_rates WHERE _reject IS NULL")
    con.execute(RATES_SQL)
    con.execute("CREATE TABLE partners AS SELECT * FROM s_partners")
    con.execute("CREATE TABLE taxes AS SELECT * FROM s_taxes")
    con.execute("CREATE TABLE companies AS SELECT * FROM s_companies")
    con.execute(MOVE_REJECTS_SQL)
    con.execute(tax_lines_sql())
    # running totals carried from the year's earlier months, as ``silver.prior_ytd`` gives them
    years = sorted({int(p[:4]) for p in periods})
    con.execute(f"""
        CREATE TABLE prior AS SELECT y.agency, coalesce(p.payee_key, y.payee_key) AS payee_key, y.year, y.family,
            sum(y.base) AS _prior
          FROM s_ytd y LEFT JOIN s_partners p ON p.partner_id = y.partner_id
          WHERE y.year IN ({", ".join(map(str, years))}) AND NOT {in_periods.replace("period", "y.period")} GROUP BY ALL;
        CREATE TABLE tax_lines_prior AS SELECT t.*, p._prior FROM tax_lines t LEFT JOIN prior p
          ON p.agency = t.agency AND p.payee_key = t.payee_key AND p.year = year(t.date) AND p.family = t.family""")
    ewt = ewt_sql()
    for old, new in ((f"CAST(0 AS {MONEY}) + sum(base) OVER", f"coalesce(_prior, CAST(0 AS {MONEY})) + sum(base) OVER"),
                     ("FROM tax_lines\n        WHERE _reject IS NULL AND is_withholding",
                      "FROM tax_lines_prior\n        WHERE _reject IS NULL AND is_withholding")):
        if old not in ewt:
            raise RuntimeError(f"the floor's EWT SQL changed: {old!r} not found")
        ewt = ewt.replace(old, new)
    con.execute(ewt)
    rules, dedup = rules_quarantine_sql().split("CREATE TABLE q_dedup AS")
    con.execute(rules)
    # repeated (id, write_date) keys among the new batches' lines from two columns; only their rows read whole
    versions = "b_lines WHERE _reject IS NULL AND" if index is None else "ix.line_versions WHERE"
    repeated = [r[0] for r in con.execute(f"""
        SELECT DISTINCT id FROM (SELECT id, write_date FROM {versions} id IN (
          SELECT id FROM b_lines WHERE _reject IS NULL AND {in_todo}) GROUP BY ALL HAVING count(*) > 1)""").fetchall()]
    ids = ", ".join(map(str, repeated)) or "NULL"
    con.execute(f"CREATE TABLE dup_src AS SELECT {DUP_COLUMNS} FROM b_lines WHERE _reject IS NULL AND id IN ({ids}) "
                f"AND {holding('line_versions', ids)}")
    con.execute("CREATE TABLE q_dedup AS " + dedup.replace("v_account_move_line", "dup_src"))
    con.execute(f"CREATE TABLE log AS SELECT unnest([{_quote(todo)}]) AS batch_id, "
                f"'{','.join(sorted(periods))}' AS periods, current_timestamp AS processed_at")

    def write(table: str, sql: str, predicate: str | None) -> None:
        write_rows(con, warehouse / "silver" / table, sql, predicate)

    write("moves", "SELECT * FROM moves", in_periods)
    write("move_lines", "SELECT * FROM move_lines", in_periods)
    write("currency_rates", "SELECT * FROM currency_rates", None)
    write("tax_lines", "SELECT * FROM tax_lines", in_periods)
    write("ewt_lines", "SELECT * FROM ewt_lines", in_periods)
    write("payee_ytd", "SELECT period, partner_id, agency, payee_key, year, family, money(sum(base)) AS base "
                       "FROM ewt_lines "
                       "WHERE paid_this_year IS NOT NULL GROUP BY ALL", in_periods)
    write("vat_lines", "SELECT * FROM vat_lines", in_periods)
    write("quarantine", "SELECT * FROM q_rules", f"stage = 'rules' AND {in_periods}")
    write("quarantine", f"SELECT * FROM q_dedup WHERE {in_todo}", f"stage = 'dedup' AND {in_todo}")
    write("batch_log", "SELECT * FROM log", f"batch_id IN ({_quote(todo)})")
    con.close()
    return {"batches": todo, "periods": sorted(periods)}


def write_rows(con: Any, path: Path, sql: str, predicate: str | None) -> None:
    """``sql``'s rows written over those of ``path`` that ``predicate`` selects (all, without one), in the table's
    schema (its columns the query lacks written as nulls), as ``replaceWhere`` does."""
    import pyarrow as pa
    from deltalake import write_deltalake

    table = delta_table(path)
    target = pa.schema(table.schema().to_arrow())
    rows = con.sql(sql).arrow()
    if not isinstance(rows, pa.Table):
        rows = rows.read_all()
    columns = [rows.column(f.name).cast(f.type) if f.name in rows.column_names else pa.nulls(len(rows), f.type)
               for f in target]
    write_deltalake(table, pa.Table.from_arrays(columns, schema=target), mode="overwrite", predicate=predicate)


def _month_scope(periods: list[str], batches: list[str]) -> dict[str, Any]:
    """The predicates a new month's gold and forms write with: its periods, their quarters (and those quarters'
    months), its batches; and the SQL of its batches' log rows."""
    quarters = sorted({f"{p[:4]}Q{(int(p[5:7]) + 2) // 3}" for p in periods})
    months = [f"{q[:4]}-{3 * int(q[-1]) - 2 + i:02d}" for q in quarters for i in range(3)]
    return {"periods": f"period IN ({_quote(periods)})", "months": f"period IN ({_quote(months)})", "month_list": months,
            "quarters": f"quarter IN ({_quote(quarters)})", "batches": f"batch_id IN ({_quote(batches)})",
            "log": f"SELECT unnest([{_quote(batches)}]) AS batch_id, current_timestamp AS processed_at"}


def native_gold(warehouse: Path, batches: list[str], periods: list[str], files: str) -> None:
    """A new month's gold in DuckDB over delta-rs, as ``gold.run`` and ``gold.refresh_features`` write it: the two
    tables for ``periods``, gold's log, the features rebuilt from the whole of ``bir_transactions``."""
    from floor_honest import GOLD_SQL, MACROS

    gold_sql, features_sql = GOLD_SQL.split("CREATE TABLE bir_features AS")
    scope = _month_scope(periods, batches)
    con = connect()
    con.execute(MACROS)
    scan_delta(con, "s_ewt", warehouse / "silver/ewt_lines", files, periods)
    scan_delta(con, "s_vat", warehouse / "silver/vat_lines", files, periods)
    con.execute(f"CREATE TABLE ewt_lines AS SELECT * FROM s_ewt WHERE {scope['periods']}; "
                f"CREATE TABLE vat_lines AS SELECT * FROM s_vat WHERE {scope['periods']}; {gold_sql}")
    write_rows(con, warehouse / "gold/ewt_by_atc", "SELECT * FROM ewt_by_atc", scope["periods"])
    write_rows(con, warehouse / "gold/bir_transactions", "SELECT * FROM bir_transactions", scope["periods"])
    write_rows(con, warehouse / "gold/batch_log", scope["log"], scope["batches"])
    con.execute("DROP TABLE bir_transactions")
    scan_delta(con, "bir_transactions", warehouse / "gold/bir_transactions", files)
    con.execute("CREATE TABLE bir_features AS" + features_sql)
    write_rows(con, warehouse / "gold/bir_features", "SELECT * FROM bir_features", None)
    con.close()


def native_forms(warehouse: Path, batches: list[str], periods: list[str], as_of: date, files: str) -> None:
    """A new month's forms in DuckDB over delta-rs, as ``forms.run`` and ``forms.check_in_step`` do: the five form
    tables for the quarters of ``periods``, the forms' log, the filing calendar, and every quarter's form totals
    checked against gold."""
    from floor_honest import FORMS_CHECK_SQL, MACROS, filing_calendar, forms_sql

    scope = _month_scope(periods, batches)
    con = connect()
    con.execute(MACROS)
    for view, table in (("s_partners", "silver/partners"), ("s_companies", "silver/companies"),
                        ("g_tx", "gold/bir_transactions")):
        scan_delta(con, view, warehouse / table, files)
    scan_delta(con, "s_ewt", warehouse / "silver/ewt_lines", files, scope["month_list"])
    scan_delta(con, "s_vat", warehouse / "silver/vat_lines", files, scope["month_list"])
    con.execute(f"""
        CREATE TABLE ewt_lines AS SELECT * FROM s_ewt WHERE {scope['months']};
        CREATE TABLE vat_lines AS SELECT * FROM s_vat WHERE {scope['months']};
        CREATE TABLE partners AS SELECT * FROM s_partners;
        CREATE TABLE companies AS SELECT * FROM s_companies;
        CREATE TABLE bir_transactions AS SELECT * FROM g_tx WHERE {scope['months']};
        {forms_sql()}""")
    for table in QUARTER_TABLES:
        write_rows(con, warehouse / "gold" / table, f"SELECT * FROM {table} WHERE {scope['quarters']}",
                   scope["quarters"])
    write_rows(con, warehouse / "gold/forms_log", scope["log"], scope["batches"])
    con.execute("DROP TABLE bir_transactions; CREATE TABLE bir_transactions AS SELECT * FROM g_tx")
    filing_calendar(con, as_of)
    write_rows(con, warehouse / "gold/filing_calendar", "SELECT * FROM filing_calendar", None)
    for table in QUARTER_TABLES:
        con.execute(f"DROP TABLE {table}")
        scan_delta(con, table, warehouse / "gold" / table, files)
    off = con.execute(FORMS_CHECK_SQL).fetchone()[0]
    con.close()
    if off:
        raise RuntimeError(f"native forms: {off} quarter(s) of the form tables disagree with gold")


# -- the stages' checks, natively -------------------------------------------------------------------------------------

def delta_layout(path: Path, table: Any = None) -> list[tuple[str, str]]:
    """A Delta table's columns and their types, in order, from its log, as ``spark.table(name).schema`` gives them
    (each type named by ``type_text``, as the workspace's catalog names it to Sail); ``table`` to read it from a
    ``DeltaTable`` other than the one kept open."""
    from odoolake.workspace.catalog.columns import type_text

    schema = json.loads((table or delta_table(path)).schema().to_json())
    return [(f["name"], type_text(f["type"])) for f in schema["fields"]]


def _table_path(warehouse: Path, name: str) -> Path:
    schema, _, table = name.partition(".")
    return warehouse / schema / table


def _exists(warehouse: Path, name: str) -> bool:
    return (_table_path(warehouse, name) / "_delta_log").is_dir()


def _outdated(warehouse: Path, expected: dict[str, dict[str, str]]) -> list[str]:
    """``io.outdated`` from the tables' logs."""
    stale = []
    for name, columns in expected.items():
        if _exists(warehouse, name):
            have = dict(delta_layout(_table_path(warehouse, name)))
            if any(have.get(column) != kind for column, kind in columns.items()):
                stale.append(name)
    return stale


def _committed_at(warehouse: Path, name: str) -> int | None:
    """The table's latest commit time (ms) from its log, as ``io.last_commit_at`` reads ``DESCRIBE HISTORY``."""
    if not _exists(warehouse, name):
        return None
    last = delta_table(_table_path(warehouse, name)).history(1)
    return int(last[0]["timestamp"]) if last else None


def _column(warehouse: Path, name: str, column: str) -> list[Any]:
    return delta_table(_table_path(warehouse, name)).to_pyarrow_table(columns=[column]).column(column).to_pylist()


def _logged_periods(warehouse: Path, wanted: Callable[[str], bool]) -> set[str]:
    """The periods silver's batch log lists for the batches ``wanted`` accepts."""
    from odoolake.pipeline import io

    logged = delta_table(_table_path(warehouse, io.SILVER_LOG)).to_pyarrow_table(columns=["batch_id", "periods"])
    return {p for r in logged.to_pylist() if wanted(r["batch_id"]) for p in (r["periods"] or "").split(",") if p}


def dimension_layouts(warehouse: Path) -> dict[str, list[tuple[str, str]]]:
    """What a built native path would hold as constants: each dimension table's layout as its build writes it (here
    read from the lake before the new month, unmetered, without keeping the tables open: they were written by that
    build)."""
    from deltalake import DeltaTable

    from odoolake.pipeline import silver

    paths = {table: _table_path(warehouse, table) for _, table, _ in silver.DIMENSIONS}
    return {table: delta_layout(path, DeltaTable(str(path))) for table, path in paths.items()}


def native_checks(warehouse: Path, stage: str, dimensions: dict[str, list[tuple[str, str]]]) -> list[str]:
    """What ``native_month_checks`` asks the engine, answered from the Delta logs and the logs' small tables instead:
    the tables' layout, whether a dimension's bronze was committed after it (then it would be rebuilt: raised here,
    the prototype does not rebuild dimensions), the pending batches and quarters, the forms' partitioning. Returns
    the periods (gold) or quarters (forms) pending, as the engine's checks do."""
    from odoolake.pipeline import forms, gold, io, silver

    missing = [s for s in io.SCHEMAS if not (warehouse / s).is_dir()]
    if missing:
        raise RuntimeError(f"native checks: schemas {missing} missing")
    pending: list[str] = []
    if stage == "silver":
        stale = _outdated(warehouse, silver.LAYOUT)
        for raw, table, _ in silver.DIMENSIONS:
            built_at, received_at = _committed_at(warehouse, table), _committed_at(warehouse, raw.bronze_table)
            if built_at is None or received_at is None or built_at <= received_at \
                    or delta_layout(_table_path(warehouse, table)) != dimensions[table]:
                stale.append(table)
    elif stage == "gold":
        stale = _outdated(warehouse, gold.LAYOUT)
        done = set(_column(warehouse, io.GOLD_LOG, "batch_id")) if _exists(warehouse, io.GOLD_LOG) else set()
        pending = sorted(_logged_periods(warehouse, lambda batch: batch not in done))
    else:
        tables = (*forms.QUARTER_TABLES, forms.FORMS_LOG)
        stale = [t for t in tables if not _exists(warehouse, t)] or _outdated(warehouse, forms.LAYOUT)
        stale += [t for t in forms.QUARTER_TABLES
                  if delta_table(_table_path(warehouse, t)).metadata().partition_columns != list(forms.BY_QUARTER)]
        done = set(_column(warehouse, forms.FORMS_LOG, "batch_id"))
        new = [b for b in sorted(_column(warehouse, io.GOLD_LOG, "batch_id")) if b not in done]
        pending = sorted({forms.quarter_of(p) for p in _logged_periods(warehouse, lambda batch: batch in new)})
    if stale:
        raise RuntimeError(f"native checks: {stale} would be rebuilt whole, which the prototype does not do")
    return pending


# -- what each wrote --------------------------------------------------------------------------------------------------

def written_counts(warehouse: Path, periods: list[str]) -> dict[str, int]:
    """Rows of the new month's periods in each table silver wrote (the quarantine by stage), read with DuckDB."""
    import duckdb
    from deltalake import DeltaTable

    counts: dict[str, int] = {}
    in_periods = f"period IN ({_quote(periods)})"
    for table in WRITTEN:
        con = duckdb.connect()
        con.register("t", DeltaTable(str(warehouse / "silver" / table)).to_pyarrow_dataset())
        if table == "quarantine":
            for stage, reason, n in con.execute(f"SELECT stage, reason, count(*) FROM t WHERE stage = 'dedup' OR "
                                                f"(stage = 'rules' AND {in_periods}) GROUP BY ALL").fetchall():
                counts[f"quarantine {stage} {reason}"] = n
        elif table in ("batch_log", "currency_rates"):
            counts[table] = con.execute("SELECT count(*) FROM t").fetchone()[0]
        else:
            counts[table] = con.execute(f"SELECT count(*) FROM t WHERE {in_periods}").fetchone()[0]
        con.close()
    con = duckdb.connect()
    con.register("e", DeltaTable(str(warehouse / "silver" / "ewt_lines")).to_pyarrow_dataset())
    counts["ewt tax_withheld (centavos)"] = int(con.execute(
        f"SELECT coalesce(sum(tax_withheld), 0) * 100 FROM e WHERE {in_periods}").fetchone()[0])
    return counts


# -- workers and orchestration ----------------------------------------------------------------------------------------

@contextmanager
def snapshot_copy(snapshot: Path, prefix: str) -> Iterator[Path]:
    """A lake copied from ``snapshot`` (made by ``setup``) into a temporary folder, removed afterwards."""
    if not (snapshot / "warehouse").is_dir():
        raise SystemExit(f"--snapshot {snapshot}: no lake there; make one with bench/native_month.py setup")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        home = work / "home"
        print(f"copying {snapshot} …", file=sys.stderr, flush=True)
        _restore(snapshot, home)
        yield home
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _restore(snap: Path, home: Path) -> None:
    _OPEN.clear()  # the tables are replaced: no open table is up to date
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(snap, home, symlinks=True)


def worker(kind: str, snap: Path, home: Path) -> dict:
    _restore(snap, home)
    warehouse, whole_month = home / "warehouse", kind.startswith("month-")
    if "engine" in kind:
        from odoolake.config import WorkspacePaths
        from odoolake.pipeline import forms, gold, silver
        from odoolake.workspace.engine import LocalEngine

        engine = LocalEngine(WorkspacePaths.from_env(home).ensure())
        spark = engine.session()

        def month() -> silver.SilverResult:
            result = silver.run(spark)
            if whole_month:  # what month_end runs after silver
                gold.run(spark)
                forms.run(spark)
                forms.check_in_step(spark)
                gold.refresh_features(spark)
            return result

        if kind.endswith("-warm"):  # as month_end's new month meets the engine: after other work in the same host
            month()
            shutil.rmtree(home / "warehouse")  # the tables' files as they were, under the running host
            shutil.copytree(snap / "warehouse", home / "warehouse", symlinks=True)
        cpu0, wall0 = tree_cpu(), time.perf_counter()
        result = month()
        wall, cpu = time.perf_counter() - wall0, tree_cpu() - cpu0
        periods = result.periods
        engine.close()
    else:
        import duckdb  # noqa: F401  (imported before the clock starts in both: the engine's imports are done too)
        import floor_honest  # noqa: F401

        index = home.parent / "record_versions.duckdb" if "-index" in kind else None
        files = "parquet" if "-parquet" in kind else "arrow"

        def run() -> dict:
            if index is not None:  # the index as bronze would have kept it up to the new month
                build_index(warehouse, index, new_batches(warehouse))
            cpu0, wall0 = tree_cpu(), time.perf_counter()
            done = native_silver(warehouse, index=index, files=files)
            if whole_month:
                native_gold(warehouse, done["batches"], done["periods"], files)
                native_forms(warehouse, done["batches"], done["periods"], date.today(), files)
            done.update(wall=time.perf_counter() - wall0, cpu=tree_cpu() - cpu0)
            return done

        if kind.endswith("-warm"):  # as a long-lived engine host would run it: once before, on a copy of its own
            run()
            _restore(snap, home)
        done = run()
        wall, cpu, periods = done["wall"], done["cpu"], done["periods"]
    return {"kind": kind, "wall": wall, "cpu": cpu, "periods": periods,
            "counts": written_counts(home / "warehouse", periods)}


def setup(size: int, snap: Path, moves: int | None = None) -> None:
    """The lake after a full run as the month-end makes it (bronze, silver, gold with its features, the forms), then
    the new month's bronze (only its first ``moves`` moves, when given)."""
    from month_end import _link_raw, ensure_data, new_period_only

    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import bronze, forms, gold, silver
    from odoolake.workspace.engine import LocalEngine

    raw, extra = ensure_data(size, HERE / ".data")
    if moves is not None:
        extra = new_period_only(extra, moves=moves)
    shutil.rmtree(snap, ignore_errors=True)
    paths = WorkspacePaths.from_env(snap).ensure()
    local_raw = paths.dbfs_to_local("dbfs:/raw/odoo")
    _link_raw(raw, local_raw)
    engine = LocalEngine(paths)
    spark = engine.session()
    ls = dbfs_lister(paths)
    print("the full run …", file=sys.stderr, flush=True)
    bronze.ingest(spark, "dbfs:/raw/odoo", ls)
    silver.run(spark)
    gold.run(spark)
    gold.refresh_features(spark)  # as the month-end's full run leaves the lake: the new month's gold refreshes them
    forms.run(spark)
    _link_raw(extra, local_raw)
    print("the new month's bronze …", file=sys.stderr, flush=True)
    bronze.ingest(spark, "dbfs:/raw/odoo", ls)
    engine.close()


def statements(snap: Path, top: int = 12) -> None:
    """The prototype run warm (once before, on a copy), then its costliest SQL statements."""
    import duckdb  # noqa: F401  (imported before the clock starts)
    import floor_honest  # noqa: F401

    spent: list[tuple[float, float, str]] = []
    with snapshot_copy(snap, "native-statements-") as home:
        native_silver(home / "warehouse", files="arrow")
        _restore(snap, home)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        native_silver(home / "warehouse", spent, files="arrow")
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"native silver, warm: {wall:.2f} s wall, {cpu:.2f} s CPU; its SQL statements "
          f"{sum(s[0] for s in spent):.2f} s wall, {sum(s[1] for s in spent):.2f} s CPU\n")
    print("| statement | wall | CPU |")
    print("|---|---:|---:|")
    for wall_s, cpu_s, text in sorted(spent, reverse=True)[:top]:
        print(f"| `{text}` | {wall_s * 1000:.0f} ms | {cpu_s * 1000:.0f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["setup", "compare", "statements", "worker"])
    parser.add_argument("kind", nargs="?")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kinds", default="engine,native",
                        help="compare: engine, native (a new process each round), native-warm (run once before), "
                             "native-index-warm (with an index of bronze's record versions); month-engine, "
                             "month-native-warm, month-native-index-warm and month-native-index-parquet-warm (the "
                             "tables' files read by DuckDB itself): silver, gold and the forms")
    parser.add_argument("--snapshot", type=Path, default=HERE / ".data" / "native_month" / "snapshot")
    parser.add_argument("--home", type=Path, default=HERE / ".data" / "native_month" / "home")
    parser.add_argument("--moves", type=int, help="setup: a new month of only its first N moves")
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.size, args.snapshot, args.moves)
        return
    if args.command == "statements":
        statements(args.snapshot)
        return
    if args.command == "worker":
        print(json.dumps(worker(args.kind, args.snapshot, args.home)))
        return
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise SystemExit(f"--kinds {args.kinds}: give some of {', '.join(KINDS)}")
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    env = dict(os.environ, RUST_LOG="error", ODOOLAKE_NATIVE_STEPS="off")
    for i in range(args.rounds):
        for kind in kinds:
            print(f"round {i + 1}/{args.rounds}: {kind} …", file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, __file__, "worker", kind, "--snapshot", str(args.snapshot),
                                   "--home", str(args.home)], capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-4000:]}")
            results[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    shutil.rmtree(args.home, ignore_errors=True)
    save_results(f"native_month-{time.strftime('%Y-%m-%d-%H%M')}", {"results": results})
    print("| one new month: silver (month-: silver, gold, forms) | wall (median) | CPU (median) | CPU per round |")
    print("|---|---:|---:|---|")
    for kind, runs in results.items():
        print(f"| {kind} | {statistics.median(r['wall'] for r in runs):.2f} s | "
              f"{statistics.median(r['cpu'] for r in runs):.2f} s | "
              f"{', '.join(format(r['cpu'], '.2f') for r in runs)} |")
    first = {kind: runs[0] for kind, runs in results.items()}
    print("\nperiods: " + ", ".join(f"{kind} {run['periods']}" for kind, run in first.items()) + "\n")
    print("| rows written for those periods | " + " | ".join(first) + " |")
    print("|---|" + "---:|" * len(first))
    for key in sorted({k for run in first.values() for k in run["counts"]}):
        print(f"| {key} | " + " | ".join(str(run["counts"].get(key, 0)) for run in first.values()) + " |")


if __name__ == "__main__":
    main()
