"""The local platform's native path for bronze parsing: DuckDB reads and parses the raw JSON lines, delta-rs appends
them to the bronze Delta table, both in this process.

It runs behind ``bronze.ingest`` (the function the notebooks call), only when ``ODOOLAKE_NATIVE_STEPS=on`` and the
session is the owner's own session on the embedded engine (``LocalEngine``); on Databricks, JVM Spark or any other
Spark Connect server the PySpark path runs, unchanged. It is off by default: with Spark's JSON rules reproduced
exactly it measured no faster than Sail's ``from_json`` (docs/performance.md, "Native steps").

The rows are the PySpark path's row for row (the same columns, types, verdicts and details;
``tests/integration/test_native_parity.py`` proves it on generated data with every messy case), except
``_ingested_at``, the time of the write, and except inputs an adversarial comparison found that odoolake's Odoo
extract never writes (NaN spelled ``nan``, a byte-order mark, ...: docs/performance.md, "Native steps"). Files it
cannot read at all (mixed line endings: ``Unreadable``) are appended by the engine instead (``bronze.ingest``). The
PySpark path's rules are the reference; where DuckDB reads JSON differently from Spark, the comments below say how
it is brought back.

Why it was built: Sail's ``from_json`` over Odoo's records is about half of bronze, and a DuckDB prototype with
DuckDB's own (lenient) JSON rules parsed the same lines in about half the time.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odoolake.bir import reasons
from odoolake.pipeline import io
from odoolake.pipeline.bronze import BRONZE_META_DDL, MALFORMED_DETAIL, MISSING_DETAIL
from odoolake.pipeline.schemas import RawModel

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from odoolake.config import WorkspacePaths

NATIVE_ENV = "ODOOLAKE_NATIVE_STEPS"  # "on" turns the native path on; off by default (see below)
BATCH_ROWS = 1 << 17

# How each contract type is read. Spark's from_json takes a JSON value into a string field whatever its kind (a
# non-string as its JSON text), but a number or boolean field only from a JSON value of that kind ("12.5" or 12.0
# into bigint, "true" into boolean: null), where DuckDB's json_transform would convert. So those fields are read as
# JSON fragments and kept only when the fragment is of the right kind.
_JSON_TYPES: dict[str, object] = {"bigint": "JSON", "string": "VARCHAR", "double": "JSON", "boolean": "JSON",
                                  "array<string>": ["VARCHAR"], "array<bigint>": ["JSON"]}
_INTEGER = "'-?[0-9]+'"  # a JSON integer's text (beyond a bigint: TRY_CAST gives null, as Spark does)
_NUMBER = "'^-?[0-9]'"  # a JSON number's text starts so; strings start with a quote


# DuckDB's JSON reader is more lenient than Spark's, which refuses the whole line for a trailing comma, NaN,
# Infinity or a number beyond a double (1e400), where DuckDB reads on. Lines with the first three are found by a cheap
# test (SUSPECT: 0.06 s per million lines; a pattern for every exponent cost 1 s) and re-read by Python's strict JSON
# reader apart from the others: the line as Spark reads it, or NULL (then MALFORMED_JSON, as Spark gives). A number
# beyond a double in a double field parses to infinity, and the line then counts as not parsing (OVERFLOW).
# Not brought back: an object that repeats a key (Spark keeps the last value, DuckDB the first). Finding those costs
# a second parse of every line (json_keys: +1.4 s per million), and no Odoo extract has them: JSON-RPC writes a
# Python dict. Nor a number beyond a double in a field the contract does not read.
SUSPECT = r"contains(value, 'NaN') OR contains(value, 'Infinity') OR regexp_matches(value, ',\s*[\]}]')"


def strict_json(line: str) -> str | None:
    """``line`` as Spark's JSON reader reads it, or None where Spark finds no JSON in it."""
    def finite(text: str) -> float:
        value = float(text)
        if math.isinf(value):
            raise ValueError(f"number out of range: {text}")
        return value

    def refuse(token: str) -> float:
        raise ValueError(f"not JSON: {token}")

    try:
        return json.dumps(json.loads(line, parse_float=finite, parse_constant=refuse), ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


class Unreadable(Exception):
    """The native reader could not read a model's new files (DuckDB's CSV reader on a file mixing line endings, a
    lone surrogate it re-reads): nothing was appended, and ``bronze.ingest`` lets the engine append them."""


def _field(name: str, kind: str) -> str:
    """The SQL for one field of the parsed struct ``r``, as Spark's from_json gives it. A fragment's kind is told by
    its text (an integer is digits, a number starts with a digit or minus, a boolean is true or false): 0.5 s per
    million lines less than asking json_type."""
    col = f'r."{name}"'
    text = f"CAST({col} AS VARCHAR)"
    if kind == "bigint":
        return f"CASE WHEN regexp_full_match({text}, {_INTEGER}) THEN TRY_CAST({text} AS BIGINT) END"
    if kind == "double":
        return f"CASE WHEN regexp_matches({text}, {_NUMBER}) THEN TRY_CAST({text} AS DOUBLE) END"
    if kind == "boolean":
        return f"CASE {text} WHEN 'true' THEN true WHEN 'false' THEN false END"
    if kind == "array<bigint>":
        item = "CAST(x AS VARCHAR)"
        return (f"list_transform({col}, lambda x: CASE WHEN regexp_full_match({item}, {_INTEGER}) "
                f"THEN TRY_CAST({item} AS BIGINT) END)")
    return col


def enabled(spark: SparkSession) -> WorkspacePaths | None:
    """The workspace root whose files the native path may read, or None where the PySpark path must run."""
    if os.environ.get(NATIVE_ENV, "off") != "on" or io.table_format() != "delta":
        return None
    engine = getattr(spark, "_odoolake_engine", None)
    if engine is None or engine.remote is not None or not getattr(spark, "_odoolake_owner_session", False):
        return None
    if (engine.paths.home / "production").exists():  # only service principals write there: the engine decides
        return None
    return engine.paths


def sql_text(value: str) -> str:
    """A DuckDB string literal of ``value`` (a path may hold a quote)."""
    return "'" + value.replace("'", "''") + "'"


def lines_sql(files: list[tuple[str, Path]]) -> str:
    """The non-blank lines of ``(uri, local file)`` pairs, as ``spark.read.text(path).where(trim(value) != '')``
    with ``_source_file = lit(path)`` gives them."""
    return " UNION ALL ".join(
        f"SELECT value, {sql_text(uri)} AS _source_file FROM read_csv({sql_text(str(local))}, "
        "columns={'value': 'VARCHAR'}, header=false, delim=chr(1), quote='', escape='', auto_detect=false, "
        "max_line_size=1000000000) WHERE trim(value) <> ''"
        for uri, local in files)


def parse_sql(model: RawModel, lines: str, json_text: str = "value") -> str:
    """The rows ``bronze.ingest``'s PySpark path appends, from ``lines`` (a query giving ``value``, ``_source_file``
    and the ``json_text`` to parse), and ``_suspect``: the line's text where SUSPECT holds (else NULL)."""
    structure = sql_text(json.dumps({name: _JSON_TYPES[kind] for name, kind in model.fields}))
    alive = {name: ' AND NOT coalesce("_deleted", false)' for name in model.required_unless_deleted()}
    absent = [f"CASE WHEN \"{name}\" IS NULL{alive.get(name, '')} THEN '{name}' END" for name in model.required
              if name != "id"]
    missing = f"concat_ws(',', {', '.join(absent)})" if absent else "''"
    malformed, has_missing = "id IS NULL", "_missing <> ''"
    doubles = [f'isinf("{name}")' for name, kind in model.fields if kind == "double"]
    overflow = " OR ".join(doubles) if doubles else "false"
    typed = ", ".join(f'{_field(name, kind)} AS "{name}"' for name, kind in model.fields)
    kept = ", ".join(f'CASE WHEN NOT _overflow THEN "{name}" END AS "{name}"' for name, _ in model.fields)
    fields = ", ".join(f'"{name}"' for name, _ in model.fields)
    return f"""
    WITH parsed AS (SELECT value, _source_file, try(json_transform({json_text}, {structure})) AS r FROM ({lines})),
    typed AS (SELECT value, _source_file, {typed} FROM parsed),
    checked AS (SELECT value, _source_file, coalesce({overflow}, false) AS _overflow, {fields} FROM typed),
    judged AS (SELECT value, _source_file, {kept}, {missing} AS _missing FROM checked)
    SELECT {fields}, _source_file,
      regexp_extract(_source_file, '([^/]+?)(\\.jsonl|\\.json)?$', 1) AS _batch_id,
      current_timestamp AS _ingested_at,
      CASE WHEN {malformed} THEN '{reasons.MALFORMED_JSON.code}' WHEN {has_missing} THEN '{reasons.MISSING_FIELD.code}'
      END AS _reject,
      CASE WHEN {malformed} THEN '{MALFORMED_DETAIL}' WHEN {has_missing} THEN '{MISSING_DETAIL}' || _missing END
        AS _detail,
      CASE WHEN {malformed} OR {has_missing} THEN value END AS _raw,
      CASE WHEN {SUSPECT} THEN value END AS _suspect
    FROM judged"""


GROUP_BYTES = 128 << 20  # raw text parsed in one query: small files together, so both cores have work


def _groups(files: list[tuple[str, Path]]) -> list[list[tuple[str, Path]]]:
    """Consecutive files of up to GROUP_BYTES together (a larger file alone: DuckDB splits it over the cores)."""
    return io.consecutive_groups(files, [local.stat().st_size for _, local in files], GROUP_BYTES)


def table_location(spark: SparkSession, table: str) -> str:
    detail = spark.sql(f"DESCRIBE DETAIL {table}").first()
    if detail is None or not detail["location"]:
        raise RuntimeError(f"{table} has no location the native path can write to")
    return str(detail["location"]).removeprefix("file://")


def append(spark: SparkSession, paths: WorkspacePaths, model: RawModel, uris: list[str]) -> int:
    """Parse ``uris`` and append their rows to the model's bronze table in one Delta commit; returns the row count.

    A table not there yet is created through the engine first (empty, the PySpark path's schema), so the catalog
    knows it as it knows every other table."""
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import write_deltalake

    if not io.table_exists(spark, model.bronze_table):
        io.append(spark.createDataFrame([], f"{model.ddl}, {BRONZE_META_DDL}"), model.bronze_table)
    location = table_location(spark, model.bronze_table)
    files = [(uri, paths.dbfs_to_local(uri)) for uri in uris]
    # What reading the files can raise; an interrupt (Ctrl-C, a cancelled run), memory or disk stay failures.
    unreadable_errors = (duckdb.InvalidInputException, duckdb.ConversionException, UnicodeError)
    unreadable: list[BaseException] = []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        paths.spill_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {sql_text(str(paths.spill_dir))}")
        queries = [parse_sql(model, lines_sql(group)) for group in _groups(files)]
        schema = _delta_schema(con.sql(f"SELECT * EXCLUDE (_suspect) FROM ({queries[0]}) LIMIT 0").to_arrow_table()
                               .schema)
        count = [0]

        def batches() -> Iterator[Any]:
            try:
                yield from parsed()
            except unreadable_errors as exc:  # delta-rs wraps what the reader raises: remember what it was
                unreadable.append(exc)
                raise

        def parsed() -> Iterator[Any]:
            """Group by group (each parsed on all cores into Arrow; a streaming result runs on one core), the rows
            whose line is not SUSPECT; then the suspect lines, read again through Python's strict reader."""
            odd: list[Any] = []
            for query in queries:
                table = con.sql(query).to_arrow_table()
                suspect = pc.is_valid(table["_suspect"])
                if pc.any(suspect).as_py():  # rare: copying the table to filter it costs 0.4 s per million lines
                    odd.append(table.filter(suspect).select(["_suspect", "_source_file"]))
                    table = table.filter(pc.invert(suspect))
                for batch in table.drop_columns(["_suspect"]).to_batches(BATCH_ROWS):
                    count[0] += batch.num_rows
                    yield batch.cast(schema) if batch.schema != schema else batch
            if not odd:
                return
            lines = pa.concat_tables(odd)
            texts = lines["_suspect"].to_pylist()
            con.register("suspect_lines", pa.table({
                "value": pa.array(texts, pa.string()), "_source_file": lines["_source_file"],
                "json_text": pa.array([strict_json(v) for v in texts], pa.string())}))
            again = parse_sql(model, "SELECT * FROM suspect_lines", "json_text")
            for batch in con.sql(again).to_arrow_table().drop_columns(["_suspect"]).to_batches(BATCH_ROWS):
                count[0] += batch.num_rows
                yield batch.cast(schema) if batch.schema != schema else batch

        try:
            write_deltalake(location, pa.RecordBatchReader.from_batches(schema, batches()), mode="append",
                            schema_mode="merge")
        except Exception as exc:  # it commits last: nothing was appended
            if unreadable:
                raise Unreadable(str(unreadable[0]).splitlines()[0][:300]) from exc
            raise
    except unreadable_errors as exc:  # the schema's probe of the first group
        raise Unreadable(str(exc).splitlines()[0][:300]) from exc
    finally:
        con.close()
    return count[0]


def _delta_schema(schema: Any) -> Any:
    """DuckDB's Arrow schema with Delta's types: strings and lists in their plain (not large or view) forms and
    timestamps in UTC microseconds."""
    import pyarrow as pa

    def plain(kind: Any) -> Any:
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            return pa.string()
        if pa.types.is_large_list(kind) or pa.types.is_list(kind) or pa.types.is_list_view(kind):
            return pa.list_(plain(kind.value_type))
        if pa.types.is_timestamp(kind):
            return pa.timestamp("us", tz="UTC")
        return kind

    return pa.schema([pa.field(f.name, plain(f.type), nullable=True) for f in schema])
