"""Statement execution: synchronous up to ``wait_timeout``, then asynchronous with polling; cancel;
named parameters bound by the engine (never spliced into the SQL text); JSON_ARRAY results in chunks, inline, or
(``EXTERNAL_LINKS``) ARROW_STREAM, CSV or JSON_ARRAY chunk files fetched through expiring links without the token.

Each principal's statements run in that principal's own warm engine session, so a query on small gold tables costs
the query, not a session start, and the engine applies that principal's rules (read-only users, file access). Tables
come from the workspace catalog, which every session reads. A failed statement is HTTP 200 with
``status.state = FAILED`` and the engine's message, as on Databricks.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from odoolake.workspace.catalog.store import CATALOG
from odoolake.workspace.engine import sqltext
from odoolake.workspace.engine.errors import SESSION_CLOSED, error_class_of
from odoolake.workspace.engine.interrupts import CancellableRun
from odoolake.workspace.errors import ApiError, InvalidParameterValue, ResourceDoesNotExist
from odoolake.workspace.sql import show_metadata
from odoolake.workspace.sql.metadata import Metadata
from odoolake.workspace.sql.result_files import (
    EXTERNAL_BYTE_LIMIT,
    MEDIA_TYPES,
    ChunkFile,
    ResultFiles,
    arrow_for_clients,
)
from odoolake.workspace.sql.result_links import RESULT_LINK_PATH, ResultLinks
from odoolake.workspace.sql.results import (
    Parameter,
    arrow_and_schema,
    columns,
    row_cells,
    rows_and_schema,
    statement_frame,
)

LOG = logging.getLogger(__name__)

LOCAL_WAREHOUSE_ID = "local0000000000"
CHUNK_ROWS = 5000
INLINE_LIMIT_BYTES = 25 * 1024 * 1024
INLINE_LIMIT_EXCEEDED = (  # Databricks' words when an INLINE result without a byte_limit is past the limit
    f"Inline byte limit exceeded. Statements executed with disposition=INLINE can have a result size of at most "
    f"{INLINE_LIMIT_BYTES} bytes. Please execute the statement with disposition=EXTERNAL_LINKS if you want to "
    "download the full result.")
KEEP_SECONDS = 3600  # a result is kept this long after it ended or was last read (statements and operations)
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "CLOSED"})
INLINE, EXTERNAL_LINKS = "INLINE", "EXTERNAL_LINKS"
FORMATS = ("JSON_ARRAY", "ARROW_STREAM", "CSV")
_WAIT = re.compile(r"^(\d+)s$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Statement(CancellableRun):
    TERMINAL: ClassVar[frozenset[str]] = TERMINAL
    statement_id: str
    error: dict | None = None
    sql_state: str | None = None
    manifest: dict | None = None
    chunks: list[list[list[str | None]]] = field(default_factory=list)
    chunk_bytes: list[int] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)  # for expiry only: never steps back with the clock
    future: Future | None = None
    session: Any = None
    disposition: str = INLINE
    format: str = "JSON_ARRAY"
    files: list[ChunkFile] = field(default_factory=list)  # EXTERNAL_LINKS: the chunk files
    inline_cap: bool = False  # INLINE without a byte_limit: a result past INLINE_LIMIT_BYTES fails, as on Databricks


_INTEGERS = {"INT": "int", "INTEGER": "int", "BIGINT": "bigint", "LONG": "bigint", "SMALLINT": "smallint",
             "SHORT": "smallint", "TINYINT": "tinyint", "BYTE": "tinyint"}
_INTEGER_RANGES = {kind: (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
                   for kind, bits in (("tinyint", 8), ("smallint", 16), ("int", 32), ("bigint", 64))}
_FLOATS = {"DOUBLE": "double", "FLOAT": "float", "REAL": "float"}
_DECIMAL_TYPE = re.compile(r"DECIMAL\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def parameter_value(value: str | None, kind: str, name: str) -> Parameter:
    """A statement parameter (sent as a string with a SQL type name) as the engine binds it: of that type, as a
    Databricks warehouse binds it (``DECIMAL(10,4)`` stays decimal(10,4), not the value's own 1.5 → decimal(2,1); a
    ``TIMESTAMP`` without an offset is in the session's time zone; a typed NULL keeps its type)."""
    kind = (kind or "STRING").upper().strip()
    try:
        if kind in _INTEGERS:
            number = None if value is None else int(value)
            low, high = _INTEGER_RANGES[_INTEGERS[kind]]
            if number is not None and not low <= number <= high:
                raise InvalidParameterValue(f"Invalid parameters.{name}: {value!r} is out of range for {kind} "
                                            f"({low} to {high}).")
            return Parameter(number, _INTEGERS[kind])
        if kind in _FLOATS:
            return Parameter(None if value is None else float(value), _FLOATS[kind])
        if kind.startswith("DECIMAL"):
            sized = _DECIMAL_TYPE.fullmatch(kind)
            if kind != "DECIMAL" and sized is None:
                raise InvalidParameterValue(f"Invalid parameters.{name}.type: {kind!r} is not a DECIMAL(p,s) type.")
            precision, scale = (int(sized.group(1)), int(sized.group(2) or 0)) if sized else (38, 18)
            if not 1 <= precision <= 38 or scale > precision:
                raise InvalidParameterValue(f"Invalid parameters.{name}.type: {kind} is not a decimal type: the "
                                            "precision goes from 1 to 38 and the scale from 0 to the precision.")
            exact = None if value is None else decimal.Decimal(value.strip())
            if exact is not None and not exact.is_finite():
                raise ValueError(value)
            if not sized and exact is not None and abs(exact) >= 10 ** 38:
                raise InvalidParameterValue(f"Invalid parameters.{name}: {value!r} does not fit a DECIMAL (at most "
                                            "38 digits).")
            if sized and exact is not None:  # as the engine will hold it: rounded half up to the scale
                held = exact.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP,
                                      context=decimal.Context(prec=80))
                if abs(held) >= 10 ** (precision - scale):
                    raise InvalidParameterValue(f"Invalid parameters.{name}: {value!r} does not fit {kind} (at most "
                                                f"{precision - scale} digits before the point).")
            sql_type = f"decimal({precision},{scale})" if sized else None
            return Parameter(exact, sql_type)
        if kind in ("BOOLEAN", "BOOL"):
            if value is not None and value.lower() not in ("true", "false"):
                raise ValueError(value)
            return Parameter(None if value is None else value.lower() == "true", "boolean")
        if kind == "DATE":
            return Parameter(None if value is None else dt.date.fromisoformat(value), "date")
        if kind in ("TIMESTAMP", "TIMESTAMP_NTZ"):  # as ISO text, which the engine reads in the session's zone
            text = None if value is None else dt.datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
            return Parameter(text, kind.lower())
        if kind == "STRING":
            return Parameter(value, "string" if value is None else None)
        if kind == "VOID":
            return Parameter(None)
    except (ValueError, decimal.InvalidOperation):
        raise InvalidParameterValue(f"Invalid parameters.{name}: {value!r} is not a valid {kind}.") from None
    raise InvalidParameterValue(f"Invalid parameters.{name}.type: unsupported type {kind!r}.")


def statement_error(exc: Exception) -> dict[str, str]:
    """The ``status.error`` of a failed statement. The error code is one of the SDK's ServiceErrorCode values
    (BAD_REQUEST); what went wrong is in the message, led by the Spark error class."""
    return {"error_code": "BAD_REQUEST", "message": SqlFailure.of(exc).message}


@dataclass(frozen=True)
class SqlFailure:
    """Why a statement failed, as every SQL client shows it: the message (led by ``[ERROR_CLASS]``), the Spark error
    class and the SQLSTATE."""

    message: str
    sql_state: str | None = None
    error_class: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> SqlFailure:
        if isinstance(exc, ApiError):
            return cls(exc.message, None, exc.error_code)
        message = str(exc).strip().split("\n\nJVM stacktrace")[0]
        error_class, sql_state = error_class_of(exc), None
        getter = getattr(exc, "getSqlState", None)
        if callable(getter):
            sql_state = getter()
        if sql_state and "SQLSTATE:" not in message:  # as Databricks ends every classed message
            message = f"{message} SQLSTATE: {sql_state}"
        return cls(message, sql_state or None, error_class or None)


class PrincipalSessions:
    """One engine session per principal, shared by that principal's statements (Spark Connect sessions run
    concurrent queries), so temp views and ``SET`` stay with the user who made them and never reach another.
    What a principal ``SET`` through this API is remembered, so the result cache can key on it."""

    def __init__(self, engine: Any, max_principals: int = 32) -> None:
        self.engine = engine
        self.max_principals = max_principals
        self._sessions: OrderedDict[str, Any] = OrderedDict()
        self._settings: dict[str, dict[str, str]] = {}
        self._schemas: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, principal: str) -> Any:
        with self._lock:
            spark = self._sessions.get(principal)
            if spark is not None and spark.is_stopped:  # PySpark closes a session the engine restarted under
                self._drop(principal)
            elif spark is not None:
                self._sessions.move_to_end(principal)
                return spark
        spark = self.engine.session(principal)
        evicted = None
        with self._lock:
            if principal in self._sessions:  # another thread won the race: keep its session
                evicted, spark = spark, self._sessions[principal]
            else:
                self._sessions[principal] = spark
                if len(self._sessions) > self.max_principals:
                    evicted = self._drop(next(iter(self._sessions)))
        if evicted is not None:
            self.engine.stop_session(evicted)
        return spark

    def use(self, principal: str, spark: Any, catalog: str | None, schema: str | None) -> None:
        """Point the session at the request's catalog and schema (one round trip only when they change)."""
        target = f"{catalog or ''}.{schema or 'default'}"
        with self._lock:
            if self._schemas.get(principal) == target:
                return
        if catalog:
            spark.sql(f"USE CATALOG `{catalog}`")
        spark.sql(f"USE SCHEMA `{schema or 'default'}`")
        with self._lock:
            self._schemas[principal] = target

    def settings(self, principal: str) -> tuple[tuple[str, str], ...]:
        with self._lock:
            return tuple(sorted(self._settings.get(principal, {}).items()))

    def record_setting(self, principal: str, statement: str) -> None:
        found = sqltext.setting(statement)  # as the engine reads it: SET TIME ZONE and short names included
        if found is None or found.key is None:
            return
        with self._lock:
            values = self._settings.setdefault(principal, {})
            if found.verb == "RESET":
                values.pop(found.key, None)
            elif found.value is not None:
                values[found.key] = found.value

    def forget(self, principal: str, spark: Any) -> None:
        """Drop ``spark`` as the principal's session (the engine restarted under it): the next statement gets a new
        one. What the principal SET is forgotten with it, as the engine forgot it."""
        with self._lock:
            if self._sessions.get(principal) is not spark:
                return
            self._drop(principal)
        self.engine.stop_session(spark)

    def _drop(self, principal: str) -> Any:
        """Forget the principal's session and what it SET and USEd (the lock held); returns the session."""
        self._settings.pop(principal, None)
        self._schemas.pop(principal, None)
        return self._sessions.pop(principal)

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for spark in sessions:
            self.engine.stop_session(spark)


class ResultCache:
    """Results of read-only statements, reused while no table they could read has changed (Databricks SQL
    warehouses keep a result cache too). Keys hold the principal, the statement, its parameters, the current schema,
    the limits, the settings the principal made with SET and the modification times of every catalog table's Delta
    log, so a commit anywhere, or a setting that changes results (ANSI mode, time zone), is a miss. Each query Sail
    runs keeps about 100 KB of server memory (measured with pysail 0.7.2; see docs/reliability.md), so answering a
    dashboard's repeated queries from here also keeps the server's memory flat."""

    # Functions whose answer changes without any table changing: the clock (also `curdate`, `localtimestamp`,
    # `unix_timestamp()`), random values, where the engine ran a row.
    NON_DETERMINISTIC = re.compile(
        r"\b(current_\w+|now|curdate|localtimestamp|unix_timestamp|rand|randn|random|uniform|randstr|uuid|shuffle|"
        r"monotonically_increasing_id|spark_partition_id|input_file_\w+)\b", re.I)

    PATH_TABLE = re.compile(r"\w+\.`|dbfs:|/Volumes/", re.I)  # files named by path are not in the catalog

    def __init__(self, max_entries: int = 256, max_bytes: int = 4 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[tuple, tuple[dict, list, list]] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, principal: str, statement: str, args: dict | None, catalog: str | None, schema: str | None,
            row_limit: int | None, byte_limit: int, settings: tuple, versions: dict[str, float | str]) -> tuple | None:
        from odoolake.workspace.sql.readonly import NotReadOnly, check_read_only

        try:
            check_read_only(statement)
        except NotReadOnly:
            return None
        if self.NON_DETERMINISTIC.search(statement) or self.PATH_TABLE.search(statement):
            return None
        return (principal, statement, json.dumps(args or {}, sort_keys=True, default=str), catalog, schema,
                row_limit, byte_limit, settings, tuple(sorted(versions.items())))

    def get(self, key: tuple) -> tuple[dict, list, list] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: tuple, manifest: dict, chunks: list, sizes: list) -> None:
        if sum(sizes) > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (manifest, chunks, sizes)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


FILES_VERSION_LIMIT = 1_000  # files read one by one; past this, the table's folders (one stat each) stand for them


def files_version(directory: Path) -> str:
    """The files at ``directory`` (a table of plain files) with their sizes and times: a file added, removed or
    rewritten changes it. A table of more than ``FILES_VERSION_LIMIT`` files is judged by its folders' times, which
    a file added or removed changes (one rewritten in place is seen by the engine, not by the cache): every
    statement's cache key reads every such table, so the cost stays a few milliseconds."""
    if not directory.is_dir():  # a table over one file
        info = directory.lstat()
        return f"{info.st_size}:{info.st_mtime_ns}"
    seen: list[str] = []
    folders: list[str] = []
    many = False
    for root, _, names in os.walk(directory):
        folders.append(f"{os.path.relpath(root, directory)}:{os.lstat(root).st_mtime_ns}")
        for name in () if many else names:
            if len(seen) == FILES_VERSION_LIMIT:
                many = True
                break
            info = os.lstat(os.path.join(root, name))  # a dangling link is a file like another, not an error
            seen.append(f"{os.path.relpath(os.path.join(root, name), directory)}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(folders if many else seen)).encode()).hexdigest()


def check_warehouse(warehouse: Any) -> None:
    """The one local warehouse is the only id any SQL API takes; another is an error naming it."""
    if warehouse != LOCAL_WAREHOUSE_ID:
        raise InvalidParameterValue(f"Invalid warehouse_id {warehouse!r}: the local workspace has one SQL "
                                    f"warehouse, {LOCAL_WAREHOUSE_ID}.")


class AnsweredFrame:
    """A result answered here rather than by the engine (an Arrow table), read where a statement's DataFrame is:
    ``_to_table()`` answers as an engine DataFrame's one ExecutePlan does (:func:`results.engine_result`)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    @property
    def schema(self) -> Any:
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(self.table.schema)

    def limit(self, n: int) -> AnsweredFrame:
        return AnsweredFrame(self.table.slice(0, n))

    def _to_table(self) -> tuple[pa.Table, Any]:
        return self.table, self.schema


def collected(df: Any, row_limit: int | None) -> tuple[list, Any]:
    """A result's rows (up to ``row_limit`` + 1) and its Spark schema, in one engine call.

    ``DataFrame.collect()`` first asks the engine for a setting (``binaryAsBytes``), and ``.schema`` is an analysis
    of its own: two round trips more per statement. The engine's answer to the query carries the schema already
    (:func:`results.rows_and_schema`)."""
    return rows_and_schema(df.limit(row_limit + 1) if row_limit is not None else df)


class StatementService:
    def __init__(self, engine: Any, catalog: Any, workers: int = 4, sql_sessions: Any = None,
                 results_dir: Path | None = None, public_url: str = "") -> None:
        self.catalog = catalog
        self.metadata = Metadata(catalog)  # answers the metadata SHOW statements (show_metadata)
        self.public_url = public_url  # where clients reach the workspace, when a request does not say
        self.files = ResultFiles(results_dir) if results_dir is not None else None
        self.links = ResultLinks()
        self.sql_sessions = sql_sessions  # the sessions of /api/2.0/sql/sessions (and the SQL connector's)
        self._sessions = PrincipalSessions(engine)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="odoolake-sql")
        self._statements: dict[str, Statement] = {}
        self._lock = threading.Lock()
        self.cache = ResultCache()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._sessions.close()
        if self.files is not None:
            self.files.remove_all()

    def versions(self) -> dict[str, float | str]:
        """What changes when a catalog table's data changes: its Delta log's modification time (any commit changes
        it), or, for a table of plain files (CSV, Parquet, JSON), the files it holds and their times; and each
        view's last change."""
        out: dict[str, float | str] = {}
        for table in self.catalog.all_tables():
            try:
                if table.data_source_format.upper() == "DELTA":
                    out[str(table.name)] = Path(table.storage_location, "_delta_log").stat().st_mtime
                else:
                    out[str(table.name)] = files_version(Path(table.storage_location))
            except OSError:
                continue
        for view in self.catalog.views(CATALOG):  # a view replaced, renamed or dropped changes what reads it answer
            out[f"view {view.name}"] = view.updated_at
        return out

    # -- API ---------------------------------------------------------------------------------------

    def execute(self, body: dict, principal: str, base_url: str | None = None) -> dict:
        statement = body.get("statement")
        if not isinstance(statement, str) or not statement.strip():
            raise InvalidParameterValue("Invalid statement: a non-empty SQL string is required.")
        check_warehouse(body.get("warehouse_id"))
        session_id = body.get("session_id")
        if session_id is not None and not isinstance(session_id, str):
            raise InvalidParameterValue(f"Invalid session_id {session_id!r}: expected the id POST "
                                        "/api/2.0/sql/sessions returned.")
        sql_session = self.sql_sessions.get(session_id, principal) if session_id else None
        wait = body.get("wait_timeout", "10s")
        m = _WAIT.match(wait) if isinstance(wait, str) else None
        seconds = int(m.group(1)) if m else -1
        if seconds != 0 and not 5 <= seconds <= 50:
            raise InvalidParameterValue(f"Invalid wait_timeout {wait!r}: expected '0s' or between '5s' and '50s'.")
        on_timeout = body.get("on_wait_timeout", "CONTINUE")
        if on_timeout not in ("CONTINUE", "CANCEL"):
            raise InvalidParameterValue(f"Invalid on_wait_timeout {on_timeout!r}: expected CONTINUE or CANCEL.")
        disposition = INLINE if body.get("disposition") is None else body["disposition"]
        fmt = "JSON_ARRAY" if body.get("format") is None else body["format"]
        if disposition not in (INLINE, EXTERNAL_LINKS):
            raise InvalidParameterValue(f"Invalid disposition {disposition!r}: expected INLINE or EXTERNAL_LINKS.")
        if fmt not in FORMATS:
            raise InvalidParameterValue(f"Invalid format {fmt!r}: expected JSON_ARRAY, ARROW_STREAM or CSV.")
        if disposition == INLINE and fmt != "JSON_ARRAY":
            raise InvalidParameterValue(f"format {fmt} requires disposition EXTERNAL_LINKS; INLINE supports JSON_ARRAY.")
        if disposition == EXTERNAL_LINKS and self.files is None:
            raise InvalidParameterValue("disposition EXTERNAL_LINKS needs a results directory, which this statement "
                                        "service was started without; use INLINE.")
        row_limit = body.get("row_limit")
        if row_limit is not None and (not isinstance(row_limit, int) or isinstance(row_limit, bool) or row_limit < 0):
            raise InvalidParameterValue(f"Invalid row_limit {row_limit!r}: expected a non-negative integer.")
        byte_limit = body.get("byte_limit")
        if byte_limit is not None and (not isinstance(byte_limit, int) or isinstance(byte_limit, bool) or byte_limit < 0):
            raise InvalidParameterValue(f"Invalid byte_limit {byte_limit!r}: expected a non-negative integer.")
        args = self._parameters(body.get("parameters"))
        catalog, schema = body.get("catalog"), body.get("schema")
        for name, value in (("catalog", catalog), ("schema", schema)):
            if value is not None and (not isinstance(value, str) or not _IDENT.match(value)):
                raise InvalidParameterValue(f"Invalid {name} {value!r}: expected an identifier.")
        self._expire()
        st = Statement(str(uuid.uuid4()), disposition=disposition, format=fmt,
                       inline_cap=disposition == INLINE and byte_limit is None)
        with self._lock:
            self._statements[st.statement_id] = st
        limit = byte_limit or (INLINE_LIMIT_BYTES if disposition == INLINE else EXTERNAL_BYTE_LIMIT)
        # Versions are read here for the cache key and again when the statement runs (it may wait in the queue
        # while a job commits): two stats per Delta table, and a walk of each table of plain files
        # (``files_version``, a few milliseconds at most), on purpose.
        # A client's own session keeps its own state, and chunk files belong to their statement: no cache for either;
        # nor for what lists the catalog (a new schema changes no table's Delta log).
        listing = show_metadata.lists_catalog(statement)
        key = None if sql_session or disposition != INLINE or listing else self.cache.key(
            principal, statement, args, catalog, schema, row_limit, limit, self._sessions.settings(principal),
            self.versions())
        hit = self.cache.get(key) if key is not None else None
        if hit is not None:
            st.manifest, st.chunks, st.chunk_bytes = hit
            st.state = "SUCCEEDED"
            return self.response(st, base_url)
        if sql_session is not None:
            sql_session.hold()  # from now: a statement waiting for a worker holds its session too
        try:
            st.future = self._executor.submit(self._run, st, principal, statement, args, catalog, schema, row_limit,
                                              limit, key, sql_session)
        except BaseException:
            if sql_session is not None:
                sql_session.release()
            raise
        if seconds:
            try:
                st.future.result(timeout=seconds)
            except Exception:  # timeout; failures are recorded on the statement
                if on_timeout == "CANCEL" and st.state not in TERMINAL:
                    self.cancel(st.statement_id)
        return self.response(st, base_url)

    def _parameters(self, params: Any) -> dict[str, Any] | None:
        if params is None:
            return None
        if not isinstance(params, list):
            raise InvalidParameterValue("Invalid parameters: expected a list of {name, value, type}.")
        args = {}
        for i, p in enumerate(params):
            if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not _IDENT.match(p["name"]):
                raise InvalidParameterValue(f"Invalid parameters[{i}].name: expected an identifier.")
            value = p.get("value")
            if value is not None and not isinstance(value, str):
                raise InvalidParameterValue(f"Invalid parameters[{i}].value: expected a string.")
            args[p["name"]] = parameter_value(value, p.get("type") or "STRING", p["name"])
        return args

    def _run(self, st: Statement, principal: str, statement: str, args: dict | None, catalog: str | None,
             schema: str | None, row_limit: int | None, byte_limit: int, cache_key: tuple | None = None,
             sql_session: Any = None) -> None:
        try:
            self._run_statement(st, principal, statement, args, catalog, schema, row_limit, byte_limit, cache_key,
                           sql_session)
        finally:
            if sql_session is not None:
                sql_session.release()  # held since the statement was submitted

    def _run_statement(self, st: Statement, principal: str, statement: str, args: dict | None, catalog: str | None,
                  schema: str | None, row_limit: int | None, byte_limit: int, cache_key: tuple | None,
                  sql_session: Any) -> None:
        if not st.begin():
            st.ran.set()
            return
        try:
            try:
                self._execute(st, principal, statement, args, catalog, schema, row_limit, byte_limit, cache_key,
                              sql_session)
            except Exception as exc:
                if sql_session is not None or st.session is None or SqlFailure.of(exc).error_class != SESSION_CLOSED:
                    raise
                # The engine closed the principal's session (idle past its limit): nothing ran. With no SET of the
                # principal lost with it, the statement runs again in a new one, as a Databricks warehouse's
                # statements need no session the caller keeps alive; otherwise this error says so, once.
                lost_settings = bool(self._sessions.settings(principal))
                self._sessions.forget(principal, st.session)
                st.session = None
                if lost_settings:
                    raise
                LOG.info("statement %s: %s's engine session was closed; running it in a new one", st.statement_id,
                         principal)
                if st.state != "CANCELED":  # the key was made with that session's settings: not cached
                    self._execute(st, principal, statement, args, catalog, schema, row_limit, byte_limit, None, None)
        except Exception as exc:
            if sql_session is not None:
                sql_session.note_failure(exc)
            elif st.session is not None and st.session.is_stopped:
                self._sessions.forget(principal, st.session)  # the engine restarted: said once, in this error
            failure = SqlFailure.of(exc)
            st.settle("FAILED", error={"error_code": "BAD_REQUEST", "message": failure.message},
                      sql_state=failure.sql_state)
        finally:
            if st.session is not None:
                st.session.removeTag(st.statement_id)
            st.session = None
            st.ran.set()

    def _execute(self, st: Statement, principal: str, statement: str, args: dict | None, catalog: str | None,
                 schema: str | None, row_limit: int | None, byte_limit: int, cache_key: tuple | None,
                 sql_session: Any) -> None:
        """Run the statement in its session and settle it SUCCEEDED with its result (``_run`` handles failures)."""
        if sql_session is not None:  # a session of /api/2.0/sql/sessions: its own SET, USE and temp views
            spark = sql_session.spark
            st.session = spark
            sql_session.use_pending_schema()
            if catalog:
                spark.sql(f"USE CATALOG `{catalog}`")
            if schema:
                spark.sql(f"USE SCHEMA `{schema}`")
        else:
            spark = self._sessions.get(principal)
            st.session = spark
            self._sessions.use(principal, spark, catalog, schema)
        spark.addTag(st.statement_id)  # tags are per thread: cancel interrupts this statement only
        if st.state == "CANCELED":  # cancelled before its query started: an interrupt now would find nothing
            return
        shown = show_metadata.producer(statement, self.metadata)
        if shown is not None:
            df: Any = AnsweredFrame(shown())
        else:
            df = statement_frame(spark, statement, args)
        if sql_session is None:
            self._sessions.record_setting(principal, statement)
        if st.disposition == EXTERNAL_LINKS:
            self._write_files(st, df, row_limit, byte_limit)
            return
        rows, schema_info = collected(df, row_limit)
        if st.state == "CANCELED":
            return
        truncated = row_limit is not None and len(rows) > row_limit
        rows = rows[:row_limit] if truncated else rows
        data = row_cells(rows, schema_info)
        chunks, sizes, total = [], [], 0
        for start in range(0, max(len(data), 1), CHUNK_ROWS):
            chunk = data[start:start + CHUNK_ROWS]
            size = sum(len(str(r)) for r in chunk)
            if total + size > byte_limit and st.inline_cap:
                raise InvalidParameterValue(INLINE_LIMIT_EXCEEDED)
            if total + size > byte_limit:  # the rows that still fit, then stop
                kept = used = 0
                for row in chunk:
                    if total + used + len(str(row)) > byte_limit:
                        break
                    kept, used = kept + 1, used + len(str(row))
                if kept:
                    chunks.append(chunk[:kept])
                    sizes.append(used)
                    total += used
                truncated = True
                break
            chunks.append(chunk)
            sizes.append(size)
            total += size
        st.chunks, st.chunk_bytes = chunks, sizes
        n = sum(len(c) for c in chunks)
        st.manifest = {
            "format": "JSON_ARRAY",
            "schema": {"column_count": len(schema_info.fields), "columns": columns(schema_info)},
            "total_chunk_count": len(chunks), "total_row_count": n, "total_byte_count": total,
            "truncated": truncated,
            "chunks": [{"chunk_index": i, "row_offset": i * CHUNK_ROWS, "row_count": len(c), "byte_count": b}
                       for i, (c, b) in enumerate(zip(chunks, sizes, strict=True))],
        }
        if st.settle("SUCCEEDED") not in TERMINAL and cache_key is not None:
            self.cache.put(cache_key, st.manifest, chunks, sizes)

    def _write_files(self, st: Statement, df: Any, row_limit: int | None, byte_limit: int) -> None:
        """An EXTERNAL_LINKS result: the rows written as chunk files in the statement's format (one engine call)."""
        assert self.files is not None
        if st.format == "ARROW_STREAM":
            table, schema_info = arrow_and_schema(df.limit(row_limit + 1) if row_limit is not None else df)
            over = row_limit is not None and table.num_rows > row_limit
            if st.state == "CANCELED":
                return
            written = self.files.write_arrow(st.statement_id, arrow_for_clients(table.slice(0, row_limit) if over
                                                                                else table), byte_limit)
        else:
            rows, schema_info = collected(df, row_limit)
            over = row_limit is not None and len(rows) > row_limit
            if st.state == "CANCELED":
                return
            data = row_cells(rows[:row_limit] if over else rows, schema_info)
            written = self.files.write_rows(st.statement_id, st.format, [f.name for f in schema_info.fields], data,
                                            byte_limit)
        st.files = written.chunks
        st.manifest = {
            "format": st.format,
            "schema": {"column_count": len(schema_info.fields), "columns": columns(schema_info)},
            "total_chunk_count": len(written.chunks), "total_row_count": written.row_count,
            "total_byte_count": written.byte_count, "truncated": over or written.truncated,
            "chunks": [{"chunk_index": c.chunk_index, "row_offset": c.row_offset, "row_count": c.row_count,
                        "byte_count": c.byte_count} for c in written.chunks],
        }
        if st.settle("SUCCEEDED") == "CANCELED":  # canceled while writing: nothing is kept
            self.files.remove(st.statement_id)
            st.files = []

    def _get(self, statement_id: str) -> Statement:
        with self._lock:
            st = self._statements.get(statement_id)
        if st is None:
            raise ResourceDoesNotExist(f"Statement {statement_id} does not exist (or has expired).")
        st.touch()
        return st

    def get(self, statement_id: str, base_url: str | None = None) -> dict:
        return self.response(self._get(statement_id), base_url)

    def cancel(self, statement_id: str) -> None:
        st = self._get(statement_id)

        def interrupt() -> None:  # the worker's session read at each try (a worker that has none yet sees CANCELED)
            session = st.session
            if session is not None:
                session.interruptTag(statement_id)

        st.cancel("CANCELED", interrupt, statement_id)

    def close_statement(self, statement_id: str) -> None:
        """Cancel the statement if it still runs and release its result (``DELETE /api/2.0/sql/statements/{id}``,
        which the SQL connector's ``use_sea`` sends when a cursor is done with a result)."""
        self.cancel(statement_id)
        with self._lock:
            self._statements.pop(statement_id, None)
        self._release(statement_id)

    def _release(self, statement_id: str) -> None:
        """A closed or expired statement's chunk files and links go with it."""
        self.links.forget(statement_id)
        if self.files is not None:
            self.files.remove(statement_id)

    def chunk(self, statement_id: str, index: int, base_url: str | None = None) -> dict:
        st = self._get(statement_id)
        if st.state != "SUCCEEDED":
            raise InvalidParameterValue(f"Statement {statement_id} is {st.state}; results exist only when SUCCEEDED.")
        count = len(st.files) if st.disposition == EXTERNAL_LINKS else len(st.chunks)
        if not 0 <= index < count:
            raise InvalidParameterValue(f"Invalid chunk_index {index}: the result has {count} chunk(s).")
        if st.disposition == EXTERNAL_LINKS:
            return {"external_links": [self._external_link(st, index, base_url)]}
        return self._chunk(st, index)

    def download(self, link_id: str) -> tuple[Path, str]:
        """The file behind a result link and its media type (the link is the credential: no token is asked)."""
        link = self.links.resolve(link_id)
        if not link.path.is_file():
            raise ResourceDoesNotExist(f"The result of statement {link.statement_id} was released (the statement was "
                                       "closed or expired); run it again.")
        return link.path, link.media_type

    def _external_link(self, st: Statement, index: int, base_url: str | None) -> dict[str, Any]:
        chunk = st.files[index]
        link = self.links.mint(st.statement_id, index, chunk.path, MEDIA_TYPES[st.format])
        base = (base_url if base_url is not None else self.public_url).rstrip("/")
        out: dict[str, Any] = {"chunk_index": index, "row_offset": chunk.row_offset, "row_count": chunk.row_count,
                               "byte_count": chunk.byte_count, "external_link": f"{base}{RESULT_LINK_PATH}/{link.link_id}",
                               "expiration": link.expiration}
        if index + 1 < len(st.files):
            out["next_chunk_index"] = index + 1
            out["next_chunk_internal_link"] = f"/api/2.0/sql/statements/{st.statement_id}/result/chunks/{index + 1}"
        return out

    def response(self, st: Statement, base_url: str | None = None) -> dict:
        body: dict[str, Any] = {"statement_id": st.statement_id, "status": {"state": st.state}}
        if st.state == "FAILED":
            body["status"]["error"] = st.error
            if st.sql_state:
                body["status"]["sql_state"] = st.sql_state
        if st.state == "SUCCEEDED" and st.disposition == EXTERNAL_LINKS:
            body["manifest"] = st.manifest
            body["result"] = {"external_links": [self._external_link(st, 0, base_url)]} if st.files else {}
        elif st.state == "SUCCEEDED":
            body["manifest"] = st.manifest
            body["result"] = self._chunk(st, 0) if st.chunks else {"chunk_index": 0, "row_offset": 0, "row_count": 0}
        return body

    def _chunk(self, st: Statement, index: int) -> dict:
        data = st.chunks[index]
        out: dict[str, Any] = {"chunk_index": index, "row_offset": index * CHUNK_ROWS, "row_count": len(data),
                               "byte_count": st.chunk_bytes[index], "data_array": data}
        if index + 1 < len(st.chunks):
            out["next_chunk_index"] = index + 1
            out["next_chunk_internal_link"] = f"/api/2.0/sql/statements/{st.statement_id}/result/chunks/{index + 1}"
        return out

    def _expire(self) -> None:
        """Forget statements that ended, and were not asked for, ``KEEP_SECONDS`` ago (a statement that ran for two
        hours keeps its result as long as a quick one). Statements are kept in the order they were made (near
        enough: one is stamped just before it is registered), and none ends before it was made, so the scan stops
        at the first one made after the cutoff: each call costs what it expires, not what is kept (a scan of all of
        them cost 0.2 ms per statement after 1,500 statements)."""
        cutoff = time.monotonic() - KEEP_SECONDS
        with self._lock:
            expired = []
            for key, st in self._statements.items():
                if st.created >= cutoff:
                    break
                if st.unused_since(cutoff):
                    expired.append(key)
            for key in expired:
                del self._statements[key]
        for key in expired:
            self._release(key)
