"""Table names and the only writes the pipeline makes: append, and replace-by-predicate.

Written with the plain Databricks idioms (``saveAsTable`` + ``replaceWhere``) so the notebooks run
unchanged on Databricks; the local engine gives ``saveAsTable`` a stable location. Every write is one
Delta commit, so a stage that fails leaves each table at its last committed version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession

SCHEMAS = ("bronze", "silver", "gold")

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


def ensure_schemas(spark: SparkSession) -> None:
    for schema in SCHEMAS:
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def table_exists(spark: SparkSession, name: str) -> bool:
    return bool(spark.catalog.tableExists(name))


def table_format() -> str:
    """Delta everywhere, except the JVM parity run (``ODOOLAKE_TABLE_FORMAT=parquet``): no Delta jars can be fetched
    here, so JVM Spark writes plain parquet tables and the same pipeline code runs on both engines."""
    return os.environ.get("ODOOLAKE_TABLE_FORMAT", "delta")


def append(df: DataFrame, name: str) -> None:
    writer = df.write.format(table_format()).mode("append")
    if table_format() == "delta":
        writer = writer.option("mergeSchema", "true")
    writer.saveAsTable(name)


def overwrite(df: DataFrame, name: str, partition_by: Iterable[str] = ()) -> None:
    writer = df.write.format(table_format()).mode("overwrite")
    if table_format() == "delta":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.saveAsTable(name)


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
    if isinstance(metrics, str):  # the local engine serves history as JSON text; Databricks as a map
        metrics = json.loads(metrics)
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
    if isinstance(when, str):  # the local engine serves history timestamps as ISO text; Databricks as timestamps
        return datetime.fromisoformat(when)
    return when if isinstance(when, datetime) else None


def same_layout(spark: SparkSession, name: str, df: DataFrame) -> bool:
    """Whether table ``name`` has exactly ``df``'s columns, in order, with the same types."""
    def layout(schema) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in schema.fields]
    return layout(spark.table(name).schema) == layout(df.schema)


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


def drop_tables(spark: SparkSession, names: Iterable[str]) -> None:
    """Drop derived tables so they are rebuilt whole (never bronze: it holds what was received)."""
    for name in names:
        if name.startswith("bronze."):
            raise ValueError(f"refusing to drop {name}: bronze is the record of what was received")
        spark.sql(f"DROP TABLE IF EXISTS {name}")


def in_list(column: str, values: Iterable[str]) -> str:
    """SQL ``column IN ('a', 'b')`` for trusted literals (periods, batch ids)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(set(values)))
    return f"{column} IN ({quoted})" if quoted else "false"
