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


def parse_file(spark: SparkSession, model: RawModel, path: str) -> tuple[DataFrame, DataFrame]:
    """Parse one raw file into (bronze rows, quarantine rows); raise RawDataError if unusable."""
    text = spark.read.text(path).where(F.trim("value") != "")
    text = text.withColumn("_rid", F.monotonically_increasing_id())
    parsed = text.select("_rid", "value", F.from_json("value", model.ddl).alias("r"))
    has_key = {name: F.col("value").rlike(rf'"{name}"\s*:') for name in model.required}
    missing_expr = F.concat_ws(
        ",", *[F.when(~present, F.lit(name)) for name, present in has_key.items()]
    )
    checked = parsed.select(
        "_rid", "value", "r",
        F.col("r.id").isNull().alias("_malformed"),
        missing_expr.alias("_missing"),
    ).cache()
    stats = checked.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col("_malformed").cast("int")).alias("malformed"),
        *[F.sum((~has_key[name]).cast("int")).alias(f"m_{name}") for name in model.required],
    ).first()
    total = int(stats["n"] or 0)
    malformed = int(stats["malformed"] or 0)
    batch = batch_of(path)
    if total == 0:
        raise RawDataError(path, "the file is empty: expected one JSON object per line")
    if malformed and malformed >= max(1, total * MALFORMED_SHARE_LIMIT):
        raise RawDataError(
            path, f"not JSON lines: {malformed} of {total} lines do not parse as JSON objects",
            _line_numbers(checked, F.col("_malformed")),
        )
    for name in model.required:
        if int(stats[f"m_{name}"] or 0) >= total - malformed and total > malformed:
            raise RawDataError(path, f"required field {name!r} of {model.odoo_model} is missing from every record")
    meta = [F.lit(path).alias("_source_file"), F.lit(batch).alias("_batch_id"),
            F.current_timestamp().alias("_ingested_at")]
    good = checked.where(~F.col("_malformed") & (F.col("_missing") == "")).select("r.*", *meta)
    bad = checked.where(F.col("_malformed") | (F.col("_missing") != "")).select(
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
        F.lit(batch).alias("_batch_id"),
        F.lit(path).alias("_source_file"),
        F.substring("value", 1, 2000).alias("raw"),
    )
    return good, bad


def _line_numbers(checked: DataFrame, condition, limit: int = 5) -> list[int]:
    """1-based line numbers of the first rows matching ``condition``, in file order."""
    bad = [r["_rid"] for r in checked.where(condition).orderBy("_rid").select("_rid").limit(limit).collect()]
    return [checked.where(F.col("_rid") <= rid).count() for rid in bad]


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
    """Ingest every new ``<raw_root>/<model>/*.jsonl`` file; validate all of them before writing any."""
    io.ensure_schemas(spark)
    result = BronzeResult()
    staged: list[tuple[RawModel, str, DataFrame, DataFrame]] = []
    for model in models:
        done = ingested_files(spark, model)
        files = sorted(f for f in list_files(f"{raw_root.rstrip('/')}/{model.name}") if f.endswith((".jsonl", ".json")))
        for path in files:
            if path in done:
                result.skipped_files += 1
                continue
            good, bad = parse_file(spark, model, path)
            staged.append((model, path, good, bad))
    batches: set[str] = set()
    for model, path, good, bad in staged:
        rejected = bad.count()
        if rejected:
            # Keyed by source file, so re-ingesting a file after a crash replaces, never duplicates.
            io.replace_where(bad, io.QUARANTINE, f"stage = 'ingest' AND _source_file = '{path}'")
        elif not io.table_exists(spark, io.QUARANTINE):
            io.overwrite(spark.createDataFrame([], QUARANTINE_DDL), io.QUARANTINE)
        io.append(good, model.bronze_table)
        batches.add(batch_of(path))
        result.rows[model.name] = result.rows.get(model.name, 0) + good.count()
        result.rejected[model.name] = result.rejected.get(model.name, 0) + rejected
    result.new_batches = sorted(batches)
    return result
