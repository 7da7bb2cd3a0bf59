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

import contextlib
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from odoolake.errors import OdoolakeError


class ExpectationFailed(OdoolakeError):
    def __init__(self, dataset: str, expectation: str, failed: int,
                 metrics: list[dict[str, Any]] | None = None) -> None:
        self.dataset, self.expectation, self.failed = dataset, expectation, failed
        self.metrics = metrics or []  # every expectation of the dataset, counted before the update stopped
        super().__init__(f"Expectation {expectation!r} on {dataset} failed for {failed} row(s) (expect_or_fail): "
                         "the table was not written (nor what reads it), and the update fails.")


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
    table_properties: dict[str, str] = field(default_factory=dict)


METRICS_TABLE = "event_log"  # <target>.event_log: the expectation metrics of every update (not a dataset name)
PIPELINE_ID_PROPERTY = "pipelines.pipelineId"  # the table property naming the pipeline a table belongs to
# Arguments Databricks' @dlt.table takes that local pipelines cannot honour: refused by name, never ignored.
NOT_SUPPORTED_ARGUMENTS = {
    "spark_conf": "set the configuration in the pipeline's settings (configuration) instead",
    "path": "local pipeline tables live in the lake's warehouse",
    "schema": "the table's schema is the query's; cast in the query instead",
    "row_filter": "row filters are not kept by the local catalog",
    "cluster_by": "liquid clustering is not available on the local engine; use partition_cols",
    "cluster_by_auto": "liquid clustering is not available on the local engine; use partition_cols",
    "temporary": "every local pipeline table is published; use @dlt.view for an intermediate result",
    "private": "every local pipeline table is published; use @dlt.view for an intermediate result",
}


_registry: dict[str, Dataset] = {}
_pending: dict[Callable, list[Expectation]] = {}
_context: dict[str, Any] = {}


def _expectation(action: str, name: str, condition: str) -> Callable:
    def decorate(fn: Callable) -> Callable:
        expectation = Expectation(name, condition, action)
        registered = getattr(fn, "_dlt_dataset", None)
        held = _registry[registered].expectations if registered else _pending.setdefault(fn, [])
        if any(e.name == name for e in held):  # "An expectation name must be unique for a given dataset"
            raise PipelineDefinitionError(f"Expectation {name!r} is declared twice on "
                                          f"{registered or getattr(fn, '__name__', 'a dataset')}: names are unique "
                                          f"per dataset.")
        held.insert(0, expectation)  # above @dlt.table, or waiting for it below
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
             partition_cols: list[str] | None, table_properties: dict[str, str] | None = None,
             unsupported: dict[str, Any] | None = None) -> Callable:
    given = [arg for arg, value in (unsupported or {}).items() if value not in (None, False)]
    if given:
        raise PipelineDefinitionError(f"@dlt.{kind}({given[0]}=…) is not supported by local pipelines: "
                                      f"{NOT_SUPPORTED_ARGUMENTS[given[0]]}.")
    if table_properties is not None and not (isinstance(table_properties, dict) and all(
            isinstance(k, str) for k in table_properties)):
        raise PipelineDefinitionError(f"@dlt.{kind}(table_properties=…) must map property names to values.")

    def register(f: Callable) -> Callable:
        dataset_name = name or f.__name__
        if dataset_name in _registry:
            raise PipelineDefinitionError(f"Dataset {dataset_name!r} is defined twice in the pipeline.")
        if dataset_name.lower() == METRICS_TABLE and kind != "view":
            raise PipelineDefinitionError(f"A dataset cannot be named {METRICS_TABLE!r} locally: the pipeline keeps "
                                          f"its expectation metrics in <target>.{METRICS_TABLE}. Choose another name.")
        if "." in dataset_name:
            raise PipelineDefinitionError(f"Dataset name {dataset_name!r}: local pipelines publish to the pipeline's "
                                          f"own catalog and schema; name the dataset without a catalog or schema.")
        _registry[dataset_name] = Dataset(dataset_name, kind, f, comment, partition_cols, list(_pending.pop(f, [])),
                                          {k: str(v) for k, v in (table_properties or {}).items()})
        f._dlt_dataset = dataset_name  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


def table(fn: Callable | None = None, *, name: str | None = None, comment: str | None = None,
          partition_cols: list[str] | None = None, table_properties: dict[str, str] | None = None,
          spark_conf: dict | None = None, path: str | None = None, schema: Any = None, row_filter: str | None = None,
          cluster_by: list[str] | None = None, cluster_by_auto: bool | None = None, temporary: bool = False,
          private: bool = False) -> Callable:
    return _dataset("table", fn, name, comment, partition_cols, table_properties, {
        "spark_conf": spark_conf, "path": path, "schema": schema, "row_filter": row_filter, "cluster_by": cluster_by,
        "cluster_by_auto": cluster_by_auto, "temporary": temporary, "private": private})


def materialized_view(fn: Callable | None = None, *, name: str | None = None, comment: str | None = None,
                      partition_cols: list[str] | None = None, table_properties: dict[str, str] | None = None,
                      spark_conf: dict | None = None, path: str | None = None, schema: Any = None,
                      row_filter: str | None = None, cluster_by: list[str] | None = None,
                      cluster_by_auto: bool | None = None, private: bool = False) -> Callable:
    return _dataset("materialized_view", fn, name, comment, partition_cols, table_properties, {
        "spark_conf": spark_conf, "path": path, "schema": schema, "row_filter": row_filter, "cluster_by": cluster_by,
        "cluster_by_auto": cluster_by_auto, "private": private})


def view(fn: Callable | None = None, *, name: str | None = None, comment: str | None = None,
         spark_conf: dict | None = None) -> Callable:
    return _dataset("view", fn, name, comment, None, None, {"spark_conf": spark_conf})


# What Databricks' dlt module also has and local pipelines do not: a clear refusal instead of an AttributeError.
NOT_SUPPORTED_APIS = {
    "create_streaming_table": "declare a streaming table with @dlt.table over dlt.read_stream(...)",
    "streaming_table": "declare a streaming table with @dlt.table over dlt.read_stream(...)",
    "apply_changes": "change-data-capture flows (SCD 1/2) are not available locally",
    "apply_changes_from_snapshot": "change-data-capture flows (SCD 1/2) are not available locally",
    "create_auto_cdc_flow": "change-data-capture flows (SCD 1/2) are not available locally",
    "create_auto_cdc_from_snapshot_flow": "change-data-capture flows (SCD 1/2) are not available locally",
    "append_flow": "write one @dlt.table per source and union them in another",
    "create_sink": "sinks are not available locally",
    "foreach_batch_sink": "sinks are not available locally",
}


def __getattr__(name: str) -> Any:
    if name in NOT_SUPPORTED_APIS:
        def refused(*args: Any, **kwargs: Any) -> Any:
            raise PipelineDefinitionError(f"dlt.{name} is not supported by local pipelines: "
                                          f"{NOT_SUPPORTED_APIS[name]}.")
        return refused
    raise AttributeError(f"module 'dlt' has no attribute {name!r} (local pipelines have table, materialized_view, "
                         f"view, read, read_stream and the expect* decorators)")


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


def _publishes_to(qualifier: list[str], target: str) -> bool:
    """Whether ``schema`` or ``catalog.schema`` names the pipeline's target (``schema`` or ``catalog.schema``; a
    target without a catalog is in the default one)."""
    from odoolake.workspace.catalog.store import CATALOG

    named = [q.lower() for q in qualifier]
    target_parts = target.lower().split(".")
    full = target_parts if len(target_parts) == 2 else [CATALOG, *target_parts]
    return named in (full, full[1:])


def _dataset_of(parts: list[str]) -> str | None:
    """The dataset of this pipeline a table name reads: ``LIVE.x`` (an error when ``x`` is not one), a one-part
    name that is one (Databricks resolves a bare name to the pipeline's dataset first), or its name in the
    pipeline's own schema (``schema.x``, ``catalog.schema.x``, as Databricks' default publishing mode reads it);
    None for any other name."""
    by_name = {name.lower(): name for name in _registry}
    runner = _context.get("runner")
    if len(parts) == 2 and parts[0].lower() == LIVE_SCHEMA:
        found = by_name.get(parts[1].lower())
        if found is None:
            defined = ", ".join(sorted(_registry)) or "none"
            raise PipelineDefinitionError(f"LIVE.{parts[1]} is not a dataset of this pipeline (defined: {defined}).")
    elif len(parts) == 1 and runner is not None:
        found = by_name.get(parts[0].lower())
        if found is None:
            return None
    elif len(parts) in (2, 3) and runner is not None and _publishes_to(parts[:-1], runner.target):
        found = by_name.get(parts[-1].lower())
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
        if _registry[dataset].kind == "view" or runner.planning:
            return sqltext.quote_path(runner.view_name(dataset), "`")
        return ".".join(sqltext.quote_path(part, "`") for part in [*runner.target.split("."), dataset])

    return views.replace_names(text, views.table_refs(text), named)


class _LiveReader:
    """``spark.read`` / ``spark.readStream`` whose ``table()`` reads a dataset of the pipeline by its LIVE name."""

    def __init__(self, reader: Any, stream: bool) -> None:
        self._reader, self._stream = reader, stream

    def table(self, tableName: str) -> Any:
        dataset = _dataset_of(_name_parts(tableName))
        if dataset is None:
            if self._stream and _context.get("runner") is not None:  # a streaming table over a catalog table
                return read_stream(tableName)
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


@dataclass(frozen=True)
class UpdateScope:
    """What one update does: every dataset (the default), or only ``refresh`` and ``reset`` (Databricks'
    ``refresh_selection`` and ``full_refresh_selection``); ``reset`` and ``full_refresh`` (all) drop tables and
    checkpoints first; ``validate_only`` analyses every dataset and writes nothing."""

    full_refresh: bool = False
    refresh: frozenset[str] = frozenset()
    reset: frozenset[str] = frozenset()
    validate_only: bool = False

    @property
    def selected(self) -> frozenset[str] | None:
        return (self.refresh | self.reset) or None

    def resets(self, name: str) -> bool:
        return self.full_refresh or name in self.reset


class _Runner:
    def __init__(self, spark: Any, target: str, scope: UpdateScope, pipeline_id: str, planning: bool = False) -> None:
        self.spark = spark
        self.target = target
        self.scope = scope
        self.pipeline_id = pipeline_id
        self.planning = planning  # analyse each dataset's query (and expectations) without reading or writing data
        self.done: dict[str, Any] = {}
        self.results: list[DatasetResult] = []
        self._active: list[str] = []
        self.streams: dict[str, dict[str, int]] = {}  # streaming table -> {source table: version read up to}
        self.failed: dict[str, Exception] = {}  # dataset -> why it failed (its own error, or an upstream's)

    def view_name(self, name: str) -> str:
        """The name the engine knows a dataset by in SQL: the temporary view of a view, or, while planning, of any
        dataset (its table may not exist yet)."""
        return f"__dlt_plan_{name}" if self.planning else name

    def _location(self, table: str) -> str:
        return self.spark.sql(f"DESCRIBE DETAIL {table}").first()["location"]

    def _properties(self, full: str) -> dict[str, str]:
        from deltalake import DeltaTable

        return dict(DeltaTable(self._location(full)).metadata().configuration)

    def _checkpoints(self, dataset: str) -> dict[str, int]:
        full = f"{self.target}.{dataset}"
        if self.scope.resets(dataset) or not self.spark.catalog.tableExists(full):
            return {}
        config = self._properties(full)
        return {k[len(CHECKPOINT_PREFIX):]: int(v) for k, v in config.items() if k.startswith(CHECKPOINT_PREFIX)}

    def _claim(self, name: str, full: str) -> None:
        """Refuse to replace a table this pipeline does not own: one made outside any pipeline, or by another.
        A table the pipeline wrote before its tables were marked is known by the pipeline's metrics rows."""
        if not self.spark.catalog.tableExists(full):
            return
        owner = self._properties(full).get(PIPELINE_ID_PROPERTY)
        if owner == self.pipeline_id or (owner is None and self._wrote_before(name)):
            return
        made_by = f"by pipeline {owner}" if owner else "outside any pipeline"
        raise PipelineDefinitionError(f"Table {full} exists and was made {made_by}: this pipeline does not replace "
                                      f"it. Rename the dataset {name}, or drop the table first if the pipeline "
                                      f"should own it.")

    def _wrote_before(self, name: str) -> bool:
        metrics = f"{self.target}.{METRICS_TABLE}"
        if not self.spark.catalog.tableExists(metrics):
            return False
        from pyspark.sql import functions as F

        rows = self.spark.table(metrics).where((F.col("pipeline_id") == self.pipeline_id) & (F.col("dataset") == name))
        return bool(rows.limit(1).count())

    def stream(self, name: str) -> Any:
        from odoolake.delta_log import appended_since, latest_version

        if not self._active:
            raise PipelineDefinitionError("dlt.read_stream() must be called inside a dataset function.")
        reader = self._active[-1]
        if name in _registry:
            if _registry[name].kind == "view":
                raise PipelineDefinitionError(f"{reader} reads the view {name} as a stream; locally a streaming table "
                                              f"follows a table: declare {name} with @dlt.table.")
            upstream = self.materialise(name)
            if name not in self.streams:
                raise PipelineDefinitionError(f"{reader} reads {name} as a stream, but {name} is recomputed whole on "
                                              f"every update, so it never only grows: read it with dlt.read, or make "
                                              f"{name} a streaming table (over dlt.read_stream of its source).")
            if self.planning:
                self.streams.setdefault(reader, {})
                return upstream
            source = f"{self.target}.{name}"
        else:
            source = name
            if self.planning:
                self.streams.setdefault(reader, {})
                return self.spark.table(source)
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
        if name in self.failed:  # the same error again: what reads a failed dataset fails with it
            raise self.failed[name]
        if name not in _registry:
            return self.spark.table(name)  # a table outside the pipeline
        if name in self._active:
            raise PipelineDefinitionError("Datasets read each other in a cycle: " + " -> ".join([*self._active, name]))
        dataset = _registry[name]
        selected = self.scope.selected
        if not self.planning and selected is not None and name not in selected and dataset.kind != "view":
            return self._unselected(name)
        self._active.append(name)
        try:
            if self.planning:
                return self._plan(dataset)
            return self._run(name, dataset)
        except Exception as exc:
            if not self.planning:
                self.failed.setdefault(name, exc)
            raise
        finally:
            self._active.pop()

    def _run(self, name: str, dataset: Dataset) -> Any:
        """Compute the dataset, check its expectations and write it (a view: register it)."""
        df = dataset.fn()
        try:
            df, metrics = self._check(dataset, df)
        except ExpectationFailed as failed:
            self.results.append(DatasetResult(name, dataset.kind, 0, failed.metrics))
            raise
        if dataset.kind == "view":
            df.createOrReplaceTempView(name)
            rows = -1
        else:
            full = f"{self.target}.{name}"  # claimed by the analysis pass, before any write of the update
            if self.scope.resets(name):
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
            self._mark(dataset, full)
            df = self.spark.table(full)
            if not incremental:
                rows = df.count()
        self.done[name] = df
        kind = "streaming_table" if name in self.streams else dataset.kind
        self.results.append(DatasetResult(name, kind, rows, metrics))
        return df

    def _mark(self, dataset: Dataset, full: str) -> None:
        """Write the table's properties (whose it is, the dataset's own ``table_properties``, a streaming table's
        checkpoints) in one commit, and its comment; nothing when each already holds its value."""
        from deltalake import DeltaTable

        from odoolake.workspace.engine.sqltext import sql_literal

        wanted = {PIPELINE_ID_PROPERTY: self.pipeline_id, **dataset.table_properties,
                  **{f"{CHECKPOINT_PREFIX}{src}": str(v) for src, v in self.streams.get(dataset.name, {}).items()}}
        metadata = DeltaTable(self._location(full)).metadata()
        changed = {k: v for k, v in wanted.items() if metadata.configuration.get(k) != v}
        if changed:
            props = ", ".join(f"{sql_literal(k)} = {sql_literal(v)}" for k, v in changed.items())
            self.spark.sql(f"ALTER TABLE {full} SET TBLPROPERTIES ({props})")
        if dataset.comment is not None and metadata.description != dataset.comment:
            self.spark.sql(f"COMMENT ON TABLE {full} IS {sql_literal(dataset.comment)}")

    def _unselected(self, name: str) -> Any:
        """A dataset this update does not refresh: read as its table holds it."""
        full = f"{self.target}.{name}"
        if not self.spark.catalog.tableExists(full):
            raise PipelineDefinitionError(f"Dataset {name} is not selected for this update and has no table yet: "
                                          f"select it too, or run an update of every dataset.")
        self.done[name] = self.spark.table(full)
        return self.done[name]

    def _plan(self, dataset: Dataset) -> Any:
        """The dataset's query and expectations analysed by the engine, nothing read or written: the DataFrame is
        named as a temporary view so that SQL of later datasets can read it."""

        df = dataset.fn()
        for e in dataset.expectations:
            try:
                _ = df.agg(_failing(e.condition)).schema  # the count _check makes: where an aggregate fails
            except Exception as exc:
                raise PipelineDefinitionError(f"Expectation {e.name!r} of dataset {dataset.name} is not a condition "
                                              f"on one row: {_first_line(exc)}") from None
        _ = df.schema  # analysis: an unknown column or table fails here, before any table of the update is written
        selected = self.scope.selected
        if dataset.kind != "view" and (selected is None or dataset.name in selected):
            self._claim(dataset.name, f"{self.target}.{dataset.name}")  # a table it may not replace, before any write
        df.createOrReplaceTempView(self.view_name(dataset.name))
        self.done[dataset.name] = df
        self.results.append(DatasetResult(dataset.name, dataset.kind, -1, []))
        return df

    def _check(self, dataset: Dataset, df: Any) -> tuple[Any, list[dict[str, Any]]]:
        from pyspark.sql import functions as F

        if not dataset.expectations:
            return df, []
        failing = [_failing(e.condition).alias(f"e{i}") for i, e in enumerate(dataset.expectations)]
        counts = df.agg(F.count(F.lit(1)).alias("n"), *failing).first()
        metrics: list[dict[str, Any]] = []
        for i, e in enumerate(dataset.expectations):
            failed = int(counts[f"e{i}"] or 0)
            metrics.append({"name": e.name, "condition": e.condition, "action": e.action,
                            "passed_records": int(counts["n"]) - failed, "failed_records": failed})
        stopping = next((m for m in metrics if m["action"] == "fail" and m["failed_records"]), None)
        if stopping is not None:
            raise ExpectationFailed(dataset.name, stopping["name"], stopping["failed_records"], metrics)
        for e in dataset.expectations:
            if e.action == "drop":
                df = df.where(F.coalesce(F.expr(e.condition), F.lit(False)))
        return df, metrics


def _failing(condition: str) -> Any:
    """How many rows fail an expectation: a null result fails, as on Databricks."""
    from pyspark.sql import functions as F

    return F.sum(F.when(~F.coalesce(F.expr(condition), F.lit(False)), 1).otherwise(0))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _each_dataset(runner: _Runner) -> None:
    """Analyse (planning) or run every dataset. Analysis stops at the first error; a run goes on with the datasets
    that do not read a failed one, as a Databricks update runs its independent flows, then raises the first
    error (the others are printed to the update's log)."""
    _context["runner"] = runner
    errors: list[Exception] = []
    try:
        for name in list(_registry):
            try:
                runner.materialise(name)
            except (PipelineDefinitionError, ExpectationFailed) as exc:
                if runner.planning:
                    raise
                errors.append(exc)
            except Exception as exc:
                if runner.planning:  # the engine's analysis: say which dataset it was
                    raise PipelineDefinitionError(f"Dataset {name}: {_first_line(exc)}") from exc
                errors.append(exc)
    finally:
        _context.pop("runner", None)
    distinct = [e for i, e in enumerate(errors) if not any(e is seen for seen in errors[:i])]
    for later in distinct[1:]:
        failed = ", ".join(sorted(name for name, exc in runner.failed.items() if exc is later))
        print(f"also failed ({failed}): {type(later).__name__}: {_first_line(later)}", file=sys.stderr)
    if distinct:
        raise distinct[0]


def run_pipeline(spark: Any, definitions: Callable[[], None], target: str, full_refresh: bool = False,
                 pipeline_id: str = "local", scope: UpdateScope | None = None,
                 update_id: str | None = None) -> list[DatasetResult]:
    """Run ``definitions`` (which registers the datasets, e.g. by executing notebooks), analyse every dataset,
    then materialise those the update's ``scope`` selects (all by default).

    Nothing is written until every dataset's query and expectations have been analysed, as a Databricks update
    checks the whole graph first; ``scope.validate_only`` stops there. Expectation metrics of the datasets the
    update reached are appended to ``<target>.event_log`` with ``update_id``, also when an expectation stopped it.
    """
    scope = scope or UpdateScope(full_refresh=full_refresh)
    reset()
    install_alias()
    definitions()
    if not _registry:
        raise PipelineDefinitionError("The pipeline defines no datasets (no @dlt.table / @dlt.view).")
    by_name = {name.lower(): name for name in _registry}  # dataset names are case-insensitive, as table names
    scope = UpdateScope(scope.full_refresh, frozenset(by_name.get(n.lower(), n) for n in scope.refresh),
                        frozenset(by_name.get(n.lower(), n) for n in scope.reset), scope.validate_only)
    unknown = sorted((scope.selected or set()) - set(_registry))
    if unknown:
        raise PipelineDefinitionError(f"The update selects {', '.join(unknown)}, which this pipeline does not define "
                                      f"(defined: {', '.join(sorted(_registry))}).")
    plan = _Runner(spark, target, scope, pipeline_id, planning=True)
    _each_dataset(plan)
    if scope.validate_only:
        return plan.results
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {target}")
    runner = _Runner(spark, target, scope, pipeline_id)
    update_id = update_id or uuid.uuid4().hex
    try:
        _each_dataset(runner)
    except Exception:
        with contextlib.suppress(Exception):  # the update's own error is the one to report
            _append_metrics(spark, runner, target, pipeline_id, update_id, scope)
        raise
    _append_metrics(spark, runner, target, pipeline_id, update_id, scope)
    return runner.results


def _append_metrics(spark: Any, runner: _Runner, target: str, pipeline_id: str, update_id: str,
                    scope: UpdateScope) -> None:
    """A row per dataset and expectation; ``full_refresh`` says whether that dataset was reset and rebuilt (the
    whole update's full refresh, or the dataset named in its full-refresh selection)."""
    now = time.time()
    rows = [(pipeline_id, update_id, now, r.name, r.kind, r.rows, m["name"], m["action"], m["passed_records"],
             m["failed_records"], scope.full_refresh or r.name in scope.reset)
            for r in runner.results for m in (r.expectations or [{"name": None, "action": None, "passed_records": None,
                                                                  "failed_records": None}])]
    events = spark.createDataFrame(rows, "pipeline_id string, update_id string, timestamp double, dataset string, "
                                         "kind string, output_rows long, expectation string, action string, "
                                         "passed_records long, failed_records long, full_refresh boolean")
    events.write.format("delta").mode("append").saveAsTable(f"{target}.{METRICS_TABLE}")
