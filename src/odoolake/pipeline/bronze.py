"""Bronze: raw Odoo drops into append-only Delta tables, as received plus ingestion metadata.

A file is read as text and parsed line by line, so one bad line cannot hide the rest:
- a line that is not JSON, or lacks a required field, goes to ``silver.quarantine`` (stage ``ingest``);
- a file where most lines do not parse is not JSON lines at all, and the run stops naming it;
- a required field missing from every line is schema drift, and the run stops naming it.
Validation happens before anything is written; files already in bronze are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from odoolake.errors import RawDataError
from odoolake.pipeline import io
from odoolake.pipeline.schemas import QUARANTINE_DDL, RAW_MODELS, RawModel

MALFORMED_SHARE_LIMIT = 0.5


@dataclass
class BronzeResult:
    new_batches: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    skipped_files: int = 0


def batch_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".jsonl").removesuffix(".json")


def _parsed(spark: SparkSession, model: RawModel, paths: list[str]) -> DataFrame:
    """Every non-blank line of ``paths`` with its file, parse result and validation columns."""
    texts = None
    for path in paths:
        one = spark.read.text(path).where(F.trim("value") != "").withColumn("_source_file", F.lit(path))
        texts = one if texts is None else texts.unionByName(one)
    assert texts is not None
    has_key = [F.when(~F.col("value").rlike(rf'"{name}"\s*:'), F.lit(name)) for name in model.required]
    return texts.select(
        "value", "_source_file", F.from_json("value", model.ddl).alias("r"),
    ).select(
        "value", "_source_file", "r",
        F.col("r.id").isNull().alias("_malformed"),
        F.concat_ws(",", *has_key).alias("_missing"),
    )


def _validate(spark: SparkSession, model: RawModel, parsed: DataFrame, paths: list[str]) -> dict[str, int]:
    """Per-file checks in one pass; returns rejected line counts per file or raises RawDataError."""
    missing = {name: F.sum(F.array_contains(F.split("_missing", ","), name).cast("int")).alias(f"m_{name}")
               for name in model.required}
    stats = {r["_source_file"]: r for r in parsed.groupBy("_source_file").agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col("_malformed").cast("int")).alias("malformed"),
        F.sum(((F.col("_missing") != "") & ~F.col("_malformed")).cast("int")).alias("incomplete"),
        *missing.values(),
    ).collect()}
    rejected: dict[str, int] = {}
    for path in paths:
        row = stats.get(path)
        if row is None:
            raise RawDataError(path, "the file is empty: expected one JSON object per line")
        total, malformed = int(row["n"]), int(row["malformed"] or 0)
        if malformed and malformed >= max(1, total * MALFORMED_SHARE_LIMIT):
            raise RawDataError(
                path, f"not JSON lines: {malformed} of {total} lines do not parse as JSON objects",
                _line_numbers(spark, model, path),
            )
        for name in model.required:
            if total > malformed and int(row[f"m_{name}"] or 0) >= total - malformed:
                raise RawDataError(path, f"required field {name!r} of {model.odoo_model} is missing from every record")
        rejected[path] = malformed + int(row["incomplete"] or 0)
    return rejected


def _line_numbers(spark: SparkSession, model: RawModel, path: str, limit: int = 5) -> list[int]:
    """1-based numbers of the first lines of ``path`` that do not parse, in file order (error path only)."""
    text = spark.read.text(path).withColumn("_rid", F.monotonically_increasing_id())
    parsed = text.withColumn("_bad", F.from_json("value", model.ddl).getField("id").isNull() & (F.trim("value") != ""))
    bad = [r["_rid"] for r in parsed.where("_bad").orderBy("_rid").select("_rid").limit(limit).collect()]
    return [parsed.where(F.col("_rid") <= rid).count() for rid in bad]


def _rejects(parsed: DataFrame, model: RawModel) -> DataFrame:
    batch = F.regexp_extract("_source_file", r"([^/]+?)(\.jsonl|\.json)?$", 1)
    return parsed.where(F.col("_malformed") | (F.col("_missing") != "")).select(
        F.lit("ingest").alias("stage"),
        F.when(F.col("_malformed"), F.lit("MALFORMED_JSON")).otherwise(F.lit("MISSING_FIELD")).alias("reason"),
        F.lit("rejected").alias("action"),
        F.lit(model.odoo_model).alias("model"),
        F.col("r.id").alias("record_id"),
        F.lit(None).cast("bigint").alias("move_id"),
        F.lit(None).cast("string").alias("period"),
        F.lit(None).cast("string").alias("agency"),
        F.when(F.col("_malformed"), F.lit("line does not parse as a JSON object"))
        .otherwise(F.concat(F.lit("missing required field(s): "), F.col("_missing"))).alias("detail"),
        batch.alias("_batch_id"),
        F.col("_source_file"),
        F.substring("value", 1, 2000).alias("raw"),
    )


def ingested_files(spark: SparkSession, model: RawModel) -> set[str]:
    if not io.table_exists(spark, model.bronze_table):
        return set()
    return {r[0] for r in spark.table(model.bronze_table).select("_source_file").distinct().collect()}


def ingest(
    spark: SparkSession,
    raw_root: str,
    list_files: Callable[[str], Iterable[str]],
    models: Iterable[RawModel] = RAW_MODELS,
) -> BronzeResult:
    """Ingest every new ``<raw_root>/<model>/*.jsonl`` file; validate all of them before writing any.

    Two passes per model: one to validate every new file, one to append the good lines.
    """
    io.ensure_schemas(spark)
    result = BronzeResult()
    staged: list[tuple[RawModel, list[str], DataFrame, dict[str, int]]] = []
    for model in models:
        done = ingested_files(spark, model)
        listed = sorted(f for f in list_files(f"{raw_root.rstrip('/')}/{model.name}") if f.endswith((".jsonl", ".json")))
        new = [f for f in listed if f not in done]
        result.skipped_files += len(listed) - len(new)
        if not new:
            continue
        parsed = _parsed(spark, model, new)
        staged.append((model, new, parsed, _validate(spark, model, parsed, new)))
    if not io.table_exists(spark, io.QUARANTINE):
        io.overwrite(spark.createDataFrame([], QUARANTINE_DDL), io.QUARANTINE)
    for model, paths, parsed, rejected in staged:
        if any(rejected.values()):
            # Keyed by source file, so re-ingesting a file after a crash replaces, never duplicates.
            io.replace_where(_rejects(parsed, model), io.QUARANTINE,
                             f"stage = 'ingest' AND {io.in_list('_source_file', paths)}")
        good = parsed.where(~F.col("_malformed") & (F.col("_missing") == "")).select(
            "r.*", "_source_file",
            F.regexp_extract("_source_file", r"([^/]+?)(\.jsonl|\.json)?$", 1).alias("_batch_id"),
            F.current_timestamp().alias("_ingested_at"),
        )
        io.append(good, model.bronze_table)
        result.rows[model.name] = io.last_write_rows(spark, model.bronze_table)
        result.rejected[model.name] = sum(rejected.values())
        result.new_batches.extend(batch_of(p) for p in paths)
    result.new_batches = sorted(set(result.new_batches))
    return result
