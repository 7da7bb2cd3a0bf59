"""Bronze: raw Odoo drops into append-only Delta tables, as received plus ingestion metadata.

A file is read as text and parsed line by line, so one bad line cannot hide the rest:
- a line that is not JSON, or lacks a required field, is kept in bronze flagged in ``_reject`` (with its raw
  text) and goes to ``silver.quarantine`` (stage ``ingest``);
- a file that is empty, or whose first lines mostly do not parse, is not JSON lines at all, and the run stops
  naming it and the lines, before anything is written;
- a required field missing from every line is schema drift, and the run stops naming it;
- a file holding one record version twice is found after the append: the run stops naming it and the record, and
  takes that file's rows back out of bronze (only that file's: the others are finished as usual).
Files already in bronze are skipped. Each model's new files are parsed once (Sail's ``cache()`` is a no-op).
A file's ingest finishes after its append: its rows are checked and its rejected lines quarantined, then it is
listed in ``bronze.ingest_log``. A file in bronze but not in the log was appended by a run stopped before that (a
cancelled or killed job): the next ingest checks and quarantines it then, in place.

On the embedded engine, the owner's own sessions parse and append natively (DuckDB + delta-rs, :mod:`.native`),
with the same rows as the PySpark path below, which is what runs on Databricks and JVM Spark.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from odoolake.bir import reasons
from odoolake.errors import RawDataError
from odoolake.pipeline import io
from odoolake.pipeline.schemas import QUARANTINE_DDL, RAW_MODELS, RawModel

MALFORMED_SHARE_LIMIT = 0.5
SAMPLE_LINES = 1000
MALFORMED_DETAIL = "line does not parse as a JSON object"
MISSING_DETAIL = "missing or null required field(s): "
BRONZE_META_DDL = ("_source_file string, _batch_id string, _ingested_at timestamp, _reject string, _detail string, "
                   "_raw string")  # the columns bronze adds to each model's fields, in order
# The PySpark path's append holds more memory the more raw text, and the more files, it takes at once (at the
# 30M-line extract's size: 24 monthly files of lines, 14.2 GiB, 3.7 GiB in one append; 7.1 GiB as 12 files 2.2 GiB,
# as 4 files 1.7 GiB; 24 files of moves, 3.8 GiB, 3.1 GiB). Where the files' sizes are known (``local_bytes``), a
# first load is appended in groups of files of up to this many bytes, each group a commit (a run stopped between two
# is finished by the next, as any stopped append is: the module's doc).
APPEND_BYTES_PER_GROUP = 2 << 30
INGEST_LOG_DDL = "source_file string, model string, batch_id string"  # then finished_at, the time of the run
NOT_UTF8 = ("holds bytes that are not UTF-8 (saved as Windows-1252, Latin-1 or UTF-16?): Odoo's extracts are UTF-8 "
            "JSON lines; convert it, e.g. `iconv -f cp1252 -t utf-8`, and run again")
UNDECODABLE = "invalid UTF-8"  # how Sail's reader says it, naming no file ("Encountered invalid UTF-8 data at line 2")
REPEATED_RECORD = ("holds record id {id} twice with the same write_date {write_date}: one extract delivers each "
                   "record version once; remove the repeated line (or split the file into two drops) and run again")


@dataclass
class Checked:
    """What ``_check_new_rows`` found in a group of appended files: their lines and the rejected lines among them; the
    files refused for repeating a record version (``_finish`` takes them back out of bronze), and the error naming
    the first of them."""

    rows: int = 0
    rejected: int = 0
    refused: list[str] = field(default_factory=list)
    error: RawDataError | None = None

    def raise_refusal(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class BronzeResult:
    new_batches: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    skipped_files: int = 0
    # model -> why the native path could not read its new files (a file mixing line endings): the engine appended them
    engine_appended: dict[str, str] = field(default_factory=dict)


RAW_SUFFIXES = (".jsonl", ".json")  # the raw drops bronze takes in


def batch_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".jsonl").removesuffix(".json")


def _parsed(spark: SparkSession, model: RawModel, paths: list[str], sample: int | None = None) -> DataFrame:
    """Every non-blank line of ``paths`` (or the first ``sample`` of each) with its file, parse and verdict."""
    texts = None
    for path in paths:
        one = spark.read.text(path).where(F.trim("value") != "")
        if sample is not None:
            one = one.limit(sample)
        one = one.withColumn("_source_file", F.lit(path))
        texts = one if texts is None else texts.unionByName(one)
    assert texts is not None
    parsed = texts.select("value", "_source_file", F.from_json("value", model.ddl).alias("r"))
    # a required field must be present and not null (Odoo sends false, never null, for an empty value), except
    # those a tombstone does not carry
    alive = ~F.coalesce(F.col("r._deleted"), F.lit(False))
    waived = model.required_unless_deleted()
    absent = [F.when(F.col(f"r.{name}").isNull() & alive if name in waived else F.col(f"r.{name}").isNull(),
                     F.lit(name)) for name in model.required if name != "id"]
    malformed = F.col("r.id").isNull()
    missing = F.concat_ws(",", *absent)
    return parsed.select(
        "value", "_source_file", "r",
        F.when(malformed, F.lit(reasons.MALFORMED_JSON.code)).when(missing != "", F.lit(reasons.MISSING_FIELD.code))
        .alias("_reject"),
        F.when(malformed, F.lit(MALFORMED_DETAIL))
        .when(missing != "", F.concat(F.lit(MISSING_DETAIL), missing)).alias("_detail"),
        missing.alias("_missing"),
    )


def _bronze_rows(spark: SparkSession, model: RawModel, paths: list[str]) -> DataFrame:
    """The rows one append adds: the model's fields, then ``BRONZE_META_DDL``'s columns."""
    return _parsed(spark, model, paths).select(
        "r.*", "_source_file",
        F.regexp_extract("_source_file", r"([^/]+?)(\.jsonl|\.json)?$", 1).alias("_batch_id"),
        F.current_timestamp().alias("_ingested_at"),
        "_reject", "_detail", F.when(F.col("_reject").isNotNull(), F.col("value")).alias("_raw"),
    )


def _precheck(spark: SparkSession, model: RawModel, paths: list[str]) -> None:
    """Refuse, before anything is written, files that are empty, not JSON lines, or lack a field on every line.

    Judged on the first SAMPLE_LINES lines of each file, in one query for all files of a model; lines that fail
    later in an accepted file are kept as rejected rows and quarantined.
    """
    sample = _parsed(spark, model, paths, SAMPLE_LINES)
    stats = {r["_source_file"]: r for r in sample.groupBy("_source_file").agg(
        F.count(F.lit(1)).alias("n"),
        F.sum((F.col("_reject") == reasons.MALFORMED_JSON.code).cast("int")).alias("malformed"),
        *[F.sum(F.array_contains(F.split("_missing", ","), name).cast("int")).alias(f"m_{name}")
          for name in model.required if name != "id"],
    ).collect()}
    for path in paths:
        row = stats.get(path)
        if row is None:
            raise RawDataError(path, "the file is empty: expected one JSON object per line")
        total, malformed = int(row["n"]), int(row["malformed"] or 0)
        if malformed and malformed >= max(1, total * MALFORMED_SHARE_LIMIT):
            raise RawDataError(
                path, f"not JSON lines: {malformed} of the first {total} lines do not parse as JSON objects",
                _line_numbers(spark, model, path),
            )
        for name in model.required:
            if name != "id" and total > malformed and int(row[f"m_{name}"] or 0) >= total - malformed:
                raise RawDataError(path, f"required field {name!r} of {model.odoo_model} is missing from every record")


def _line_numbers(spark: SparkSession, model: RawModel, path: str, limit: int = 5) -> list[int]:
    """1-based numbers of the first lines of ``path`` that do not parse, in file order (error path only)."""
    text = spark.read.text(path).withColumn("_rid", F.monotonically_increasing_id())
    parsed = text.withColumn("_bad", F.from_json("value", model.ddl).getField("id").isNull() & (F.trim("value") != ""))
    bad = [r["_rid"] for r in parsed.where("_bad").orderBy("_rid").select("_rid").limit(limit).collect()]
    return [parsed.where(F.col("_rid") <= rid).count() for rid in bad]


def valid_rows(spark: SparkSession, model: RawModel) -> DataFrame:
    """The bronze rows silver may use: everything that parsed and has its required fields.

    A field the contract gained after older files were ingested reads as null for them (bronze keeps what was
    received; only new files carry the new field)."""
    rows = spark.table(model.bronze_table).where(F.col("_reject").isNull())
    have = set(rows.columns)
    missing = [F.lit(None).cast(kind).alias(name) for name, kind in model.fields if name not in have]
    return rows.select("*", *missing) if missing else rows


def _quarantine_rows(bronze: DataFrame, model: RawModel, paths: list[str]) -> DataFrame:
    return bronze.where(F.col("_reject").isNotNull() & F.col("_source_file").isin(paths)).select(
        F.lit("ingest").alias("stage"),
        F.col("_reject").alias("reason"),
        F.lit("rejected").alias("action"),
        F.lit(model.odoo_model).alias("model"),
        F.col("id").alias("record_id"),
        F.lit(None).cast("bigint").alias("move_id"),
        F.lit(None).cast("string").alias("period"),
        F.lit(None).cast("string").alias("agency"),
        F.col("_detail").alias("detail"),
        F.col("_batch_id"),
        F.col("_source_file"),
        F.substring("_raw", 1, 2000).alias("raw"),
    )


def _check_new_rows(spark: SparkSession, model: RawModel, paths: list[str]) -> Checked:
    """The rows ``paths`` brought to bronze and the rejected lines among them, file by file; a file that repeats a
    record version is refused, since silver orders a record's deliveries by ``(write_date, batch, file)`` and needs
    that order total (``_finish`` takes it back out of bronze). One aggregate over their rows answers all three (a
    file's rows came in one append: no history query is needed for the count). Several files into a large table (a
    first load) are counted one group of ids at a time (``io.id_buckets``: a record's versions share its id); one
    file, as a month's extract brings, at once, without asking the table's size."""
    new = spark.table(model.bronze_table).where(F.col("_source_file").isin(paths))
    valid = F.col("_reject").isNull()
    buckets = io.id_buckets(io.table_bytes(spark, model.bronze_table), io.KEYS_BYTES_PER_BUCKET) if len(paths) > 1 \
        else 1
    per_file: dict[str, list[int]] = {}  # rows, rejected, record versions repeated
    for bucket in range(buckets):
        per_key = io.bucket_rows(new, "id", bucket, buckets).groupBy("_source_file", "id", "write_date").agg(
            F.count(F.lit(1)).alias("n"), F.sum(valid.cast("int")).alias("v"))
        for row in per_key.groupBy("_source_file").agg(
                F.sum("n").alias("rows"), F.sum(F.col("n") - F.col("v")).alias("rejected"),
                F.sum((F.col("v") > 1).cast("int")).alias("repeated")).collect():
            counts = per_file.setdefault(row["_source_file"], [0, 0, 0])
            for i, name in enumerate(("rows", "rejected", "repeated")):
                counts[i] += int(row[name] or 0)
    checked = Checked(rows=sum(c[0] for c in per_file.values()), rejected=sum(c[1] for c in per_file.values()),
                      refused=sorted(f for f, (_, _, repeated) in per_file.items() if repeated))
    if checked.refused:
        first = checked.refused[0]
        example = new.where(F.col("_source_file") == first).groupBy("id", "write_date").agg(
            F.sum(valid.cast("int")).alias("v")).where(F.col("v") > 1).orderBy("id").first()
        assert example is not None  # the aggregate just counted it
        others = checked.refused[1:]
        also = f"; refused too, for the same reason: {', '.join(others)}" if others else ""
        checked.error = RawDataError(first, REPEATED_RECORD.format(id=example["id"], write_date=example["write_date"])
                                     + also)
    return checked


def local_bytes(spark: SparkSession, uris: list[str]) -> list[int] | None:
    """Each file's size where the session's engine is the local one and the files are in its workspace (``dbfs:/``,
    ``/dbfs/`` or ``/Volumes/`` paths, the only ones it reads), else None."""
    engine = getattr(spark, "_odoolake_engine", None)
    if engine is None or engine.remote is not None:
        return None
    paths = engine.paths
    try:
        return [(paths.volume_to_local(uri) if uri.startswith("/Volumes/") else paths.dbfs_to_local(uri)).stat().st_size
                for uri in uris]
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _naming_undecodable(spark: SparkSession, paths: list[str]) -> Iterator[None]:
    """Name the file when the engine stops at bytes that are not UTF-8: Sail says only "invalid UTF-8 data at line N"
    (N counted from a part of the file it split, not the file's start), so on that error alone each file is read
    again by itself to find it. JVM Spark reads such bytes as U+FFFD and never stops here."""
    try:
        yield
    except Exception as exc:
        if UNDECODABLE not in str(exc):
            raise
        for path in paths:
            try:
                spark.read.text(path).count()
            except Exception as alone:
                if UNDECODABLE in str(alone):
                    raise RawDataError(path, NOT_UTF8) from exc
        raise


def _append(spark: SparkSession, model: RawModel, uris: list[str]) -> None:
    """The PySpark path's append: in one commit, or in groups of ``APPEND_BYTES_PER_GROUP`` where sizes are known."""
    sizes = local_bytes(spark, uris) if len(uris) > 1 else None
    for group in io.consecutive_groups(uris, sizes, APPEND_BYTES_PER_GROUP) if sizes else [uris]:
        io.append(_bronze_rows(spark, model, group), model.bronze_table)


def _finish(spark: SparkSession, model: RawModel, paths: list[str]) -> Checked:
    """Check the appended files ``paths`` (``_check_new_rows``), take the refused ones back out of bronze (only those:
    a stopped run's files may have no raw copy left) and quarantine the others' rejected lines."""
    checked = _check_new_rows(spark, model, paths)
    if checked.refused:
        io.delete_where(spark, model.bronze_table, io.in_list("_source_file", checked.refused))
    kept = [p for p in paths if p not in checked.refused]
    if checked.rejected:
        # Keyed by source file, so finishing a file's ingest again replaces, never duplicates.
        io.replace_where(_quarantine_rows(spark.table(model.bronze_table), model, kept), io.QUARANTINE,
                         f"stage = 'ingest' AND {io.in_list('_source_file', kept)}")
    return checked


def ingested_files(spark: SparkSession, model: RawModel) -> set[str]:
    """The files whose rows are in the model's bronze table (appended, whether or not their ingest finished)."""
    if not io.table_exists(spark, model.bronze_table):
        return set()
    return {r[0] for r in spark.table(model.bronze_table).select("_source_file").distinct().collect()}


def finished_files(spark: SparkSession) -> set[str]:
    """The files whose ingest finished: appended, checked and quarantined (``io.BRONZE_LOG``)."""
    return {r[0] for r in spark.table(io.BRONZE_LOG).select("source_file").collect()}


def _log_rows(spark: SparkSession, files: list[tuple[RawModel, str]]) -> DataFrame:
    rows = spark.createDataFrame([(path, model.name, batch_of(path)) for model, path in files], INGEST_LOG_DDL)
    return rows.withColumn("finished_at", F.current_timestamp())


def _log_finished(spark: SparkSession, files: list[tuple[RawModel, str]]) -> None:
    """List ``files`` in the log: none of them is there (``ingest`` takes out a file whose rows left bronze)."""
    if files:
        io.append(_log_rows(spark, files), io.BRONZE_LOG)


@io.stage
def ingest(
    spark: SparkSession,
    raw_root: str,
    list_files: Callable[[str], Iterable[str]],
    models: Iterable[RawModel] = RAW_MODELS,
) -> BronzeResult:
    """Ingest every new ``<raw_root>/<model>/*.jsonl`` file.

    Every new file of every model is pre-checked before anything is written; then each model's files are
    parsed once and appended in one commit (a first load of large files on this machine: in groups, ``_append``),
    rejected lines included (flagged in ``_reject``, with the raw text): bronze keeps what was received. The
    rejected lines are also written to ``silver.quarantine``.
    Files a stopped run appended but did not finish are checked and quarantined first, on their own (the module's
    doc)."""
    io.ensure_schemas(spark)
    models = list(models)
    result = BronzeResult()
    in_bronze = {model.name: ingested_files(spark, model) for model in models}
    if not io.table_exists(spark, io.BRONZE_LOG):
        # Created before anything is appended. Files already in bronze were ingested by an earlier version, which
        # kept no log: they count as finished (one it left unchecked cannot be told apart).
        every = {m.name: m for m in (*RAW_MODELS, *models)}.values()
        earlier = [(m, f) for m in every
                   for f in sorted(in_bronze[m.name] if m.name in in_bronze else ingested_files(spark, m))]
        io.overwrite(_log_rows(spark, earlier), io.BRONZE_LOG)
    finished = finished_files(spark)
    staged: list[tuple[RawModel, list[str], list[str]]] = []
    forgotten: list[str] = []
    for model in models:
        done = in_bronze[model.name]
        listed = sorted(f for f in list_files(f"{raw_root.rstrip('/')}/{model.name}") if f.endswith(RAW_SUFFIXES))
        new = [f for f in listed if f not in done]
        unfinished = sorted(done - finished)  # appended by a run stopped before its check
        forgotten += [f for f in new if f in finished]
        result.skipped_files += sum(f in done and f in finished for f in listed)
        if new:
            with _naming_undecodable(spark, new):
                _precheck(spark, model, new)
        if new or unfinished:
            staged.append((model, new, unfinished))
    if forgotten:  # finished once, but their rows left bronze (a dropped table): unfinished until checked again
        # Their old rejected lines go too, before the log rows: a run stopped between the two finds them forgotten again.
        if io.table_exists(spark, io.QUARANTINE):
            io.delete_where(spark, io.QUARANTINE, f"stage = 'ingest' AND {io.in_list('_source_file', forgotten)}")
        io.delete_where(spark, io.BRONZE_LOG, io.in_list("source_file", forgotten))
    if not io.table_exists(spark, io.QUARANTINE):
        io.overwrite(spark.createDataFrame([], QUARANTINE_DDL), io.QUARANTINE)
    from odoolake.pipeline import native

    local = native.enabled(spark)  # the local engine's own session: DuckDB parses, delta-rs appends
    checked: list[tuple[RawModel, str]] = []
    try:
        for model, new, unfinished in staged:
            rows = rejected = 0
            if unfinished:  # before the new files: a refusal stops the ingest before they are appended
                outcome = _finish(spark, model, unfinished)
                checked.extend((model, p) for p in unfinished if p not in outcome.refused)
                outcome.raise_refusal()
                rows, rejected = outcome.rows, outcome.rejected
            if new:
                appended: int | None = None  # the native path's own count, which the parity test compares
                if local is not None:
                    try:
                        appended = native.append(spark, local, model, new)
                    except native.Unreadable as exc:  # nothing was appended; the PySpark path is the reference
                        result.engine_appended[model.name] = str(exc)
                if appended is None:
                    with _naming_undecodable(spark, new):
                        _append(spark, model, new)
                outcome = _finish(spark, model, new)
                checked.extend((model, p) for p in new if p not in outcome.refused)
                outcome.raise_refusal()
                rows += outcome.rows if appended is None else appended
                rejected += outcome.rejected
            result.rows[model.name] = rows - rejected
            result.rejected[model.name] = rejected
            result.new_batches.extend(batch_of(p) for p in unfinished + new)
    except Exception:
        # What was finished before a refusal (or a failure: the memory, the engine) is not checked again; if the log
        # cannot be written either, the error to report is the first.
        with contextlib.suppress(Exception):
            _log_finished(spark, checked)
        raise
    _log_finished(spark, checked)
    result.new_batches = sorted(set(result.new_batches))
    return result
