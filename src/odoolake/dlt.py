"""A DLT-compatible module for local pipelines: ``@table``, ``@view``, ``@materialized_view``, expectations
(``@expect``, ``@expect_or_drop``, ``@expect_or_fail`` and the ``expect_all*`` forms) and ``read``.

Databricks notebooks say ``import dlt``. The name ``dlt`` belongs to another PyPI project, so this module is not
shipped as ``dlt``; the local pipeline runner maps it in with ``install_alias()`` (opt-in), or a notebook can
``import odoolake.dlt as dlt``.

``run_pipeline`` executes the datasets a notebook defined, in the order their ``read`` calls require (a dataset
is materialised the first time something reads it), checks expectations in one aggregate per dataset, and
appends the metrics to an event-log table. Its notebooks get a ``LiveSession`` as ``spark``: ``LIVE.<dataset>`` (or
the dataset's bare name) in ``spark.table``, ``spark.read.table``, ``spark.readStream.table`` and ``spark.sql`` reads
the pipeline's own dataset, as in a Databricks pipeline.

- Tables and materialized views are recomputed on every update.
- A table whose function calls ``read_stream`` is a **streaming table**. Its first update reads the whole
  source. Each later update reads only what was appended to the source since the version checkpointed in the
  table's properties (``odoolake.streaming.checkpoint.<source>``), runs the expectations on those rows alone and
  appends them. A source changed in place (delete, update, overwrite) stops the update with the commit that
  did it. The data is appended first and the checkpoint committed second, so a crash between the two re-reads
  that increment: the delivery is at-least-once.
- ``full_refresh`` drops the tables, checkpoints included, and rebuilds from the whole source.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odoolake.errors import OdoolakeError


class ExpectationFailed(OdoolakeError):
    def __init__(self, dataset: str, expectation: str, failed: int) -> None:
        self.dataset, self.expectation, self.failed = dataset, expectation, failed
        super().__init__(f"Expectation {expectation!r} on {dataset} failed for {failed} row(s) (expect_or_fail): "
                         "the update stopped and the table was not written.")


class PipelineDefinitionError(OdoolakeError):
    pass


@dataclass
class Expectation:
    name: str
    condition: str
    action: str  # warn | drop | fail


@dataclass
class Dataset:
    name: str
    kind: str  # table | materialized_view | view
    fn: Callable[[], Any]
    comment: str | None = None
    partition_cols: list[str] | None = None
    expectations: list[Expectation] = field(default_factory=list)


_registry: dict[str, Dataset] = {}
_pending: dict[Callable, list[Expectation]] = {}
_context: dict[str, Any] = {}


def _expectation(action: str, name: str, condition: str) -> Callable:
    def decorate(fn: Callable) -> Callable:
        expectation = Expectation(name, condition, action)
        registered = getattr(fn, "_dlt_dataset", None)
        if registered:  # the expectation decorator sits above @dlt.table
            _registry[registered].expectations.insert(0, expectation)
        else:
            _pending.setdefault(fn, []).insert(0, expectation)
        return fn

    return decorate


def expect(name: str, condition: str) -> Callable:
    return _expectation("warn", name, condition)


def expect_or_drop(name: str, condition: str) -> Callable:
    return _expectation("drop", name, condition)


def expect_or_fail(name: str, condition: str) -> Callable:
    return _expectation("fail", name, condition)


def _expect_all(action: str, expectations: dict[str, str]) -> Callable:
    def decorate(fn: Callable) -> Callable:
        for name, condition in reversed(list(expectations.items())):
            _expectation(action, name, condition)(fn)
        return fn

    return decorate


def expect_all(expectations: dict[str, str]) -> Callable:
    return _expect_all("warn", expectations)


def expect_all_or_drop(expectations: dict[str, str]) -> Callable:
    return _expect_all("drop", expectations)


def expect_all_or_fail(expectations: dict[str, str]) -> Callable:
    return _expect_all("fail", expectations)


def _dataset(kind: str, fn: Callable | None, name: str | None, comment: str | None,
             partition_cols: list[str] | None) -> Callable:
    def register(f: Callable) -> Callable:
        dataset_name = name or f.__name__
        if dataset_name in _registry:
            raise PipelineDefinitionError(f"Dataset {dataset_name!r} is defined twice in the pipeline.")
        _registry[dataset_name] = Dataset(dataset_name, kind, f, comment, partition_cols, list(_pending.pop(f, [])))
        f._dlt_dataset = dataset_name  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


def table(fn: Callable | None = None, *, name: str | None = None, comment: str | None = None,
          partition_cols: list[str] | None = None, **_: Any) -> Callable:
    return _dataset("table", fn, name, comment, partition_cols)


def materialized_view(fn: Callable | None = None, *, name: str | None = None, comment: str | None = None,
                      partition_cols: list[str] | None = None, **_: Any) -> Callable:
    return _dataset("materialized_view", fn, name, comment, partition_cols)


def view(fn: Callable | None = None, *, name: str | None = None, comment: str | None = None, **_: Any) -> Callable:
    return _dataset("view", fn, name, comment, None)


def read(name: str) -> Any:
    """The DataFrame of another dataset of this pipeline (materialised first if needed), or of a catalog table."""
    runner = _context.get("runner")
    if runner is None:
        raise PipelineDefinitionError("dlt.read() is only available while a pipeline update runs.")
    return runner.materialise(name)


def read_stream(name: str) -> Any:
    """Rows appended to a dataset of this pipeline, or to a catalog table, since this streaming table last read it."""
    runner = _context.get("runner")
    if runner is None:
        raise PipelineDefinitionError("dlt.read_stream() is only available while a pipeline update runs.")
    return runner.stream(name)


# -- LIVE.<dataset>: the pipeline's own datasets by name ------------------------------------------------------

LIVE_SCHEMA = "live"  # the virtual schema a pipeline's code names its own datasets with


def _dataset_of(parts: list[str]) -> str | None:
    """The dataset of this pipeline a table name reads: ``LIVE.x`` (an error when ``x`` is not one), or a one-part
    name that is one (Databricks resolves a bare name to the pipeline's dataset first); None for any other name."""
    by_name = {name.lower(): name for name in _registry}
    if len(parts) == 2 and parts[0].lower() == LIVE_SCHEMA:
        found = by_name.get(parts[1].lower())
        if found is None:
            defined = ", ".join(sorted(_registry)) or "none"
            raise PipelineDefinitionError(f"LIVE.{parts[1]} is not a dataset of this pipeline (defined: {defined}).")
    elif len(parts) == 1 and _context.get("runner") is not None:
        found = by_name.get(parts[0].lower())
        if found is None:
            return None
    else:
        return None
    if _context.get("runner") is None:
        raise PipelineDefinitionError(f"LIVE.{found} is read while the pipeline's datasets are being defined: read "
                                      "it inside a dataset function (@dlt.table, @dlt.view).")
    return found


def _name_parts(name: str) -> list[str]:
    return [part.strip("`") for part in re.findall(r"`[^`]*`|[^.`]+", name.strip())]


def _live_sql(text: str) -> str:
    """``text`` with each dataset of this pipeline it reads (``LIVE.x`` or ``x``) materialised and named as the
    engine knows it: ``<target>.x`` for a table, the temporary view ``x`` for a view."""
    runner: Any = _context.get("runner")  # set whenever _dataset_of answers a dataset
    names = {name.lower() for name in _registry} | {LIVE_SCHEMA}
    if not _registry or not any(word.lower() in names for word in re.findall(r"\w+", text)):
        return text
    from odoolake.workspace.engine import sqltext, views  # sqlglot: only for a statement that names a dataset

    def named(ref: views.TableRef) -> str | None:
        dataset = _dataset_of(list(ref.parts))
        if dataset is None:
            return None
        runner.materialise(dataset)
        if _registry[dataset].kind == "view":
            return sqltext.quote_path(dataset, "`")
        return f"{sqltext.quote_path(runner.target, '`')}.{sqltext.quote_path(dataset, '`')}"

    return views.replace_names(text, views.table_refs(text), named)


class _LiveReader:
    """``spark.read`` / ``spark.readStream`` whose ``table()`` reads a dataset of the pipeline by its LIVE name."""

    def __init__(self, reader: Any, stream: bool) -> None:
        self._reader, self._stream = reader, stream

    def table(self, tableName: str) -> Any:
        dataset = _dataset_of(_name_parts(tableName))
        if dataset is None:
            return self._reader.table(tableName)
        return read_stream(dataset) if self._stream else read(dataset)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._reader, name)
        if not callable(attr):
            return attr

        def chained(*args: Any, **kwargs: Any) -> Any:  # format(), option() … return the reader: keep it wrapped
            out = attr(*args, **kwargs)
            return _LiveReader(out, self._stream) if out is self._reader else out
        return chained


class LiveSession:
    """The ``spark`` a pipeline's notebooks get: a Spark session whose table reads know the pipeline's datasets.

    ``spark.table("LIVE.x")``, ``spark.read.table("LIVE.x")`` and ``spark.sql("… FROM LIVE.x")`` read dataset ``x``
    as ``dlt.read("x")`` does (materialised first, so a dataset may read one defined after it), and
    ``spark.readStream.table("LIVE.x")`` as ``dlt.read_stream("x")``; a bare ``x`` that names a dataset reads it too.
    Everything else is the session's own."""

    def __init__(self, spark: Any) -> None:
        self._spark = spark

    def table(self, tableName: str) -> Any:
        return self.read.table(tableName)

    @property
    def read(self) -> _LiveReader:
        return _LiveReader(self._spark.read, stream=False)

    @property
    def readStream(self) -> _LiveReader:
        return _LiveReader(self._spark.readStream, stream=True)

    def sql(self, sqlQuery: str, *args: Any, **kwargs: Any) -> Any:
        return self._spark.sql(_live_sql(sqlQuery), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spark, name)


def install_alias() -> None:
    """Make ``import dlt`` resolve to this module, unless another ``dlt`` is already imported."""
    existing = sys.modules.get("dlt")
    if existing is not None and existing is not sys.modules[__name__]:
        raise PipelineDefinitionError("Another module named 'dlt' is already imported; use 'import odoolake.dlt as dlt'.")
    sys.modules["dlt"] = sys.modules[__name__]


def reset() -> None:
    _registry.clear()
    _pending.clear()


# -- running an update ----------------------------------------------------------------------------------

@dataclass
class DatasetResult:
    name: str
    kind: str
    rows: int
    expectations: list[dict[str, Any]]


CHECKPOINT_PREFIX = "odoolake.streaming.checkpoint."


class _Runner:
    def __init__(self, spark: Any, target: str, full_refresh: bool) -> None:
        self.spark = spark
        self.target = target
        self.full_refresh = full_refresh
        self.done: dict[str, Any] = {}
        self.results: list[DatasetResult] = []
        self._active: list[str] = []
        self.streams: dict[str, dict[str, int]] = {}  # streaming table -> {source table: version read up to}

    def _location(self, table: str) -> str:
        return self.spark.sql(f"DESCRIBE DETAIL {table}").first()["location"]

    def _checkpoints(self, dataset: str) -> dict[str, int]:
        from deltalake import DeltaTable

        full = f"{self.target}.{dataset}"
        if self.full_refresh or not self.spark.catalog.tableExists(full):
            return {}
        config = DeltaTable(self._location(full)).metadata().configuration
        return {k[len(CHECKPOINT_PREFIX):]: int(v) for k, v in config.items() if k.startswith(CHECKPOINT_PREFIX)}

    def stream(self, name: str) -> Any:
        from odoolake.delta_log import appended_since, latest_version

        if not self._active:
            raise PipelineDefinitionError("dlt.read_stream() must be called inside a dataset function.")
        reader = self._active[-1]
        if name in _registry:
            if _registry[name].kind == "view":
                raise PipelineDefinitionError(f"{reader} reads the view {name} as a stream; locally a streaming table "
                                              f"follows a table: declare {name} with @dlt.table.")
            self.materialise(name)
            source = f"{self.target}.{name}"
        else:
            source = name
        location = self._location(source)
        since = self._checkpoints(reader).get(source)
        if since is None:
            version, df = latest_version(location), self.spark.table(source)
        else:
            appended = appended_since(source, location, since)
            version, df = appended.version, self._read_files(source, appended.files)
        self.streams.setdefault(reader, {})[source] = version
        return df

    def _read_files(self, source: str, files: list[tuple[str, dict]]) -> Any:
        """The appended files as rows of ``source``: partition values come from the log, not the files."""
        from pyspark.sql import functions as F

        schema = self.spark.table(source).schema
        if not files:
            return self.spark.table(source).limit(0)
        groups: dict[tuple, list[str]] = {}
        for path, partitions in files:
            groups.setdefault(tuple(sorted(partitions.items())), []).append(path)
        parts = []
        for group, paths in groups.items():
            df = self.spark.read.parquet(*paths)
            for column, value in group:
                df = df.withColumn(column, F.lit(value))
            parts.append(df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields]))
        out = parts[0]
        for part in parts[1:]:
            out = out.unionByName(part)
        return out

    def materialise(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name not in _registry:
            return self.spark.table(name)  # a table outside the pipeline
        if name in self._active:
            raise PipelineDefinitionError("Datasets read each other in a cycle: " + " -> ".join([*self._active, name]))
        self._active.append(name)
        try:
            dataset = _registry[name]
            df = dataset.fn()
            df, metrics = self._check(dataset, df)
            if dataset.kind == "view":
                df.createOrReplaceTempView(name)
                rows = -1
            else:
                full = f"{self.target}.{name}"
                if self.full_refresh:
                    self.spark.sql(f"DROP TABLE IF EXISTS {full}")
                incremental = name in self.streams and self.spark.catalog.tableExists(full)
                if incremental:
                    rows = df.count()
                    writer = df.write.format("delta").mode("append")
                else:
                    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
                if dataset.partition_cols:
                    writer = writer.partitionBy(*dataset.partition_cols)
                writer.saveAsTable(full)
                if name in self.streams:
                    props = ", ".join(f"'{CHECKPOINT_PREFIX}{src}' = '{v}'" for src, v in self.streams[name].items())
                    self.spark.sql(f"ALTER TABLE {full} SET TBLPROPERTIES ({props})")
                df = self.spark.table(full)
                if not incremental:
                    rows = df.count()
            self.done[name] = df
            kind = "streaming_table" if name in self.streams else dataset.kind
            self.results.append(DatasetResult(name, kind, rows, metrics))
            return df
        finally:
            self._active.pop()

    def _check(self, dataset: Dataset, df: Any) -> tuple[Any, list[dict[str, Any]]]:
        from pyspark.sql import functions as F

        if not dataset.expectations:
            return df, []
        failing = [F.sum(F.when(~F.coalesce(F.expr(e.condition), F.lit(False)), 1).otherwise(0)).alias(f"e{i}")
                   for i, e in enumerate(dataset.expectations)]
        counts = df.agg(F.count(F.lit(1)).alias("n"), *failing).first()
        metrics = []
        for i, e in enumerate(dataset.expectations):
            failed = int(counts[f"e{i}"] or 0)
            metrics.append({"name": e.name, "condition": e.condition, "action": e.action,
                            "passed_records": int(counts["n"]) - failed, "failed_records": failed})
            if e.action == "fail" and failed:
                raise ExpectationFailed(dataset.name, e.name, failed)
        for e in dataset.expectations:
            if e.action == "drop":
                df = df.where(F.coalesce(F.expr(e.condition), F.lit(False)))
        return df, metrics


def run_pipeline(spark: Any, definitions: Callable[[], None], target: str, full_refresh: bool = False,
                 pipeline_id: str = "local") -> list[DatasetResult]:
    """Run ``definitions`` (which registers the datasets, e.g. by executing notebooks), then materialise them all.

    Expectation metrics of every dataset are appended to ``<target>.event_log`` with the update id.
    """
    reset()
    install_alias()
    definitions()
    if not _registry:
        raise PipelineDefinitionError("The pipeline defines no datasets (no @dlt.table / @dlt.view).")
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {target}")
    runner = _Runner(spark, target, full_refresh)
    _context["runner"] = runner
    update_id = uuid.uuid4().hex
    try:
        for name in list(_registry):
            runner.materialise(name)
    finally:
        _context.pop("runner", None)
    now = time.time()
    rows = [(pipeline_id, update_id, now, r.name, r.kind, r.rows, m["name"], m["action"], m["passed_records"],
             m["failed_records"], full_refresh)
            for r in runner.results for m in (r.expectations or [{"name": None, "action": None, "passed_records": None,
                                                                  "failed_records": None}])]
    events = spark.createDataFrame(rows, "pipeline_id string, update_id string, timestamp double, dataset string, "
                                         "kind string, output_rows long, expectation string, action string, "
                                         "passed_records long, failed_records long, full_refresh boolean")
    events.write.format("delta").mode("append").saveAsTable(f"{target}.event_log")
    return runner.results
