"""Table names and the only writes the pipeline makes: append, and replace-by-predicate.

Written with the plain Databricks idioms (``saveAsTable`` + ``replaceWhere``) so the notebooks run
unchanged on Databricks; the local engine gives ``saveAsTable`` a stable location. Every write is one
Delta commit, so a stage that fails leaves each table at its last committed version.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

from pyspark.sql import DataFrame, SparkSession

SCHEMAS = ("bronze", "silver", "gold")

BRONZE_LOG = "bronze.ingest_log"
QUARANTINE = "silver.quarantine"
SILVER_MOVES = "silver.moves"
SILVER_LINES = "silver.move_lines"
SILVER_PARTNERS = "silver.partners"
SILVER_TAXES = "silver.taxes"
SILVER_COMPANIES = "silver.companies"
SILVER_RATES = "silver.currency_rates"
TAX_LINES = "silver.tax_lines"
EWT_LINES = "silver.ewt_lines"
VAT_LINES = "silver.vat_lines"
PAYEE_YTD = "silver.payee_ytd"
SILVER_LOG = "silver.batch_log"
BIR_TRANSACTIONS = "gold.bir_transactions"
EWT_BY_ATC = "gold.ewt_by_atc"
BIR_FEATURES = "gold.bir_features"
GOLD_LOG = "gold.batch_log"


@dataclass
class _Listing:
    """What a stage learnt of the catalog: the schemas ensured, and each schema's tables, listed once."""

    schemas_ensured: bool = False
    tables: dict[str, set[str]] = field(default_factory=dict)


_LISTINGS: dict[int, _Listing] = {}  # by id() of the session, while a stage runs (see ``catalog_scope``)
P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def catalog_scope(spark: SparkSession) -> Iterator[None]:
    """While a stage runs, ``table_exists`` answers from one listing per schema (``spark.catalog.listTables``)
    instead of a ``tableExists`` call per question (68 calls in a new month at 1M lines, 5 ms each), and
    ``ensure_schemas`` runs once. This module's own writes and drops keep the listing true; a stage makes no
    other change to the catalog. Outside a scope, or once it ends, every question goes to the catalog again, so
    a table dropped or created between two stages is seen. A scope opened inside another uses the outer one."""
    key = id(spark)
    if key in _LISTINGS:
        yield
        return
    _LISTINGS[key] = _Listing()
    try:
        yield
    finally:
        del _LISTINGS[key]


def stage(fn: Callable[Concatenate[SparkSession, P], R]) -> Callable[Concatenate[SparkSession, P], R]:
    """Runs a stage's entry point (its first argument is the session) inside ``catalog_scope``."""
    @functools.wraps(fn)
    def scoped(spark: SparkSession, *args: P.args, **kwargs: P.kwargs) -> R:
        with catalog_scope(spark):
            return fn(spark, *args, **kwargs)
    return scoped


def ensure_schemas(spark: SparkSession) -> None:
    """Create the lake's schemas that do not exist yet (one listing, then a CREATE per missing schema)."""
    listing = _LISTINGS.get(id(spark))
    if listing is not None and listing.schemas_ensured:
        return
    # Sail names a schema with its catalog (``main.silver``), Databricks and JVM Spark without
    have = {d.name.rsplit(".", 1)[-1] for d in spark.catalog.listDatabases()}
    for schema in SCHEMAS:
        if schema not in have:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    if listing is not None:
        listing.schemas_ensured = True


def table_exists(spark: SparkSession, name: str) -> bool:
    listing = _LISTINGS.get(id(spark))
    schema, _, table = name.rpartition(".")
    if listing is None or not schema:
        return bool(spark.catalog.tableExists(name))
    if schema not in listing.tables:
        listing.tables[schema] = {t.name for t in spark.catalog.listTables(schema) if not t.isTemporary}
    return table in listing.tables[schema]


def _listed(spark: SparkSession, name: str, exists: bool) -> None:
    """Keep the stage's listing true after this module created or dropped ``name``."""
    listing = _LISTINGS.get(id(spark))
    schema, _, table = name.rpartition(".")
    if listing is None or schema not in listing.tables:
        return
    if exists:
        listing.tables[schema].add(table)
    else:
        listing.tables[schema].discard(table)


def table_format() -> str:
    """Delta everywhere, except the JVM parity run (``ODOOLAKE_TABLE_FORMAT=parquet``): no Delta jars can be fetched
    here, so JVM Spark writes plain parquet tables and the same pipeline code runs on both engines."""
    return os.environ.get("ODOOLAKE_TABLE_FORMAT", "delta")


def append(df: DataFrame, name: str) -> None:
    writer = df.write.format(table_format()).mode("append")
    if table_format() == "delta":
        writer = writer.option("mergeSchema", "true")
    writer.saveAsTable(name)
    _listed(df.sparkSession, name, True)


def overwrite(df: DataFrame, name: str, partition_by: Iterable[str] = ()) -> None:
    writer = df.write.format(table_format()).mode("overwrite")
    if table_format() == "delta":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.saveAsTable(name)
    _listed(df.sparkSession, name, True)


def delete_where(spark: SparkSession, name: str, predicate: str) -> None:
    """Take the rows matching ``predicate`` out of the table ``name`` (a replace with no rows: one commit)."""
    replace_where(spark.table(name).limit(0), name, predicate)


def replace_where(df: DataFrame, name: str, predicate: str, partition_by: Iterable[str] = ()) -> None:
    """Atomically replace the rows matching ``predicate`` with ``df`` (creating the table if needed).

    ``df`` must only hold rows that match ``predicate``; callers build it that way.
    """
    spark = df.sparkSession
    if not table_exists(spark, name):
        overwrite(df, name, partition_by)
        return
    if table_format() != "delta":  # parquet: keep the other rows, cut the lineage, rewrite the table
        kept = spark.table(name).where(f"NOT ({predicate})").unionByName(df, allowMissingColumns=True)
        overwrite(kept.localCheckpoint(), name, partition_by)
        return
    writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.saveAsTable(name)


def last_write_rows(spark: SparkSession, name: str) -> int:
    """Rows written by the table's latest commit, from the Delta log (no scan)."""
    if table_format() != "delta":
        return spark.table(name).count()
    last = spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").first()
    if last is None:
        return 0
    metrics = last["operationMetrics"] or {}
    return int(metrics.get("numOutputRows", 0))


def last_commit_at(spark: SparkSession, name: str) -> datetime | None:
    """When the table's latest commit was made (``DESCRIBE HISTORY``); None when unknown (parquet tables on JVM
    Spark, or no such table)."""
    if table_format() != "delta" or not table_exists(spark, name):
        return None
    last = spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").first()
    if last is None:
        return None
    when = last["timestamp"]
    return when if isinstance(when, datetime) else None


def same_layout(spark: SparkSession, name: str, df: DataFrame) -> bool:
    """Whether table ``name`` has exactly ``df``'s columns, in order, with the same types."""
    def layout(schema) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]
    return layout(spark.table(name).schema) == layout(df.schema)


def partition_columns(spark: SparkSession, name: str) -> list[str]:
    """The table's partition columns, in order (the catalog's column listing; the same on every engine)."""
    return [c.name for c in spark.catalog.listColumns(name) if c.isPartition]


def table_bytes(spark: SparkSession, name: str) -> int:
    """Size of a table's current files (``DESCRIBE DETAIL``; 0 when unknown, e.g. parquet tables on JVM Spark)."""
    if table_format() != "delta":
        return 0
    detail = spark.sql(f"DESCRIBE DETAIL {name}").first()
    return int(detail["sizeInBytes"] or 0) if detail is not None else 0


def outdated(spark: SparkSession, expected: dict[str, dict[str, str]]) -> list[str]:
    """Tables that exist but lack a column of the current layout (or hold it with another type), e.g. amounts
    written as DOUBLE before they became DECIMAL(18,2)."""
    stale = []
    for name, columns in expected.items():
        if not table_exists(spark, name):
            continue
        have = {f.name: f.dataType.simpleString() for f in spark.table(name).schema.fields}
        if any(have.get(column) != kind for column, kind in columns.items()):
            stale.append(name)
    return stale


def processed_at(spark: SparkSession, log: str) -> dict[str, datetime | None]:
    """Each batch in a stage's log (``silver.batch_log``, ``gold.batch_log``, ``gold.forms_log``) and when that stage
    last processed it."""
    if not table_exists(spark, log):
        return {}
    return {r[0]: r[1] for r in spark.table(log).select("batch_id", "processed_at").collect()}


def pending_batches(upstream: dict[str, datetime | None], done: dict[str, datetime | None]) -> list[str]:
    """The batches the stage before has processed and this one has not, or not since: a batch can come back (its
    moves file reached bronze after its lines file, and silver processed it again), and each stage after it must
    then take it again."""
    def since(batch: str) -> bool:
        before, after = upstream[batch], done[batch]
        return before is not None and after is not None and before > after
    return sorted(b for b in upstream if b not in done or since(b))


def drop_tables(spark: SparkSession, names: Iterable[str]) -> None:
    """Drop derived tables so they are rebuilt whole (never bronze: it holds what was received)."""
    for name in names:
        if name.startswith("bronze."):
            raise ValueError(f"refusing to drop {name}: bronze is the record of what was received")
        spark.sql(f"DROP TABLE IF EXISTS {name}")
        _listed(spark, name, False)


def sql_string(value: str) -> str:
    """A Spark SQL string literal of ``value``. Spark escapes with a backslash: it reads ``'a''b'`` as two literals
    side by side, ``ab``, and ``'a\\b'`` as ``a`` and a backspace."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def in_list(column: str, values: Iterable[str]) -> str:
    """SQL ``column IN ('a', 'b')`` of strings (periods, batch ids, file names)."""
    quoted = ", ".join(sql_string(v) for v in sorted(set(values)))
    return f"{column} IN ({quoted})" if quoted else "false"


# Deduplicating a large table at once can take the engine's memory; a full run splits it into groups of record ids,
# one per so many bytes of the table, each in a commit of its own that replaces only its group's rows (a run stopped
# between two leaves the others as they were, never missing). A record's versions share its id, so the groups are
# independent. Finding repeated versions is an aggregate of the keys alone: at 30M lines in one group the engine
# peaked at 5.5 GiB.
KEYS_BYTES_PER_BUCKET = 512 * 1024 * 1024


def groups_for(total_bytes: int, bytes_per_group: int) -> int:
    """How many groups work over ``total_bytes`` is split into: one per ``bytes_per_group`` begun, at least one."""
    return max(1, -(-total_bytes // bytes_per_group))


def consecutive_groups(items: Sequence[R], sizes: Sequence[int], bytes_per_group: int) -> list[list[R]]:
    """``items`` in order, in groups of up to ``bytes_per_group`` by ``sizes`` (an item larger than that alone)."""
    groups: list[list[R]] = []
    size = 0
    for item, n in zip(items, sizes, strict=True):
        if not groups or size + n > bytes_per_group:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += n
    return groups


def id_buckets(table_bytes: int, bytes_per_bucket: int) -> int:
    """How many groups of ids a deduplication over ``table_bytes`` of a table is split into."""
    return groups_for(table_bytes, bytes_per_bucket)


def in_bucket(column: str, bucket: int, buckets: int) -> str:
    """The SQL condition for ids of ``bucket`` of ``buckets`` (``pmod``: negative ids too; no id, as a line that
    does not parse has: the first). A CASE, not ``coalesce``, which Sail's replaceWhere refuses ("coalesce should
    have been simplified to case")."""
    return f"CASE WHEN {column} IS NULL THEN 0 ELSE pmod({column}, {buckets}) END = {bucket}"


def bucket_rows(rows: DataFrame, column: str, bucket: int, buckets: int) -> DataFrame:
    """``rows`` whose ``column`` is in ``bucket`` of ``buckets``: all of them, unfiltered, when there is one."""
    return rows if buckets == 1 else rows.where(in_bucket(column, bucket, buckets))


def replace_by_id_bucket(rows_of: Callable[[DataFrame], DataFrame], source: DataFrame, table: str, where: str,
                         written_id: str, buckets: int, partition_by: Sequence[str] = ()) -> None:
    """Replace the rows of ``table`` matching ``where`` with ``rows_of(source)``: in one commit, or in ``buckets``
    commits of ``source``'s ``id``s, each replacing only the rows whose ``written_id`` is in its bucket."""
    for bucket in range(buckets):
        replaced = where if buckets == 1 else f"{where} AND {in_bucket(written_id, bucket, buckets)}"
        replace_where(rows_of(bucket_rows(source, "id", bucket, buckets)), table, replaced, partition_by)
