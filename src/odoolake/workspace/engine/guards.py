"""Client-side hooks on PySpark's Spark Connect reader and writer, active only for engine sessions.

They do three things Sail cannot do for us: map ``dbfs:/`` paths to the local DBFS root, turn
``saveAsTable`` into a write at a stable location plus a registry entry, and refuse a write that
Sail would accept while silently dropping columns (append to a table with NOT NULL columns).
Sessions that did not come from a ``LocalEngine`` (say, a real Databricks Connect session) pass
straight through.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable

from odoolake.errors import EngineError, SchemaGuardError

if TYPE_CHECKING:
    from odoolake.workspace.engine.session import LocalEngine

_installed = False
_install_lock = threading.Lock()
_table_locks: dict[str, threading.Lock] = {}
_table_locks_guard = threading.Lock()


@contextmanager
def table_lock(location: str) -> Iterator[None]:
    """One writer per table at a time, across threads and processes: Sail has no Delta conflict detection.

    Task processes of different runs write through their own sessions, so a thread lock is not enough: an
    exclusive ``flock`` on a hidden file beside the table serialises them (released by the kernel if the
    writer dies, so a killed task cannot leave the table locked).
    """
    resolved = Path(location).resolve()
    with _table_locks_guard:
        local = _table_locks.setdefault(str(resolved), threading.Lock())
    resolved.parent.mkdir(parents=True, exist_ok=True)
    lock_file = resolved.parent / f".{resolved.name}.odoolake-lock"
    with local, lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _engine(session: Any) -> LocalEngine | None:
    return getattr(session, "_odoolake_engine", None)


def check_columns_kept(target: str, location: str, incoming: list[str], mode: str, options: dict) -> None:
    """Raise SchemaGuardError when Sail would drop ``incoming`` columns the table lacks."""
    if not Path(location, "_delta_log").exists():
        return
    if mode == "overwrite" and str(options.get("overwriteSchema", "")).lower() == "true":
        return
    schema = DeltaTable(location).schema()
    existing = {field.name.lower() for field in schema.fields}
    lost = [column for column in incoming if column.lower() not in existing]
    not_null = [field.name for field in schema.fields if not field.nullable]
    if lost and not_null:
        raise SchemaGuardError(target, lost, not_null)


def _install_refusals() -> None:
    """Name the Databricks features the local engine cannot compute, instead of Sail's generic errors."""
    from pyspark.sql.connect.readwriter import DataFrameReader
    from pyspark.sql.connect.streaming.readwriter import DataStreamReader, DataStreamWriter

    original_stream_load = DataStreamReader.load
    original_batch_load = DataFrameReader.load

    def stream_load(self: DataStreamReader, *args: Any, **kwargs: Any):
        if _engine(self._client) is not None:
            source = (kwargs.get("format") or getattr(self, "_format", None) or "").lower()
            if source == "cloudfiles":
                raise EngineError("Auto Loader (format 'cloudFiles') is a Databricks feature and is not available "
                                  "locally; read the files in batch with spark.read and skip files already ingested.")
        return original_stream_load(self, *args, **kwargs)

    def refuse_sink(name: str):
        original = getattr(DataStreamWriter, name)

        def guarded(self: DataStreamWriter, *args: Any, **kwargs: Any):
            if _engine(self._session) is not None:
                raise EngineError(f"Structured Streaming sinks ({name}) are not supported by the local engine "
                                  "(Sail 0.7.2); run the logic as a batch job (spark.read … write).")
            return original(self, *args, **kwargs)

        return guarded

    def batch_load(self: DataFrameReader, *args: Any, **kwargs: Any):
        if _engine(self._client) is not None and str(self._options.get("readChangeFeed", "")).lower() == "true":
            raise EngineError("Delta Change Data Feed (readChangeFeed) is not supported by the local engine.")
        return original_batch_load(self, *args, **kwargs)

    DataStreamReader.load = stream_load  # type: ignore[method-assign]
    DataFrameReader.load = batch_load  # type: ignore[method-assign]
    for name in ("start", "toTable", "foreachBatch"):
        setattr(DataStreamWriter, name, refuse_sink(name))


def install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        from pyspark.sql.connect.dataframe import DataFrame
        from pyspark.sql.connect.readwriter import DataFrameReader, DataFrameWriter

        _install_refusals()  # first, so the path mapping below wraps the refusal checks
        original_load = DataFrameReader.load
        original_save = DataFrameWriter.save
        original_save_as_table = DataFrameWriter.saveAsTable

        def load(self: DataFrameReader, path: Any = None, format: Any = None, schema: Any = None, **options: Any):
            engine = _engine(self._client)
            if engine is not None:
                if isinstance(path, str):
                    path = engine.local_path(path)
                elif isinstance(path, list | tuple):
                    path = [engine.local_path(p) for p in path]
                if "path" in self._options:
                    self._options["path"] = engine.local_path(self._options["path"])
            return original_load(self, path, format, schema, **options)

        def _prepare(self: DataFrameWriter, format: Any, mode: Any, partitionBy: Any, options: dict) -> None:
            self.mode(mode).options(**options)
            if partitionBy is not None:
                self.partitionBy(partitionBy)
            if format is not None:
                self.format(format)

        def _write_to(self: DataFrameWriter, target: str, location: str) -> None:
            mode = (self._write.mode or "errorifexists").lower()
            columns = DataFrame(self._df, self._spark).columns
            with table_lock(location):
                check_columns_kept(target, location, columns, mode, dict(self._write.options))
                original_save(self, location)

        def save(self: DataFrameWriter, path: Any = None, format: Any = None, mode: Any = None,
                 partitionBy: Any = None, **options: Any) -> None:
            engine = _engine(self._spark)
            if engine is None:
                return original_save(self, path, format, mode, partitionBy, **options)
            _prepare(self, format, mode, partitionBy, options)
            target = path or self._write.options.pop("path", None)
            if target is None:
                raise EngineError("save() needs a path on the local engine; use saveAsTable for tables.")
            location = engine.local_path(str(target))
            if (self._write.source or "delta").lower() != "delta":
                return original_save(self, location)
            _write_to(self, str(target), location)
            return None

        def save_as_table(self: DataFrameWriter, name: str, format: Any = None, mode: Any = None,
                          partitionBy: Any = None, **options: Any) -> None:
            engine = _engine(self._spark)
            if engine is None:
                return original_save_as_table(self, name, format, mode, partitionBy, **options)
            _prepare(self, format, mode, partitionBy, options)
            source = (self._write.source or "delta").lower()
            if source != "delta":
                raise EngineError(
                    f"saveAsTable({name!r}) with format {source!r}: the local workspace stores tables as Delta only."
                )
            self._write.source = "delta"
            table = engine.table_name(self._spark, name)  # type: ignore[arg-type]  # Connect session, classic type
            location = engine.managed_location(table)
            exists = Path(location, "_delta_log").exists()
            mode_name = (self._write.mode or "errorifexists").lower()
            if exists and mode_name in ("error", "errorifexists", "default"):
                raise EngineError(f"Table {table} already exists; use mode('append') or mode('overwrite').")
            if exists and mode_name == "ignore":
                return None
            if mode_name in ("error", "errorifexists", "default", "ignore"):
                self._write.mode = "overwrite"
            Path(location).parent.mkdir(parents=True, exist_ok=True)
            _write_to(self, str(table), location)
            engine.redeclare(self._spark, table, location)  # type: ignore[arg-type]  # as above
            return None

        DataFrameReader.load = load  # type: ignore[method-assign]
        DataFrameWriter.save = save  # type: ignore[method-assign]
        DataFrameWriter.saveAsTable = save_as_table  # type: ignore[method-assign]
        _installed = True
