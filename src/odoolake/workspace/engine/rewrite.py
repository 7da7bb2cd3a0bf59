"""What the engine does to a plan before Sail runs it, so that any Spark Connect client gets Databricks behaviour.

Every client — the project's own sessions, Databricks Connect, a plain ``pyspark`` — goes through here, so the
rules live on the server and no client is patched:
- **access**: read-only and production rules on writes, file paths confined to the lake (:mod:`.access`);
- **paths**: ``dbfs:/…`` and ``/Volumes/…`` mapped to local directories, in SQL and in DataFrame reads and writes;
- **tables**: ``saveAsTable``/``writeTo`` become a Delta write at the table's location plus a catalog entry (Sail's
  own catalog-table writes cannot create or overwrite Delta tables); ``CREATE TABLE`` without ``LOCATION`` gets its
  managed location; Delta's default format where Spark's would be parquet;
- **statements Sail does not serve**: Delta maintenance and history (delta-rs), table and column comments, ``SHOW
  CREATE TABLE``, ``ALTER TABLE … RENAME``, two-part ``USE``, ``DESCRIBE name``. The engine does the work and hands
  Sail a query that returns the answer, so the client's session receives an ordinary result;
- **refusals** for what the local engine cannot compute (Auto Loader, streaming sinks, Change Data Feed), by name.

A statement the rules run on the engine themselves, beside the client's call (DML, ``INSERT``, ``REPLACE WHERE``,
``CREATE OR REPLACE … AS``, a catalog listing), fails with the engine's own error, raised as it came
(``UpstreamError.error``): the proxy relays it as Sail's answer to the client's call would be, classified and with
Sail's exception classes and error id kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import grpc
import pyarrow as pa
from google.protobuf import message_factory
from google.protobuf.message import Message

from odoolake.errors import DeltaCommandError
from odoolake.workspace.catalog.columns import DeltaFacts, partition_columns, type_text, uc_columns
from odoolake.workspace.catalog.information_schema import InformationSchema
from odoolake.workspace.catalog.store import (
    CATALOG,
    CATALOG_ALIASES,
    EXTERNAL,
    IDENTIFIER_RULE,
    MANAGED,
    NO_SUCH_CATALOG,
    CatalogError,
    CatalogStore,
    FullName,
    TableInfo,
    ViewInfo,
    file_uri,
    is_identifier,
    unknown_catalog,
)
from odoolake.workspace.engine import (
    delta_connect,
    delta_sql,
    delta_writes,
    dialect,
    errors,
    sql_parameters,
    sqltext,
    store_assignment,
    table_properties,
    time_travel,
    views,
    wire,
)
from odoolake.workspace.engine.access import AccessRules
from odoolake.workspace.engine.delta_sql import UnknownColumn, comment_text, match_delta_statement, run_delta_statement
from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.engine.locks import table_lock
from odoolake.workspace.engine.protos import base_pb2, commands_pb2, relations_pb2
from odoolake.workspace.engine.session import DEBUGGING_CONF, SESSION_CONF
from odoolake.workspace.engine.upstream import Upstream, UpstreamError
from odoolake.workspace.errors import ApiError
from odoolake.workspace.sql.readonly import NotReadOnly, check_read_only

LOG = logging.getLogger(__name__)

WriteOp: Any = commands_pb2.WriteOperation
WriteV2: Any = commands_pb2.WriteOperationV2
CatalogOp: Any = type(relations_pb2.Relation().catalog)  # spark.catalog.* calls; defined in catalog_pb2
SILENT_COLUMN_DROP = "SILENT_COLUMN_DROP"  # our error class for the guard against Sail's NOT NULL append bug
MUTATING_DELTA = frozenset({"optimize", "vacuum", "restore", "add_columns", "set_tblproperties",
                            "unset_tblproperties", "comment_table", "comment_column"})
SESSION_STATEMENTS = frozenset({"SET", "RESET", "USE"})
_SQL_TYPES = {pa.string(): "string", pa.int32(): "int", pa.bool_(): "boolean"}  # of the SHOW answers' columns


# CREATE [OR REPLACE] <kind> that Databricks SQL runs as pipelines (Sail: a syntax error at the word)
_PIPELINE_OBJECTS = {"MATERIALIZED": "materialized views", "STREAMING": "streaming tables"}
_RESERVED_SCHEMA_PROPERTIES = ("comment", "location", "owner")  # Spark's reserved namespace properties
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DROP_TEMP_VIEW = ("drop_temp_view", "drop_global_temp_view")  # spark.catalog.dropTempView, dropGlobalTempView
# Kinds of column Sail writes NOT NULL though the input's schema says nullable: a struct or an array of constants
# (measured on 0.7.2). Made nullable with the NOT NULL ones where Delta makes a column nullable.
_WRITTEN_NOT_NULL = ("struct", "array")


# The rows of describe() and summary() (its default statistics), in the order Spark answers them.
_DESCRIBE_ROWS = ("count", "mean", "stddev", "min", "max")
_SUMMARY_ROWS = ("count", "mean", "stddev", "min", "25%", "50%", "75%", "max")
_ORDERED = "odoolake: statistics in Spark's order"  # marks the statistics relation under the sort that orders it


def _time_travel_dates(options: Any) -> None:
    """A ``timestampAsOf`` option that is a date alone as that day's midnight, as Delta reads it (Sail refused it as
    an invalid timestamp, though ``TIMESTAMP AS OF '<date>'`` in SQL worked)."""
    for key in list(options):
        if key.lower() == "timestampasof" and _DATE_ONLY.match(options[key].strip()):
            options[key] = options[key].strip() + " 00:00:00"


def _in_statistics_order(relation: relations_pb2.Relation) -> None:
    """``df.describe()``/``df.summary()`` with their rows sorted as Spark answers them (its statistics' order; for
    summary the order asked): Sail answered them in an order that changed from run to run, so code reading
    ``describe().collect()[0]`` as the count got another row."""
    if relation.common.source_info == _ORDERED:  # the one this put under its sort (the walk meets it next)
        return
    if relation.WhichOneof("rel_type") == "summary":
        rows = list(relation.summary.statistics) or list(_SUMMARY_ROWS)
    else:
        rows = list(_DESCRIBE_ROWS)
    statistics = relations_pb2.Relation()
    statistics.CopyFrom(relation)
    statistics.ClearField("common")  # the plan id stays with the relation the client refers to
    statistics.common.source_info = _ORDERED
    cases = " ".join(f"WHEN {sqltext.sql_literal(name)} THEN {i}" for i, name in enumerate(rows))
    order = {"child": {"expression_string": {"expression": f"CASE `summary` {cases} END"}},
             "direction": "SORT_DIRECTION_ASCENDING", "null_ordering": "SORT_NULLS_LAST"}
    relation.sort.CopyFrom(relations_pb2.Sort(input=statistics, order=[order], is_global=True))


def _sql_type(field: pa.Field) -> str:
    try:
        return _SQL_TYPES[field.type]
    except KeyError:
        raise TypeError(f"The answer column {field.name} has type {field.type}, which _SQL_TYPES does not map to a "
                        "SQL type.") from None
_DESCRIBE_TARGETS = frozenset({"TABLE", "EXTENDED", "FORMATTED", "QUERY", "DATABASE", "SCHEMA", "CATALOG",
                               "FUNCTION", "HISTORY", "DETAIL", "NAMESPACE"})
_TEMP_VIEW = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(GLOBAL\s+)?TEMP(ORARY)?\s+VIEW\b", re.I)
# What DELETE/UPDATE/MERGE answer (Databricks' columns) and the Delta commit metrics (as Sail writes them) each sums.
DML_METRICS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "DELETE": (("num_affected_rows",), (("numDeletedRows",),)),
    "UPDATE": (("num_affected_rows",), (("numUpdatedRows",),)),
    "MERGE": (("num_affected_rows", "num_updated_rows", "num_deleted_rows", "num_inserted_rows"),
              (("numTargetRowsUpdated", "numTargetRowsDeleted", "numTargetRowsInserted"), ("numTargetRowsUpdated",),
               ("numTargetRowsDeleted",), ("numTargetRowsInserted",))),
}
# What an INSERT answers on Databricks (Sail answers one column, ``count``).
INSERT_METRICS = [("num_affected_rows", "bigint"), ("num_inserted_rows", "bigint")]
_SQL_STATES = {"PARSE_SYNTAX_ERROR": "42601", "DUPLICATE_CLAUSES": "42614"}  # of the rules' syntax errors
_SET_SPECIAL = re.compile(r"^\s*SET\s+(CATALOG|SCHEMA|VAR|VARIABLE)\b", re.I)


def refuse(code: str, error_class: str, sql_state: str, message: str, classes: tuple[str, ...] = ()) -> CallRefused:
    return CallRefused(code, f"[{error_class}] {message}", error_class, sql_state, classes)


def _check_catalog_names(parts: list[str]) -> None:
    """A schema, table or view the catalog could not hold is refused by name here: the engine would send it to the
    catalog, whose answer it reports as an HTTP error with an internal address (or, for a DataFrame's
    ``saveAsTable``, write a table no later read can find)."""
    for part in parts:
        if not is_identifier(part):
            raise refuse("INVALID_ARGUMENT", "INVALID_IDENTIFIER", "42602",
                         f"The name `{part}` cannot be used in the catalog: names are {IDENTIFIER_RULE}.")


def not_found(name: FullName | str) -> CallRefused:
    return refuse("NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND", "42P01",
                  f"The table or view `{name}` cannot be found. Verify the spelling and the schema; "
                  "`SHOW TABLES IN <schema>` lists what exists.")


@dataclass
class Call:
    principal: Principal
    session_id: str
    current_schema: str | None = None  # asked of the engine once per call, when a one-part name needs it
    temporary_views: set[str] | None = None  # the session's, asked once per call when a one-part name may be one
    analyzing: bool = False  # an AnalyzePlan: the plan's schema is asked, nothing in it is done
    operation_id: str = ""  # the client's operation: a statement done beside Sail runs under its id
    # Called (under the table's lock) before a statement done beside Sail writes the table at a location: the proxy
    # then fences that table if the call is stopped, and refuses to start a write for a call stopped already.
    begin_write: Callable[[str], None] = lambda location: None
    # Whether the client's operation was stopped: Sail ends an interrupted statement's stream without an error
    stopped: Callable[[], bool] = lambda: False

    @property
    def user_id(self) -> str:
        return self.principal.name


@dataclass
class Prepared:
    """What the proxy must do around forwarding: hold a table's write lock (``on_lock`` runs once it is held), then
    record a new table, or undo what a failed call left (``after_failure``, still under the lock)."""

    lock: str | None = None
    after_success: Callable[[], None] | None = None
    on_lock: Callable[[], None] | None = None
    after_failure: Callable[[], None] | None = None
    raw_input: bytes | None = None  # a deep write's input relation, when the rules changed it (``WriteInput``)
    no_columns: bool = False  # the statement answers with no columns (``sqltext.answers_no_columns``)


@dataclass
class WriteInput:
    """A write's input relation: decoded in ``write.input``, or kept as bytes (``raw``) when too deep for upb."""

    write: Any  # a WriteOperation or WriteOperationV2
    raw: bytes | None = None

    def relation(self) -> relations_pb2.Relation | bytes:
        return self.raw if self.raw is not None else self.write.input

    def wrap(self, kind: str, around: Message) -> None:
        """Put the input under a new relation of ``kind`` (``with_columns``, ``with_columns_renamed``, ``drop``: all take
        their input as field 1) whose other fields are ``around``'s."""
        if self.raw is None:
            outer = relations_pb2.Relation()
            inner = getattr(outer, kind)
            inner.CopyFrom(around)
            inner.input.CopyFrom(self.write.input)
            self.write.input.CopyFrom(outer)
            return
        inner_bytes = around.SerializeToString() + wire.length_delimited(_WRAPPED_INPUT, self.raw)
        self.raw = wire.length_delimited(relations_pb2.Relation.DESCRIPTOR.fields_by_name[kind].number, inner_bytes)


# Spark Connect messages that bring columns the catalog does not know into a DataFrame's scope (``column_candidates``)
NAMES_COLUMNS = frozenset({"Alias", "ToDF", "WithColumnsRenamed", "Aggregate", "LocalRelation", "CachedLocalRelation",
                           "CachedRemoteRelation", "Range", "DataSource", "Unpivot", "SetOperation", "SubqueryAlias",
                           "Drop",
                           "CommonInlineUserDefinedTableFunction", "MapPartitions", "GroupMap", "CoGroupMap"})


# DataFrame steps over a SQL query's answer: its columns are the query's, not its tables'
RELATION_STEPS = frozenset({"Project", "Filter", "Sort", "Limit", "Offset", "Tail", "Sample", "Deduplicate", "Join"})


class PlanRewriter:
    def __init__(self, catalog: CatalogStore, upstream: Upstream, access: AccessRules) -> None:
        self.catalog = catalog
        self.upstream = upstream
        self.access = access
        self.information_schema = InformationSchema(catalog)
        # session id → its time zone, for sessions whose zone is not UTC (see ``_in_session_zone``)
        self._session_zones: dict[str, str] = {}

    # -- entry points --------------------------------------------------------------------------------------------

    def prepare_execute(self, request: base_pb2.ExecutePlanRequest, call: Call) -> Prepared:
        self._check_code(request, call)
        _check_request_texts(request)
        plan = request.plan
        if plan.HasField("root"):
            delta = _delta_relation(plan.root)
            if delta is not None and delta.WhichOneof("relation_type") in delta_connect.MUTATING:
                self._delta_mutation(plan.root, delta, call)  # DeltaTable.delete/update/merge/…: run once, here
                return Prepared()
            self._relations(plan.root, call)
            return Prepared()
        command = plan.command
        kind = command.WhichOneof("command_type")
        if kind == "extension" and delta_connect.command_of(command.extension) is not None:
            command.sql_command.sql = _delta_call(
                lambda: self._delta_command_sql(delta_connect.command_of(command.extension), call))
            return self._sql_command(command.sql_command, call)
        if kind == "sql_command":
            return self._sql_command(command.sql_command, call)
        if kind == "write_operation":
            return self._write(command, call)
        if kind == "write_operation_v2":
            return self._write_v2(command, call)
        if kind == "write_stream_operation_start":
            self._relations(command.write_stream_operation_start.input, call)  # name an Auto Loader source first
            raise refuse("UNIMPLEMENTED", "UNSUPPORTED_FEATURE", "0A000",
                         "Structured Streaming sinks (writeStream.start/toTable/foreachBatch) are not supported by "
                         "the local engine (Sail 0.7.2); run the logic as a batch job (spark.read … write).")
        if kind == "merge_into_table_command":
            merge = command.merge_into_table_command
            merge.target_table_name, location = self._merge_target(merge.target_table_name, call)
            for relation in _messages(merge, relations_pb2.Relation):
                self._relation(relation, call)
            return Prepared(lock=location)
        if kind == "ml_command":
            self._refuse_ml()
        if kind == "checkpoint_command":
            _checkpoint_as_sail_takes_it(command.checkpoint_command)
        for relation in _messages(command, relations_pb2.Relation):
            self._relation(relation, call)
        return Prepared()

    def _check_code(self, request: Message, call: Call) -> None:
        """A principal who may not send code (``AccessRules.may_send_code``) sends a plan without any: the whole
        request is searched, expressions included, for these principals only."""
        if not self.access.may_send_code(call.principal) and next(_messages(request, *_CODE_CLASSES), None) is not None:
            raise self.access.refuse_code(call.principal)

    @staticmethod
    def _refuse_ml() -> NoReturn:
        """Sail has no Spark ML: every ML command and relation is refused by name. That includes the ML-cache
        clean-up PySpark sends when a client exits without ``stop()``, which the client ignores; it must stay an
        error: answered as done, the client stops reading at the answer's last message, exits before the call's
        status arrives, and grpc can deadlock finalizing the unfinished call (7 hung exits in 25, measured; none as
        an error)."""
        raise refuse("UNIMPLEMENTED", "UNSUPPORTED_FEATURE", "0A000",
                     "Spark ML's estimators and models (pyspark.ml) are not supported by the local engine "
                     "(Sail 0.7.2): train on collected data with a Python library (scikit-learn, statsmodels), or "
                     "with pyspark.ml.connect, which trains in the client.")

    def prepare_analyze(self, request: base_pb2.AnalyzePlanRequest, call: Call) -> None:
        call.analyzing = True
        self._check_code(request, call)
        _check_request_texts(request)
        for relation in _messages(request, relations_pb2.Relation):
            self._relation(relation, call)

    # -- plans too deep to decode (see .wire): the same rules, applied to the messages they read ------------------

    def prepare_deep(self, buf: bytes, root: Any, call: Call) -> tuple[bytes, Prepared]:
        """Apply the rules to a serialized request of type ``root`` that upb cannot decode; returns the new bytes."""
        if not self.access.may_send_code(call.principal) and wire.find(buf, root.DESCRIPTOR, _CODE):
            raise self.access.refuse_code(call.principal)
        _check_parsed_texts(buf, root)
        hits = wire.find(buf, root.DESCRIPTOR, _DEEP_TARGETS)
        if len(hits) > MAX_DEEP_HITS:
            raise refuse("INVALID_ARGUMENT", "PLAN_TOO_COMPLEX", "54001",
                         f"The plan is too deep to decode and names more than {MAX_DEEP_HITS} sources or statements; "
                         "cache or save an intermediate result and continue from it.")
        # Last first: a rewrite moves the offsets after it and its enclosing lengths, never the order of fields, so
        # each earlier message is found again by its place among its siblings (cheap), not by a new walk; and a message
        # holding others (a write, a merge) is rewritten after them, with what they became.
        places = [wire.ordinals(buf, hit.path) for hit in hits]
        prepared = Prepared()
        for hit, place in sorted(zip(hits, places, strict=True), key=lambda pair: pair[0].field.tag_start,
                                 reverse=True):
            buf, step = self._deep_hit(buf, wire.Found(wire.locate(buf, place), hit.descriptor), call)
            prepared = Prepared(step.lock or prepared.lock, step.after_success or prepared.after_success)
        return buf, prepared

    def _deep_hit(self, buf: bytes, hit: wire.Found, call: Call) -> tuple[bytes, Prepared]:
        field = hit.field
        value = buf[field.value_start:field.value_end]
        name = hit.descriptor.full_name
        if name == relations_pb2.Read.DESCRIPTOR.full_name:
            read = relations_pb2.Read.FromString(value)
            if read.HasField("data_source"):
                self._read(read, call)
            elif read.HasField("named_table"):
                self._named_table(read, call)
            return wire.replace(buf, hit.path, read.SerializeToString()), Prepared()
        if name == relations_pb2.SQL.DESCRIPTOR.full_name:
            shallow, rest = wire.without(value, 0, len(value), _SQL_NAMED_ARGUMENTS)
            sql = relations_pb2.SQL.FromString(shallow)
            sql.query = self.prepare_sql(sql.query, call, eager=False)
            return wire.replace(buf, hit.path, sql.SerializeToString() + rest), Prepared()
        if name == commands_pb2.SqlCommand.DESCRIPTOR.full_name:
            return self._deep_sql_command(buf, hit, value, call)
        if name == CatalogOp.DESCRIPTOR.full_name:
            catalog = CatalogOp.FromString(value)
            self._catalog_relation(catalog, call)
            return wire.replace(buf, hit.path, catalog.SerializeToString()), Prepared()
        if name in (WriteOp.DESCRIPTOR.full_name, WriteV2.DESCRIPTOR.full_name):
            holder = hit.path[-2] if len(hit.path) > 1 else None  # the Command, rewritten whole below
            if holder is None or len(list(wire.fields(buf, holder.value_start, holder.value_end))) != 1:
                raise refuse("INVALID_ARGUMENT", "INVALID_PLAN_INPUT", "42000",
                             "The request's command holds more than the write (a command is one of its kinds).")
            kind = WriteOp if name == WriteOp.DESCRIPTOR.full_name else WriteV2
            shallow, raw_input_field = wire.without(value, 0, len(value), _INPUT)
            raw_input = next((buf_value for buf_value in _values(raw_input_field)), b"")
            command = commands_pb2.Command()
            getattr(command, "write_operation" if kind is WriteOp else "write_operation_v2").CopyFrom(
                kind.FromString(shallow))
            prepared = self._write(command, call, raw_input) if kind is WriteOp else \
                self._write_v2(command, call, raw_input)
            if command.WhichOneof("command_type") == "write_operation":
                raw_input = prepared.raw_input if prepared.raw_input is not None else raw_input
                write = command.write_operation.SerializeToString() + wire.length_delimited(_INPUT, raw_input)
                replaced = wire.length_delimited(_COMMAND_WRITE, write)
            else:
                replaced = command.SerializeToString()
            return wire.replace(buf, hit.path[:-1], replaced), prepared
        if name == commands_pb2.WriteStreamOperationStart.DESCRIPTOR.full_name:
            raise refuse("UNIMPLEMENTED", "UNSUPPORTED_FEATURE", "0A000",
                         "Structured Streaming sinks are not supported by the local engine (Sail 0.7.2); run the "
                         "logic as a batch job (spark.read … write).")
        assert name == commands_pb2.MergeIntoTableCommand.DESCRIPTOR.full_name, name  # the one target left
        rest, target_field = wire.without(value, 0, len(value), _MERGE_TARGET)
        target, location = self._merge_target(b"".join(_values(target_field)).decode(), call)
        merge = rest + wire.length_delimited(_MERGE_TARGET, target.encode())
        return wire.replace(buf, hit.path, merge), Prepared(lock=location)

    def _merge_target(self, text: str, call: Call) -> tuple[str, str]:
        """``df.mergeInto(name, …)``: the catalog table it writes (its full name and location), like ``MERGE INTO``'s.
        A name is never a file path here (``delta.`/x``` is no table), so a merge cannot write outside the lake."""
        self.access.check_write(call.principal, "merge into tables")
        name = self._write_target(text, call)
        location = self.catalog.location(name)
        if location is None:
            raise not_found(name)
        return str(name), location

    def _deep_sql_command(self, buf: bytes, hit: wire.Found, value: bytes, call: Call) -> tuple[bytes, Prepared]:
        """A SQL command whose arguments are nested too deep for upb: its text is prepared as ``_sql_command`` does,
        the arguments kept as they came. With an ``input`` the engine runs that relation (found on its own) and
        ignores the text, as Sail does."""
        rest, text_fields = wire.without(value, 0, len(value), _SQL_COMMAND_TEXT)
        if not text_fields or any(f.number == _SQL_COMMAND_INPUT for f in wire.fields(rest, 0, len(rest))):
            return buf, Prepared()
        text = list(_values(text_fields))[-1].decode()  # a repeated scalar field: the last value counts
        prepared = Prepared()
        text = self.prepare_sql(text, call, eager=True, prepared=prepared)
        return wire.replace(buf, hit.path, wire.length_delimited(_SQL_COMMAND_TEXT, text.encode()) + rest), prepared

    # -- relations (reads, and SQL in a relation position) --------------------------------------------------------

    def _relations(self, root: relations_pb2.Relation, call: Call) -> None:
        for relation in _messages(root, relations_pb2.Relation):
            self._relation(relation, call)

    def _relation(self, relation: relations_pb2.Relation, call: Call) -> None:
        kind = relation.WhichOneof("rel_type")
        if kind == "sql":
            relation.sql.query = self.prepare_sql(relation.sql.query, call, eager=False)
        elif kind == "read" and relation.read.HasField("data_source"):
            self._read(relation.read, call)
        elif kind == "read" and relation.read.HasField("named_table"):
            view = self._view_named(relation.read.named_table.unparsed_identifier, call)
            if view is not None:
                relation.sql.query = self.prepare_sql(f"SELECT * FROM {view.name}", call, eager=False)
            elif not self._zoned_table_read(relation, call):
                self._named_table(relation.read, call)
        elif kind == "catalog" and _creates_managed_table(relation.catalog):
            made = self._create_managed_table(getattr(relation.catalog, relation.catalog.WhichOneof("cat_type")), call)
            relation.sql.query = self.prepare_sql(made, call, eager=False)  # its text gets the rules like any other
        elif kind in ("describe", "summary"):
            _in_statistics_order(relation)
        elif kind == "catalog" and relation.catalog.WhichOneof("cat_type") in _DROP_TEMP_VIEW:
            kind = relation.catalog.WhichOneof("cat_type")
            drop = getattr(relation.catalog, kind)
            found = self._temporary_view(drop.view_name, kind == "drop_global_temp_view", call)
            if found is None:  # False, as Spark answers (Sail failed, or answered True for a global one)
                relation.sql.query = sqltext.answer_query([("value", "boolean")], [(False,)])
            else:
                drop.view_name = found
        elif kind == "catalog" and relation.catalog.WhichOneof("cat_type") in ("list_databases", "get_database"):
            relation.sql.query = self._databases(relation.catalog)
        elif kind == "catalog" and relation.catalog.WhichOneof("cat_type") in ("list_tables", "get_table"):
            relation.local_relation.data = self._tables_as_databricks_names_them(relation.catalog, call)
            relation.local_relation.schema = _TABLE_SCHEMA_JSON  # Sail needs it when there are no rows
        elif kind == "catalog" and relation.catalog.WhichOneof("cat_type") in _FUNCTION_CALLS:
            self._functions(relation, call)
        elif kind == "catalog" and relation.catalog.WhichOneof("cat_type") in _CACHE_CALLS:
            relation.sql.query = self.prepare_sql(_cache_call_query(relation.catalog), call, eager=False)
        elif kind == "catalog":
            self._catalog_relation(relation.catalog, call)
        elif kind == "ml_relation":
            self._refuse_ml()
        elif kind == "extension":
            delta = delta_connect.relation_of(relation.extension)
            if delta is not None:
                relation.sql.query = self.prepare_sql(_delta_call(lambda: self._delta_query(delta, call)), call,
                                                      eager=False)

    # -- Delta Lake's Python API (DeltaTable over Spark Connect: see .delta_connect) --------------------------------

    def _delta_query(self, delta: Any, call: Call) -> str:
        """The SQL of a DeltaTable call that reads: the table's rows, history or detail, isDeltaTable. A change
        (``MUTATING``) runs only when the client executes it (``_delta_mutation``), never when a plan is analyzed
        or holds it."""
        kind = delta.WhichOneof("relation_type")
        if kind == "scan":
            return f"SELECT * FROM {delta_connect.table_sql(delta.scan.table)}"
        if kind == "describe_history":
            return f"DESCRIBE HISTORY {delta_connect.table_sql(delta.describe_history.table)}"
        if kind == "describe_detail":
            return f"DESCRIBE DETAIL {delta_connect.table_sql(delta.describe_detail.table)}"
        if kind == "is_delta_table":
            local = self.access.map_and_check(call.principal, delta.is_delta_table.path)
            return f"SELECT {str(Path(local, '_delta_log').is_dir()).lower()} AS isDeltaTable"
        if kind in delta_connect.MUTATING:
            raise delta_connect.Unsupported("A DeltaTable change (delete, update, merge, restore, optimize) runs "
                                            "when the call itself is executed, not inside another DataFrame.")
        raise delta_connect.Unsupported(f"DeltaTable's {kind} is not supported by the local engine"
                                        + ("; write the table with saveAsTable in Delta format instead."
                                           if kind == "convert_to_delta" else "."))

    def _delta_mutation(self, root: relations_pb2.Relation, delta: Any, call: Call) -> None:
        """A DeltaTable change, executed: run as its SQL statement (under that statement's rules, lock and fence)
        and answered with the statement's result, as Delta answers it (DELETE's ``num_affected_rows``, MERGE's
        counts, …). A merge's source DataFrame becomes a temporary view of the client's session for the statement,
        dropped afterwards."""
        self._check_code(delta, call)  # a merge's source DataFrame is inside the extension, out of the first search
        kind = delta.WhichOneof("relation_type")
        if kind != "merge_into_table":
            sql = _delta_call(lambda: {
                "delete_from_table": lambda: delta_connect.delete_sql(delta.delete_from_table),
                "update_table": lambda: delta_connect.update_sql(delta.update_table),
                "restore_table": lambda: delta_connect.restore_sql(delta.restore_table),
                "optimize_table": lambda: delta_connect.optimize_sql(delta.optimize_table)}[kind]())
            answer = self.prepare_sql(sql, call, eager=True)
        else:
            merge = delta.merge_into_table
            source = merge.source
            alias = _qualifier(source)
            self._relations(source, call)
            view = f"__odoolake_merge_source_{uuid.uuid4().hex}"
            sql = _delta_call(lambda: delta_connect.merge_sql(merge, view, alias))
            made = commands_pb2.CreateDataFrameViewCommand(input=source, name=view, is_global=False, replace=True)
            self._run_upstream(call, commands_pb2.Command(create_dataframe_view=made))
            try:
                answer = self.prepare_sql(sql, call, eager=True)
            finally:
                dropped = relations_pb2.Relation(catalog=CatalogOp(drop_temp_view={"view_name": view}))
                try:
                    self.upstream.query_rows(call.session_id, call.user_id, dropped)
                except UpstreamError:  # the session is gone, and the view with it; the merge's own answer stands
                    LOG.warning("the merge source view %s was not dropped", view)
        common = relations_pb2.RelationCommon()
        common.CopyFrom(root.common)
        root.Clear()
        root.common.CopyFrom(common)
        root.sql.query = answer

    def _run_upstream(self, call: Call, command: commands_pb2.Command) -> None:
        """A command run in the client's engine session, its failure the client's error."""
        try:
            self.upstream.run_command(call.session_id, call.user_id, command)
        except UpstreamError as exc:
            raise exc.error from None

    def _delta_command_sql(self, delta: Any, call: Call) -> str:
        """The SQL of a DeltaTable command: VACUUM, or the table builder's CREATE TABLE."""
        kind = delta.WhichOneof("command_type")
        if kind == "vacuum_table":
            return delta_connect.vacuum_sql(delta.vacuum_table)
        if kind == "create_delta_table":
            create = delta.create_delta_table
            if create.mode == delta_connect.MODE_REPLACE and create.HasField("table_name") and \
                    self.catalog.find(self.resolve(create.table_name, call)) is None:
                raise not_found(self.resolve(create.table_name, call))
            return delta_connect.create_sql(create)
        raise delta_connect.Unsupported(f"DeltaTable's {kind} is not supported by the local engine.")

    def _databases(self, catalog_call: Any) -> str:
        """``spark.catalog.listDatabases([pattern])`` and ``getDatabase(name)``, the schemas by their own names as
        Databricks gives them (Sail gives ``main.<schema>``), from the same rule as ``SHOW SCHEMAS``."""
        from odoolake.workspace.sql.metadata import name_matches, pattern  # pyarrow: only when one is asked

        schemas = self.catalog.schemas(CATALOG)
        if catalog_call.WhichOneof("cat_type") == "get_database":
            wanted = catalog_call.get_database.db_name
            parts = [part.strip("`") for part in wanted.split(".")]
            if len(parts) == 2 and parts[0].lower() not in CATALOG_ALIASES:
                raise self._unknown_catalog(parts[0])
            found = [schema for schema in schemas if schema["name"] == parts[-1].lower()]
            if not found:
                raise refuse("NOT_FOUND", "SCHEMA_NOT_FOUND", "42704",
                             f"The schema `{wanted}` cannot be found. Verify the spelling and the catalog; "
                             "`SHOW SCHEMAS` lists what exists.")
        else:
            listing = catalog_call.list_databases
            regex = pattern(listing.pattern if listing.HasField("pattern") else None)
            found = [schema for schema in schemas if name_matches(regex, schema["name"])]
        return sqltext.answer_query(_DATABASE_COLUMNS, [(schema["name"], CATALOG, schema.get("comment"), None)
                                                        for schema in found])

    def _tables_as_databricks_names_them(self, catalog_call: Any, call: Call) -> bytes:
        """``spark.catalog.listTables`` and ``getTable``: Sail answers a table's namespace as ``[main, <schema>]``
        and calls every table EXTERNAL (it is told so: ``TableInfo.as_api``); Databricks answers ``[<schema>]`` and
        MANAGED for a table at its managed location. Sail is asked (its answer has the session's temporary views,
        and its errors name a missing table) and its rows are answered with those two columns as Databricks has
        them (Sail cannot run a query over a catalog call), as Arrow data for a local relation: a schema of thousands
        of tables is one buffer, where a query of literal rows took Sail a second to parse."""
        if catalog_call.WhichOneof("cat_type") == "get_table":
            view = self._view_named(catalog_call.get_table.table_name, call)
            if view is not None:
                return _arrow_rows(_TABLE_SCHEMA, [_view_row(view)])
        sail = relations_pb2.Relation()
        sail.catalog.CopyFrom(catalog_call)
        try:
            rows = self.upstream.query_rows(call.session_id, call.user_id, sail)
        except UpstreamError as exc:  # relayed as Sail's answer to the call would be, exception classes kept
            raise exc.error from None
        persistent: list[tuple] = []
        if catalog_call.WhichOneof("cat_type") == "list_tables" and self.catalog.view_names():
            from odoolake.workspace.sql.metadata import name_matches, pattern

            listing = catalog_call.list_tables
            schema = listing.db_name.split(".")[-1].strip("`").lower() if listing.HasField("db_name") else \
                self._current_schema(call)
            regex = pattern(listing.pattern if listing.HasField("pattern") else None)
            persistent = [_view_row(view) for view in self.catalog.views(CATALOG, schema)
                          if name_matches(regex, view.name.table)]
        managed = self.catalog.managed_names(CATALOG)
        answered = []
        for row in rows:  # in PySpark's order (Sail names the first column tableName, Spark name)
            name, catalog, namespace, description, kind, temporary = row.values()
            namespace = list(namespace or [])
            if not temporary and len(namespace) > 1:
                namespace = namespace[1:]
            if not temporary and len(namespace) == 1 and (namespace[0].lower(), str(name).lower()) in managed:
                kind = MANAGED
            answered.append((name, catalog, namespace, description, kind, bool(temporary)))
        if persistent:
            answered = sorted([row for row in answered if not row[5]] + persistent, key=lambda row: row[0]) + \
                [row for row in answered if row[5]]
        return _arrow_rows(_TABLE_SCHEMA, answered)

    def _functions(self, relation: relations_pb2.Relation, call: Call) -> None:
        """``spark.catalog.listFunctions([db, pattern])``, ``functionExists`` and ``getFunction``: Sail lists the
        session's functions (built-in and registered UDFs) but refuses a pattern and the other two calls, so its
        whole list is asked for and the answer made from it, matched as Spark matches (case-insensitive; a pattern
        as ``SHOW FUNCTIONS LIKE`` reads it)."""
        from odoolake.workspace.sql.metadata import name_matches, pattern  # pyarrow: only when one is asked

        kind = relation.catalog.WhichOneof("cat_type")
        asked = getattr(relation.catalog, kind)
        sail = relations_pb2.Relation()
        if asked.HasField("db_name"):
            sail.catalog.list_functions.db_name = asked.db_name
        else:
            sail.catalog.list_functions.SetInParent()
        try:
            rows = self.upstream.query_rows(call.session_id, call.user_id, sail)
        except UpstreamError as exc:
            raise exc.error from None
        found = [tuple(row.values()) for row in rows]
        if kind == "list_functions":
            regex = pattern(asked.pattern if asked.HasField("pattern") else None)
            relation.local_relation.data = _arrow_rows(_FUNCTION_SCHEMA, [row for row in found
                                                                          if name_matches(regex, str(row[0]))])
            relation.local_relation.schema = _FUNCTION_SCHEMA_JSON
            return
        wanted = asked.function_name.split(".")[-1].strip("`").lower()
        named = [row for row in found if str(row[0]).lower() == wanted]
        if kind == "function_exists":
            relation.sql.query = sqltext.answer_query([("value", "boolean")], [(bool(named),)])
        elif not named:
            raise refuse("NOT_FOUND", "UNRESOLVED_ROUTINE", "42883",
                         f"Cannot resolve routine `{asked.function_name}` on search path [`system`.`builtin`, "
                         "`system`.`session`]. Verify the spelling; spark.catalog.listFunctions() lists what exists.")
        else:
            relation.local_relation.data = _arrow_rows(_FUNCTION_SCHEMA, named[:1])
            relation.local_relation.schema = _FUNCTION_SCHEMA_JSON

    def _read(self, read: relations_pb2.Read, call: Call) -> None:
        source = read.data_source
        if source.format.lower() == "cloudfiles":
            raise refuse("UNIMPLEMENTED", "UNSUPPORTED_FEATURE", "0A000",
                         "Auto Loader (format 'cloudFiles') is a Databricks feature and is not available locally; "
                         "read the files in batch with spark.read and skip files already ingested.")
        _refuse_change_feed(source.options)
        _time_travel_dates(source.options)
        if not source.format and not read.is_streaming:  # spark.read.load(path): Databricks' default source is Delta
            source.format = "delta"
        # a Delta table's absence is the engine's to name; a stream's directory may be filled later
        check = self.access.map_and_check if source.format.lower() in ("delta", "") or read.is_streaming \
            else self.access.map_and_check_read
        for i, path in enumerate(source.paths):
            source.paths[i] = check(call.principal, path)
        self._path_options(source.options, call, check)

    def _path_options(self, options: Any, call: Call,
                      check: Callable[[Principal, str], str] | None = None) -> None:
        """Options the engine takes a path from (``path``, ``location``; their case does not matter to it)."""
        for key in list(options):
            if key.lower() in sqltext.OPTION_PATH_KEYS:
                options[key] = (check or self.access.map_and_check)(call.principal, options[key])

    def _map_path_read(self, ref: sqltext.PathRef, call: Call) -> str:
        """A path in a statement that only reads: files named as a table (``csv.`/x```) must exist (a Delta
        table's absence is the engine's to name)."""
        if ref.kind == "table" and ref.fmt != "delta":
            return self.access.map_and_check_read(call.principal, ref.path)
        return self.access.map_and_check(call.principal, ref.path)

    def _named_table(self, read: Any, call: Call) -> None:
        """``spark.read.table("text.`/some/file`")``: a name whose first part is a file format is a path. A catalog
        table read with ``versionAsOf``/``timestampAsOf`` is read at its location (see ``.time_travel``)."""
        _refuse_change_feed(read.named_table.options)  # the engine read the table as it is now, rows of no change
        if any(key.lower() in time_travel.OPTIONS for key in read.named_table.options):
            location = self._time_travel_location(read.named_table.unparsed_identifier, call)
            if location is not None:
                options = dict(read.named_table.options)
                read.data_source.format = "delta"  # the read's other kind: the named table is gone
                read.data_source.paths.append(location)
                read.data_source.options.update(options)
                self._read(read, call)
                return
        read.named_table.unparsed_identifier = sqltext.replace_name_path(
            read.named_table.unparsed_identifier, lambda ref: self._map_path_read(ref, call))
        _time_travel_dates(read.named_table.options)

    def _create_managed_table(self, create: Any, call: Call) -> str:
        """``spark.catalog.createTable(name, schema=…)`` without a path: an empty Delta table at the name's managed
        location, registered, as ``CREATE TABLE name (…)`` makes one (Sail would ask the catalog for a staging table,
        which Unity Catalog's open API does not have). Answered with the new table's rows (none)."""
        self.access.check_write(call.principal, "create tables")
        name = self._write_target(create.table_name, call)
        source = (create.source or "delta").lower()
        if source != "delta":
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"createTable({str(name)!r}, source={source!r}): tables in this workspace are Delta tables; "
                         "give a path for a table over other files.")
        fields = list(create.schema.struct.fields) if create.HasField("schema") else []
        if not fields:
            raise refuse("INVALID_ARGUMENT", "INVALID_SCHEMA", "42K07",
                         f"createTable({str(name)!r}) without a path needs a schema with at least one column.")
        exists = self.catalog.location(name) is not None
        columns = []
        for position, field in enumerate(fields):
            kind = delta_writes.delta_type(field.data_type)
            columns.append({"name": field.name, "position": position, "nullable": field.nullable, "kind": kind,
                            "type_json": json.dumps({"name": field.name, "type": kind, "nullable": field.nullable,
                                                     "metadata": {}})})
        if call.analyzing:  # the schema of what the call makes (PySpark asks it of the DataFrame it returns)
            return f"SELECT * FROM {name}" if exists else "SELECT " + ", ".join(
                f"CAST(NULL AS {type_text(c['kind'])}) AS {sqltext.quote_path(c['name'], '`')}" for c in columns) \
                + " WHERE false"
        if exists:
            raise refuse("ALREADY_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS", "42P07",
                         f"Cannot create table `{name}` because it already exists.")
        declared = [{key: value for key, value in c.items() if key != "kind"} for c in columns]
        self._catalog(lambda: self.catalog.create_table(name, None, "DELTA", columns=declared,
                                                        comment=create.description or None,
                                                        owner=call.principal.name))
        return f"SELECT * FROM {name}"

    def _catalog_relation(self, catalog: Any, call: Call) -> None:
        """``spark.catalog.createTable(name, path=…)`` (and ``createExternalTable``): a table over files is a write,
        and its path one like any other, as in ``CREATE TABLE … LOCATION``."""
        kind = catalog.WhichOneof("cat_type")
        if kind not in ("create_table", "create_external_table"):
            return
        create = getattr(catalog, kind)
        self.access.check_write(call.principal, "create tables")
        if create.path:
            create.path = self.access.map_and_check(call.principal, create.path)
        self._path_options(create.options, call)

    # -- SQL -------------------------------------------------------------------------------------------------------

    def _sql_command(self, sql_command: commands_pb2.SqlCommand, call: Call) -> Prepared:
        prepared = Prepared()
        if sql_command.HasField("input"):
            target = _sql_relation(sql_command.input)
            if target is not None:
                prepared.no_columns = sqltext.answers_no_columns(target.query)
                self._bind_parameters(target)
                target.query = self.prepare_sql(target.query, call, eager=True, prepared=prepared,
                                                standalone=sql_command.input.WhichOneof("rel_type") == "sql")
            # The engine runs the input as a command when it is one: every relation in it gets the rules (the
            # prepared statement above excepted), a SQL text under references included.
            prepared_holder = None if target is None else (
                sql_command.input if sql_command.input.WhichOneof("rel_type") == "sql"
                else sql_command.input.with_relations.root)
            for relation in _messages(sql_command.input, relations_pb2.Relation):
                if relation.WhichOneof("rel_type") == "sql" and relation == prepared_holder:
                    continue
                self._relation(relation, call)
        elif sql_command.sql:
            prepared.no_columns = sqltext.answers_no_columns(sql_command.sql)
            self._bind_parameters(sql_command)
            sql_command.sql = self.prepare_sql(sql_command.sql, call, eager=True, prepared=prepared)
        return prepared

    @staticmethod
    def _bind_parameters(holder: Any) -> None:
        try:
            sql_parameters.bind_arguments(holder)
        except sql_parameters.UnboundableParameter as exc:
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000", str(exc)) from None

    def prepare_sql(self, sql: str, call: Call, eager: bool, prepared: Prepared | None = None,
                    standalone: bool = True) -> str:
        """The text Sail should run for ``sql``; statements the engine serves itself are done here (only when
        ``eager``: a command, run once) and replaced by a query that returns their result. ``standalone`` is False
        for a text that names DataFrames passed with it (``spark.sql("… {df}", df=df)``): an INSERT then goes to
        Sail with them. A text the rules cannot read is refused with its error class, as Spark's parser would."""
        try:
            return self._prepare_sql(sql, call, eager, prepared, standalone)
        except sqltext.SqlSyntaxError as exc:
            error_class, _, message = str(exc).removeprefix("[").partition("] ")
            raise refuse("INVALID_ARGUMENT", error_class, _SQL_STATES.get(error_class, "42601"), message,
                         errors.PARSE_CLASSES) from None

    def _prepare_sql(self, sql: str, call: Call, eager: bool, prepared: Prepared | None, standalone: bool) -> str:
        if sql in sqltext.ANSWERED:  # the engine's own answer to an earlier statement, read by the client
            return sql
        # a long list of literal rows nests two levels however long it is: the bounds are for the rest
        flat = sqltext.flat_values_start(sql)
        bounded = sql if flat is None else sql[:flat]
        _check_size(bounded.encode(), "statement")
        _check_nesting(bounded, "statement")
        if sqltext.statements(sql) > 1:
            raise refuse("INVALID_ARGUMENT", "PARSE_SYNTAX_ERROR", "42601",
                         "Only one SQL statement can be run at a time; split the text at its semicolons.")
        if sqltext.is_recursive(sql):
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         "Recursive CTEs (WITH RECURSIVE) are not supported by the local engine (Sail 0.7.2 reads the "
                         "CTE's own name as a missing table): unroll the recursion to a fixed depth, or compute it "
                         "in Python.")
        if sqltext.calls(sql, "table_changes"):
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         "table_changes(…) (Delta Change Data Feed) is not supported by the local engine: compare two "
                         "versions of the table instead (SELECT … VERSION AS OF n EXCEPT ALL …).")
        if sqltext.calls(sql, "read_files"):
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         "read_files(…) is not supported by the local engine (Sail 0.7.2 has no such table "
                         "function): read the files with spark.read.format(…).options(…).load(path), or name them "
                         "as a table in SQL: SELECT * FROM csv.`/Volumes/…/file.csv`.")
        head = sqltext.words(sql, 4)
        if head[:1] == ["WITH"]:
            sql = sqltext.with_moved_into_insert(sql) or sql
            head = sqltext.words(sql, 4)
        if not head:
            raise refuse("INVALID_ARGUMENT", "PARSE_EMPTY_STATEMENT", "42617", "The SQL text is empty.")
        sql = sqltext.unquote_parameter_markers(sql)
        if head[:2] == ["REPLACE", "TABLE"]:  # Delta's REPLACE TABLE: CREATE OR REPLACE of a table that must exist
            sql = self._replace_existing_table(sql, call)
            head = sqltext.words(sql, 4)
        made_view = views.create_view(sql) if head[0] == "CREATE" else None
        if made_view is not None:
            if not eager:
                raise self._needs_command("CREATE VIEW")
            return self._create_view(made_view, call)
        altered = views.alter_view_as(sql) if head[:2] == ["ALTER", "VIEW"] else None
        if altered is not None:
            altered_view = self._altered_view(altered[0], call)
            if altered_view is None:  # the session's temporary view: the engine has no ALTER VIEW
                sql = f"CREATE OR REPLACE TEMPORARY VIEW {altered[0]} AS {altered[1]}"
                head = sqltext.words(sql, 4)
            elif not eager:
                raise self._needs_command("ALTER VIEW")
            else:
                made = views.CreateView(altered[0], True, False, None, altered_view.comment, altered[1])
                return self._create_view(made, call, owner=altered_view.owner)
        sql = self._expand_views(sql, call)
        if time_travel.mentions(sql):  # a catalog table AS OF a version: read at its location (see .time_travel)
            sql = time_travel.at_location(sql, lambda ref: self._time_travel_location(
                ".".join(sqltext.quote_path(part, "`") for part in ref.parts), call))
        sql = self._in_session_zone(sql, call)
        dropped_table = sqltext.drop_view(sql, "TABLE") if head[:2] == ["DROP", "TABLE"] else None
        if dropped_table is not None and len(dropped_table[0]) <= 3 and \
                self._view_named(".".join(sqltext.quote_path(p, "`") for p in dropped_table[0]), call) is not None:
            raise refuse("INVALID_ARGUMENT", "WRONG_COMMAND_FOR_OBJECT_TYPE", "42809",
                         f"The operation DROP TABLE requires a TABLE. But `{'.'.join(dropped_table[0])}` is a VIEW. "
                         "Use DROP VIEW instead.")
        writes = self._is_write(sql, head)
        written: FullName | None = None  # the catalog table the statement writes, once found writable
        if writes:
            self.access.check_write(call.principal, f"run {head[0]} statements")
            written = self._check_target(sql, call)
        created = head[3:4] if head[1:3] == ["OR", "REPLACE"] else head[1:2]  # the word after CREATE [OR REPLACE]
        kind = created[0] if created else ""
        if head[0] == "CREATE" and kind in _PIPELINE_OBJECTS:
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"The feature is not supported: {_PIPELINE_OBJECTS[kind]} (Databricks runs them as pipelines). "
                         "Locally, make a table (CREATE TABLE … AS, refreshed by a job) or a DLT pipeline.")
        if head[0] == "CREATE":
            _check_catalog_names(dialect.created_names(sql))
        sql = sqltext.replace_paths(sql, lambda ref: self.access.map_and_check(call.principal, ref.path) if writes
                                    else self._map_path_read(ref, call))
        if sqltext.identifier_parameters(sql):
            self.access.check_named_later(call.principal)
        if sqltext.mentions(sql, "information_schema"):
            self.information_schema.refresh()
            sql = sqltext.system_information_schema(sql, CATALOG)

        delta = match_delta_statement(sql)
        if delta is not None:
            if delta.kind in MUTATING_DELTA and not eager:
                raise self._needs_command(head[0])
            return self._delta(delta, call)
        shown = sqltext.show_create_table(sql) if head[:2] == ["SHOW", "CREATE"] else None
        if shown is not None:
            return sqltext.answer_query([("createtab_stmt", "string")],
                                        [(self.show_create(self.resolve(shown, call)),)])
        renamed = sqltext.rename_table(sql) if head[:2] == ["ALTER", "TABLE"] else None
        if renamed is not None:
            if not eager:
                raise self._needs_command("ALTER TABLE")
            old, new = self.resolve(renamed[0], call), self.resolve(renamed[1], call)
            self._catalog(lambda: self.catalog.rename_table(old, new))
            return sqltext.answer_query([], [])
        renamed_view = sqltext.rename_table(sql, "VIEW") if head[:2] == ["ALTER", "VIEW"] else None
        if renamed_view is not None:
            if not eager:
                raise self._needs_command("ALTER VIEW")
            self.access.check_write(call.principal, "rename views")
            old_name, new_name = self.resolve(renamed_view[0], call), self.resolve(renamed_view[1], call)
            if self.catalog.find_view(old_name) is None:
                raise not_found(old_name)
            self._catalog(lambda: self.catalog.rename_view(old_name, new_name))
            return sqltext.answer_query([], [])
        dropped = sqltext.drop_view(sql) if head[:2] == ["DROP", "VIEW"] else None
        if dropped is not None:
            if not eager:
                raise self._needs_command("DROP VIEW")
            return self._drop_view(sql, *dropped, call)
        if head[0] == "USE":
            return self._use(sql, head, call)
        if head[0] == "SHOW" and len(head) > 1 and head[1] in ("SCHEMAS", "DATABASES", "NAMESPACES"):
            return self._show_schemas(sql)
        if head[:2] in (["SHOW", "TABLES"], ["SHOW", "VIEWS"], ["SHOW", "COLUMNS"]) or \
                head[:3] == ["SHOW", "TABLE", "EXTENDED"]:
            return self._show_listing(sql, head[1], call)
        if head[0] in ("SET", "RESET") and not _SET_SPECIAL.match(sql):
            if not eager:
                raise self._needs_command(head[0])
            return self._set(sql, call)
        schema_described = sqltext.describe_schema(sql) if head[0] in ("DESCRIBE", "DESC") else None
        if schema_described is not None:
            return self._describe_schema(*schema_described)
        if head[0] in ("DESCRIBE", "DESC"):
            described = sqltext.describe_table(sql)
            if described is not None:
                return self._describe(described, call)
            if len(head) > 1 and head[1] not in _DESCRIBE_TARGETS:
                return re.sub(r"^\s*(DESCRIBE|DESC)\b", "DESCRIBE TABLE", sql, count=1, flags=re.I)
        if head[:2] == ["SHOW", "PARTITIONS"]:
            return self._show_partitions(sql, call)
        if head[0] == "CREATE":
            create = sqltext.create_table(sql)
            if create is not None:
                return self._create_table(sql, create, call, eager, prepared)
        if head[0] in DML_METRICS or head[:2] == ["TRUNCATE", "TABLE"]:
            if not eager:
                raise self._needs_command(head[0])
            return self._dml(sql, head, call, written)
        if head[0] in _CACHE_VERBS:
            hint = sqltext.cache_statement(sql)
            if hint is not None:
                return _exists_query(hint.table)
        if head[0] == "INSERT":
            partitioned = sqltext.insert_partition(sql) if "PARTITION" in head or len(head) == 4 else None
            if partitioned is not None:
                return self._insert_partition(partitioned, call, eager, prepared, standalone)
            location = self.catalog.location(written) if written is not None else None
            if head[1:2] == ["OVERWRITE"]:  # read whole only when the table is overwritten by partition
                partitions = self._dynamic_partitions(None, location, call) if location is not None else []
                if partitions:
                    overwrite = dialect.insert_rows(sql)
                    if overwrite is None or overwrite.static_partition:
                        raise _dynamic_overwrite_refused(str(written))
                    if not eager:
                        raise self._needs_command("INSERT OVERWRITE")
                    return self._insert_replace_where(overwrite, call, partitions)
            else:
                replacing = dialect.insert_rows(sql) or dialect.replace_on(sql)
                if replacing is not None and (replacing.condition is not None or replacing.replace_on):
                    if not eager:
                        raise self._needs_command("INSERT … REPLACE")
                    return self._insert_replace_where(replacing, call, list(replacing.replace_on) or None)
            literals = dialect.inserted_literals(sql)  # before the column list is filled in
            sql = dialect.fill_insert_columns(sql, lambda name: self._columns(name, call, views_first=False)) or sql
            sql = dialect.rewrite(sql, lambda name: self._columns(name, call)) or sql
            if eager and standalone and location is not None:
                assert written is not None
                return self._insert(sql, location, written, call, literals)
            if prepared is not None:  # Sail writes it: under the table's lock, fenced if stopped
                prepared.lock = location
            return sql
        return dialect.rewrite(sql, lambda name: self._columns(name, call)) or sql

    @contextmanager
    def _writing(self, location: str, call: Call) -> Iterator[None]:
        """A table write done here, beside the client's own call: under the table's lock, and stopped as the
        client's call is stopped (``Call.begin_write``: the proxy fences the table)."""
        with table_lock(location):
            call.begin_write(location)
            yield

    def _insert(self, sql: str, location: str, name: FullName, call: Call,
                literals: dialect.InsertedLiterals | None = None) -> str:
        """An ``INSERT`` into the catalog table at ``location``, run here (stopped and fenced as any write) and
        answered as Databricks answers one, ``num_affected_rows`` and ``num_inserted_rows`` (Sail answers a
        ``count``). An insert into anything else goes to Sail as it is, which names what is wrong. Sail refuses
        every INSERT into a table partitioned in another order than its columns' (``PARTITIONED BY (q, p)`` of
        columns ``p, q``: it names the partitions in the columns' order); such an insert is written here as a
        DataFrame write, which Sail takes, once Sail has refused it (its own errors come first). Values are
        stored as Delta casts them (:mod:`store_assignment`): the types of ``literals`` (the statement's VALUES, read
        from its text) are checked without asking the engine."""
        facts = self.catalog.delta.read(location)  # read once: the types below, and the partitioning
        if literals is not None and all(kind is not None for row in literals.rows for kind in row):
            unsafe = store_assignment.first_unsafe_row(facts.schema.get("fields", []), literals.columns,
                                                       literals.rows) if facts is not None else None
            _refuse_unsafe(unsafe, name)
        else:
            inserted = dialect.appended_rows(sql) or dialect.insert_rows(sql)
            if inserted is not None:
                self._check_stored_types(inserted.query, inserted.by_name, facts, name, call,
                                         columns=inserted.columns)
        with self._writing(location, call):
            try:
                rows = self.upstream.command_rows(call.session_id, call.user_id, sql, call.operation_id)
            except UpstreamError as exc:
                # Sail's own refusal first: a wrong column count is its error, named as Sail names it
                if _PARTITION_ORDER_REFUSED not in str(exc.error) or not _partitioned_out_of_order(facts):
                    raise exc.error from None
                rows = None
            self.catalog.delta.forget(location)
        if rows is None:
            return self._insert_out_of_order(sql, call)
        count = sum(int(value or 0) for row in rows for value in row.values())
        return sqltext.answer_query(INSERT_METRICS, [(count, count)])

    def column_candidates(self, request: Any, call: Call) -> list[tuple[str, ...]]:
        """The columns a request could have meant by a name the engine could not resolve, each as ``(qualifier
        parts…, column)`` as Spark qualifies them (an alias, else catalog, schema and table): those of every table
        its SQL texts read and its DataFrames name. None are offered (an empty list) when the request reads or makes
        columns the catalog does not hold (a subquery, a CTE, a table function, a table not found; a DataFrame's
        ``withColumn``, aggregate, local rows: ``NAMES_COLUMNS``): a proposal missing what is in scope would
        mislead."""
        types = list(errors.message_types(request))
        if NAMES_COLUMNS & set(types) or types.count("Project") > 1 or \
                ("SQL" in types and RELATION_STEPS & set(types)):
            return []  # columns made, dropped or chosen before the failing step: not the tables' own
        candidates: list[tuple[str, ...]] = []
        for field, text in errors.written_fields(request):
            tables = dialect.read_tables(text) if field in errors.SQL_FIELDS else [(text, "")]
            if tables is None:
                return []
            for name, alias in tables:
                found = self._table_columns(name, call)
                if found is None:
                    return []
                full, columns = found
                qualifier = (alias,) if alias else (full.catalog, full.schema, full.table)
                candidates += [(*qualifier, column) for column in columns]
        return candidates

    def _columns(self, name: str, call: Call, views_first: bool = True) -> list[str] | None:
        """The columns of the catalog table ``name`` reads (``_table_columns``)."""
        found = self._table_columns(name, call, views_first)
        return found[1] if found is not None else None

    def _table_columns(self, name: str, call: Call, views_first: bool = True) -> tuple[FullName, list[str]] | None:
        """The catalog table ``name`` reads and its columns' names (``_table_info``)."""
        found = self._table_info(name, call, views_first)
        return (found[0], [c["name"] for c in found[1].columns]) if found is not None else None

    def _table_info(self, name: str, call: Call, views_first: bool = True) -> tuple[FullName, Any] | None:
        """The catalog table ``name`` reads and what the catalog holds of it; None when it is not one (a temporary
        view of the session by that name comes first, as Spark resolves it in a query: ``views_first``) or cannot be
        looked up."""
        try:
            full = self.resolve(name, call)
            if views_first and self._temporary_view_hides(name, full, call):
                return None
            info = self.catalog.find(full)
        except (CallRefused, UpstreamError, grpc.RpcError):
            return None
        return (full, info) if info is not None else None

    def _dml(self, sql: str, head: list[str], call: Call, name: FullName | None) -> str:
        """DELETE, UPDATE and MERGE of table ``name`` run here, under its write lock, and answer with the rows
        they changed (read from the commit's metrics), as Databricks does; TRUNCATE TABLE is a DELETE of every row."""
        if name is None:
            return dialect.rewrite(sql, lambda name: self._columns(name, call)) or sql  # Sail reports what is wrong
        info = self.catalog.find(name)
        if info is None:
            raise not_found(name)
        verb = "DELETE" if head[0] == "TRUNCATE" else head[0]
        statement = f"DELETE FROM {name}" if head[0] == "TRUNCATE" else \
            (dialect.rewrite(sql, lambda n: self._columns(n, call)) or sql)
        with self._writing(info.storage_location, call):
            before = self.catalog.delta.read(info.storage_location)
            try:
                self.upstream.run_sql(call.session_id, call.user_id, statement, call.operation_id)
            except UpstreamError as exc:
                raise exc.error from None
            self.catalog.delta.forget(info.storage_location)
            metrics = delta_sql.commit_metrics(info.storage_location, before.version if before else -1, verb)
        if head[0] == "TRUNCATE":
            return sqltext.answer_query([], [])
        columns, row = DML_METRICS[verb]
        values = tuple(sum(int(metrics.get(key, 0)) for key in keys) for keys in row)
        return sqltext.answer_query([(column, "bigint") for column in columns], [values])

    def _insert_partition(self, insert: sqltext.InsertPartition, call: Call, eager: bool, prepared: Prepared | None,
                          standalone: bool) -> str:
        """``INSERT INTO|OVERWRITE t PARTITION (p = value, q, …) [(columns)] query``, which Sail does not write: as
        Spark writes it to a Delta table, the query's columns go, in order, to the table's columns (or those listed)
        other than the static partitions, which take their values; an overwrite with static values replaces the
        rows of that partition (as ``REPLACE WHERE p <=> value``; in dynamic partition overwrite mode the partitions
        its rows hold), one without replaces as INSERT OVERWRITE does."""
        name = self._write_target(insert.target, call)
        info = self.catalog.find(name)
        if info is None:
            raise not_found(name)
        columns = {c["name"]: c for c in info.columns}
        by_lower = {column.lower(): column for column in columns}
        partitioned = partition_columns(info.columns)
        static: dict[str, str] = {}
        _refuse_repeated([_bare(written) for written, _ in insert.spec], "DUPLICATE_KEY", "23505",
                         "Found duplicate keys `{}` in the PARTITION clause: name each column once.")
        if insert.columns is not None:
            _refuse_repeated([_bare(written) for written in insert.columns], "COLUMN_ALREADY_EXISTS", "42711",
                             "The column `{}` already exists in the INSERT's column list: name each column once.")
        for written, value in insert.spec:
            bare = _bare(written)
            column = by_lower.get(bare.lower())
            if column is None or column not in partitioned:
                raise refuse("INVALID_ARGUMENT", "NON_PARTITION_COLUMN", "42000",
                             f"PARTITION clause cannot contain the non-partition column: `{bare}`. {name} is "
                             + (f"partitioned by {', '.join(partitioned)}." if partitioned else "not partitioned."))
            if value is not None:
                static[column] = value
        given: list[str] = []
        for written in insert.columns if insert.columns is not None else \
                [sqltext.quote_path(c, "`") for c in columns if c not in static]:
            column = by_lower.get(_bare(written).lower())
            if column is None:
                raise refuse("INVALID_ARGUMENT", "UNRESOLVED_COLUMN.WITH_SUGGESTION", "42703",
                             f"A column with name `{_bare(written)}` cannot be resolved in {name}: its columns are "
                             f"{', '.join(columns)}.")
            if column in static:
                raise refuse("INVALID_ARGUMENT", "STATIC_PARTITION_COLUMN_IN_INSERT_COLUMN_LIST", "42713",
                             f"Static partition column `{column}` is also specified in the column list.")
            given.append(column)
        # Sail's answer to a count that differs names neither the table nor the columns (a query naming DataFrames
        # passed with it cannot be asked without them: Sail answers it)
        data = self._schema_of_query(insert.query, call) if standalone else None
        if data is not None and len(data.struct.fields) != len(given):
            reason = "too many data columns" if len(data.struct.fields) > len(given) else "not enough data columns"
            raise refuse("INVALID_ARGUMENT", "INSERT_COLUMN_ARITY_MISMATCH." + reason.upper().replace(" ", "_"),
                         "21S01", f"Cannot write to {name}, the reason is {reason}: Table columns: "
                         f"{', '.join(sqltext.quote_path(c, '`') for c in given)} (besides the static partition "
                         f"values). Data columns: {', '.join(sqltext.quote_path(f.name, '`') for f in data.struct.fields)}.")
        items = []
        for column, described in columns.items():
            quoted = sqltext.quote_path(column, "`")
            if column in static:
                items.append(f"CAST({static[column]} AS {described['type_text']}) AS {quoted}")
            elif column in given:
                items.append(f"{_ROWS}.c{given.index(column)} AS {quoted}")
            else:  # a column the list leaves out: NULL, as an INSERT with a column list fills it
                items.append(f"CAST(NULL AS {described['type_text']}) AS {quoted}")
        aliases = ", ".join(f"c{k}" for k in range(len(given)))
        query = f"SELECT {', '.join(items)} FROM ({insert.query}) AS {_ROWS}({aliases})"
        # as Spark plans it: in static partition overwrite mode the rows of the static values are deleted; in
        # dynamic mode, the partitions the rows hold are replaced (the recursion below), whatever the spec names
        if insert.overwrite and static and not self._dynamic_partitions(None, info.storage_location, call):
            if not eager:
                raise self._needs_command("INSERT OVERWRITE … PARTITION")
            condition = " AND ".join(  # the value as the column's type, as Spark compares it
                f"({sqltext.quote_path(c, '`')} <=> CAST({v} AS {columns[c]['type_text']}))" for c, v in static.items())
            return self._insert_replace_where(dialect.InsertRows(str(name), query, False, condition), call)
        verb = "INSERT OVERWRITE" if insert.overwrite else "INSERT INTO"
        return self._prepare_sql(f"{verb} {name} {query}", call, eager, prepared, standalone)

    def _schema_of_query(self, query: str, call: Call) -> Any:
        try:
            return self.upstream.schema(call.session_id, call.user_id, relations_pb2.Relation(
                sql=relations_pb2.SQL(query=self.prepare_sql(query, call, eager=False))))
        except UpstreamError as exc:
            raise exc.error from None

    def _check_stored_types(self, query: str, by_name: bool, facts: DeltaFacts | None, name: FullName, call: Call,
                            implicit: bool = True, columns: tuple[str, ...] | None = None) -> None:
        """Refuse an INSERT whose rows hold a value Delta would not cast to its column's type (a date into a
        number, a number into a date: ``DATATYPE_MISMATCH``, :mod:`store_assignment`), or one the engine's
        ``implicit`` conversion would write wrong, before anything is written. ``query`` is as the engine runs it.
        ``facts`` is the table's Delta log as the caller read it. Costs one schema lookup of the rows; the log read
        is the one the engine's own lookups of the table then find cached."""
        if facts is None:
            return
        try:
            data = self.upstream.schema(call.session_id, call.user_id,
                                        relations_pb2.Relation(sql=relations_pb2.SQL(query=query)))
        except UpstreamError:
            return  # the insert itself reports what is wrong with its rows
        _refuse_unsafe(store_assignment.first_unsafe(facts.schema.get("fields", []),
                                                     delta_writes.delta_type(data)["fields"], by_name, implicit,
                                                     columns), name)

    def _insert_out_of_order(self, sql: str, call: Call) -> str:
        """An ``INSERT INTO|OVERWRITE t query`` into a table Sail cannot insert into (see :meth:`_insert`), as
        a DataFrame append, or an overwrite replacing every row."""
        appended = dialect.appended_rows(sql)
        if appended is not None:
            return self._insert_replace_where(appended, call, append=True)
        overwrite = dialect.insert_rows(sql)
        if overwrite is None or overwrite.condition is not None or overwrite.static_partition:
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         "This form of INSERT into a table partitioned in another order than its columns is not "
                         "supported locally: write INSERT INTO|OVERWRITE <table> [BY NAME] <query>.")
        return self._insert_replace_where(dataclasses.replace(overwrite, condition="true"), call)

    def _insert_replace_where(self, insert: dialect.InsertRows, call: Call, partitions: list[str] | None = None,
                              append: bool = False) -> str:
        """``INSERT INTO t REPLACE WHERE condition query`` (dbt-databricks' ``replace_where`` strategy; Sail cannot
        parse it), or with ``partitions`` an ``INSERT OVERWRITE`` of a partitioned table in dynamic partition mode or
        an ``INSERT INTO t REPLACE ON (t.c <=> s.c …)`` (its ``insert_overwrite`` strategy), whose condition is the
        values of those columns the rows hold. The rows matching the condition are replaced by the query's, as a
        DataFrame overwrite with the ``replaceWhere`` option, under Delta's checks (a row written outside the
        condition fails the write). Columns are matched by position, as an INSERT matches them, or by name with
        ``BY NAME``, and converted to the table's types. With ``append`` the rows are appended, replacing none.
        Answered as Databricks answers an INSERT."""
        name = self._write_target(insert.target, call)
        info = self.catalog.find(name)
        if info is None:
            raise not_found(name)
        names = [sqltext.quote_path(c["name"], "`") for c in info.columns]
        self._check_stored_types(self.prepare_sql(insert.query, call, eager=False), insert.by_name,
                                 self.catalog.delta.read(info.storage_location), name, call, implicit=False,
                                 columns=insert.columns)
        # the table's types, as an INSERT converts its values (a literal 5 into a BIGINT column); with a column list,
        # the columns it leaves out are NULL
        # (a quoted name is matched in its case: the column list's spelling is the one the rows are named by)
        listed = {c.lower(): sqltext.quote_path(c, "`") for c in insert.columns} if insert.columns is not None else None
        typed = ", ".join(f"CAST({n if listed is None else listed.get(c['name'].lower(), 'NULL')} AS {c['type_text']})"
                          f" AS {n}" for n, c in zip(names, info.columns, strict=True))
        inserted = "inserted" if insert.by_name else f"inserted({', '.join(names)})" if insert.columns is None else \
            f"inserted({', '.join(sqltext.quote_path(c, '`') for c in insert.columns)})"
        query = self.prepare_sql(f"SELECT {typed} FROM ({insert.query}) AS {inserted}", call, eager=False)
        location = info.storage_location
        write = WriteOp(input=relations_pb2.Relation(sql=relations_pb2.SQL(query=query)), source="delta",
                        path=location, mode=WriteOp.SaveMode.SAVE_MODE_APPEND if append else
                        WriteOp.SaveMode.SAVE_MODE_OVERWRITE)
        if partitions is not None:  # the rows are read twice (their partitions, then the write): the same rows both times
            _check_deterministic(dialect.volatile_function(insert.query))
            write.options["replaceWhere"] = self._written_values(
                relations_pb2.Relation(sql=relations_pb2.SQL(query=query)), partitions, call) or "false"
        elif not append:
            write.options["replaceWhere"] = self._replace_where_condition(insert.condition or "", call) or "false"
        self._delta_write_rules(write, WriteInput(write), str(name), call)
        with self._writing(location, call):
            before = self.catalog.delta.read(location)
            try:
                self.upstream.run_command(call.session_id, call.user_id, commands_pb2.Command(write_operation=write),
                                          call.operation_id)
            except UpstreamError as exc:
                raise exc.error from None
            self.catalog.delta.forget(location)
            metrics = delta_sql.commit_metrics(location, before.version if before else -1, "WRITE")
            written = int(metrics.get("numOutputRows", 0))
            if not append and int(metrics.get("numRemovedFiles", 0)):
                # the engine rewrote files holding replaced rows, and counts the rows it kept in them as written:
                # the rows inserted are those now matching the condition (every written row must match it)
                written = self._rows_matching(location, write.options["replaceWhere"], call)
        return sqltext.answer_query(INSERT_METRICS, [(written, written)])

    def _rows_matching(self, location: str, condition: str, call: Call) -> int:
        table = "delta.`" + location.replace("`", "``") + "`"
        counted = relations_pb2.Relation(sql=relations_pb2.SQL(
            query=f"SELECT count(*) AS n FROM {table} WHERE {condition}"))
        try:
            return int(self.upstream.query_rows(call.session_id, call.user_id, counted)[0]["n"])
        except UpstreamError as exc:
            raise exc.error from None

    def _written_values(self, rows: relations_pb2.Relation, columns: list[str], call: Call) -> str:
        """A condition that holds for the values of ``columns`` the ``rows`` hold (and only those): the partitions a
        dynamic partition overwrite replaces. Empty when there are no rows."""
        quoted = [sqltext.quote_path(column, "`") for column in columns]
        distinct = relations_pb2.Relation(deduplicate=relations_pb2.Deduplicate(all_columns_as_keys=True, input=
            relations_pb2.Relation(project=relations_pb2.Project(input=rows, expressions=[
                {"unresolved_attribute": {"unparsed_identifier": column}} for column in quoted]))))
        try:
            found = self.upstream.query_rows(call.session_id, call.user_id, distinct)
        except UpstreamError as exc:
            raise exc.error from None
        if any(isinstance(value, bytes) for row in found for value in row.values()):  # Sail matched none of them
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"A dynamic partition overwrite by a BINARY column ({', '.join(columns)}) is not supported "
                         "locally (Delta does not partition by BINARY either): name the rows with REPLACE WHERE.")
        if len(quoted) == 1:  # one IN list: an OR chain of thousands of values made the write minutes long
            values = [next(iter(row.values())) for row in found]
            known = [sqltext.sql_literal(v) for v in values if v is not None]
            terms = ([f"{quoted[0]} IN ({', '.join(known)})"] if known else []) + \
                ([f"{quoted[0]} IS NULL"] if len(known) < len(values) else [])
            return " OR ".join(terms)
        return " OR ".join("(" + " AND ".join(f"{column} <=> {sqltext.sql_literal(value)}"
                                              for column, value in zip(quoted, row.values(), strict=True)) + ")"
                           for row in found)

    def _replace_where_condition(self, condition: str, call: Call) -> str:
        """A REPLACE WHERE condition as the engine gets it: no subquery (Delta refuses one there), its paths under
        the rules (sqlglot writes a ``csv."/path"`` string as a name the engine reads)."""
        if dialect.has_subquery(condition):
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"The REPLACE WHERE condition `{condition}` has a subquery, which Delta does not allow there.")
        return sqltext.replace_paths(condition, lambda ref: self.access.map_and_check(call.principal, ref.path))

    def _check_target(self, sql: str, call: Call) -> FullName | None:
        """The table a write statement names, which must be writable (``CatalogStore.check_writable``); a one-part
        name is looked up in the session's current schema (an engine call, for a write only), which may be the
        system schema. None when the statement names no table (Sail reports what is wrong)."""
        target = dialect.dml_target(sql)
        return self._write_target(target, call) if target is not None else None

    def _is_write(self, sql: str, head: list[str]) -> bool:
        if head[0] in SESSION_STATEMENTS or _TEMP_VIEW.match(sql):
            return False
        try:
            check_read_only(sql)
        except NotReadOnly:
            return True
        return False

    @staticmethod
    def _needs_command(what: str) -> CallRefused:
        return refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                      f"{what} changes a table: run it as a statement (spark.sql(...)), not inside a query.")

    def _delta(self, stmt: Any, call: Call) -> str:
        if stmt.target.lower().startswith("delta.`"):
            location = stmt.target[len("delta.`"):-1]
            name = None
        else:
            name = self._write_target(stmt.target, call) if stmt.kind in MUTATING_DELTA else \
                self.resolve(stmt.target, call)
            info = self.catalog.find(name)
            if info is None:
                raise not_found(name)
            if stmt.kind == "comment_table" and info.data_source_format != "DELTA":  # the catalog's alone
                self._catalog(lambda: self.catalog.set_table_comment(name, comment_text(stmt)))
                return sqltext.answer_query([], [])
            location = info.storage_location
            if stmt.kind == "tblproperties":  # the catalog's: the log's properties and those kept beside it
                return sqltext.answer_query(*delta_sql.shown_properties(stmt, own_properties(info.properties)))

        try:
            columns, rows = run_delta_statement(stmt, location, lambda key: self._session_conf(call, key))
        except UnknownColumn as exc:
            raise refuse("INVALID_ARGUMENT", "UNRESOLVED_COLUMN.WITH_SUGGESTION", "42703", str(exc)) from None
        except table_properties.PropertyRefused as exc:
            raise refuse("INVALID_ARGUMENT", exc.error_class, exc.sql_state, exc.message) from None
        except DeltaCommandError as exc:
            raise refuse("INVALID_ARGUMENT", "DELTA_COMMAND_FAILED", "42000", str(exc)) from None
        if name is not None and stmt.kind == "detail":  # the table's name, as Databricks answers (the log has none)
            name_at = [c for c, _ in columns].index("name")
            rows = [(*row[:name_at], str(name), *row[name_at + 1:]) for row in rows]
        if name is not None:
            self.catalog.delta.forget(location)
            if stmt.kind == "comment_table":  # the catalog's comment, which DESCRIBE and the API show
                self._catalog(lambda: self.catalog.set_table_comment(name, comment_text(stmt)))
        return sqltext.answer_query(columns, rows)

    def _set(self, sql: str, call: Call) -> str:
        """``SET k = v``, ``SET k``, ``SET``, ``RESET k`` (and Databricks SQL's forms, ``sqltext.setting``): session
        configuration, kept in the caller's session."""
        found = sqltext.setting(sql)
        if found is None:
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         "SET TIME ZONE needs a zone named in quotes: SET TIME ZONE 'Asia/Manila' (or an offset, "
                         "'+08:00').")
        Operation = base_pb2.ConfigRequest.Operation
        key, value = found.key, found.value
        if found.verb == "RESET":  # a bare RESET puts every setting back, as Spark's does (it did nothing)
            keys = [key] if key else [p.key for p in self.upstream.config(
                call.session_id, call.user_id, Operation(get_all=base_pb2.ConfigRequest.GetAll())).pairs
                if p.key != DEBUGGING_CONF]  # the client's own switch, which engine sessions start with
            if keys:
                self.unset_to_defaults(Operation(unset=base_pb2.ConfigRequest.Unset(keys=keys)), call)
            return sqltext.answer_query([], [])
        if not key:
            response = self.upstream.config(call.session_id, call.user_id,
                                            Operation(get_all=base_pb2.ConfigRequest.GetAll()))
            return sqltext.answer_query([("key", "string"), ("value", "string")],
                                        sorted((p.key, p.value) for p in response.pairs))
        if value is None:
            response = self.upstream.config(call.session_id, call.user_id,
                                            Operation(get_option=base_pb2.ConfigRequest.GetOption(keys=[key])))
            found_value = response.pairs[0].value if response.pairs and response.pairs[0].HasField("value") else None
            return sqltext.answer_query([("key", "string"), ("value", "string")],
                                        [(key, found_value if found_value is not None else "<undefined>")])
        self.set_checked(base_pb2.ConfigRequest.Operation(set=base_pb2.ConfigRequest.Set(
            pairs=[base_pb2.KeyValue(key=key, value=value)])), call)
        return sqltext.answer_query([("key", "string"), ("value", "string")], [(key, value)])

    def set_checked(self, operation: base_pb2.ConfigRequest.Operation, call: Call) -> base_pb2.ConfigResponse:
        """A ``set`` of session settings (SQL ``SET``, ``spark.conf.set``, a session builder's ``.config()`` keys, a
        SQL connection's session configuration), put back as they were if the engine cannot plan a query with the
        new values: Sail stores any text and then failed every later statement of the session (``SET ANSI_MODE =
        maybe``, then even ``SELECT 1``). Refused with INVALID_CONF_VALUE naming each value it cannot use; Sail's
        answer to the ``set`` otherwise."""
        pairs = [(p.key, p.value) for p in operation.set.pairs]
        for pair in operation.set.pairs:
            problem = sqltext.setting_problem(pair.key, pair.value)
            if problem is not None:
                raise refuse("INVALID_ARGUMENT", "INVALID_CONF_VALUE", "22022",
                             f"The value '{pair.value}' in the config \"{pair.key}\" is invalid: "
                             f"{problem.rstrip('.')}. The setting keeps its value.")
            if pair.key == sqltext.TIME_ZONE_KEY:
                zone = sqltext.engine_time_zone(pair.value)
                if zone is None:
                    raise refuse("INVALID_ARGUMENT", "INVALID_CONF_VALUE", "22022",
                                 f"{pair.value!r} is not a time zone: name a region (Asia/Manila) or an offset "
                                 "(+08:00).")
                pair.value = zone  # as the engine reads it (the offset forms Spark takes, short IDs)
        keys = [key for key, _ in pairs]
        was = self._settings(keys, call)
        try:
            answer = self.upstream.config(call.session_id, call.user_id, operation)
            failure = self._unplannable(call)
        except UpstreamError as exc:  # Sail may refuse a set of several keys, yet keep what it was given
            failure = exc
        if failure is None:
            zone = next((p.value for p in operation.set.pairs if p.key == sqltext.TIME_ZONE_KEY), None)
            if zone is not None:
                self._note_zone(call.session_id, zone)
            return answer
        self._put_back(keys, was, call)
        culprits = pairs if len(pairs) == 1 else [pair for pair in pairs if self._unplannable_alone(pair, was, call)]
        named = culprits or pairs
        values = " and ".join(f"the value '{v}' in the config \"{k}\"" for k, v in named)
        kept = "The setting keeps its value." if len(pairs) == 1 else \
            "No setting of the call was changed: each keeps its value."
        raise refuse("INVALID_ARGUMENT", "INVALID_CONF_VALUE", "22022",
                     f"{values[0].upper()}{values[1:]} {'is' if len(named) == 1 else 'are'} invalid: "
                     f"{failure.error.details()}. {kept}")

    def unset_to_defaults(self, operation: base_pb2.ConfigRequest.Operation, call: Call) -> base_pb2.ConfigResponse:
        """An ``unset`` (``spark.conf.unset``, SQL ``RESET key``): a setting every engine session starts with
        (``SESSION_CONF``: the time zone) goes back to that value, as Spark's goes back to its default; Sail's unset
        left it undefined (``conf.get`` answered None)."""
        Operation = base_pb2.ConfigRequest.Operation
        keys = list(operation.unset.keys)
        if sqltext.TIME_ZONE_KEY in keys:
            self._note_zone(call.session_id, SESSION_CONF[sqltext.TIME_ZONE_KEY])
        defaults = [base_pb2.KeyValue(key=k, value=SESSION_CONF[k]) for k in keys if k in SESSION_CONF]
        rest = [k for k in keys if k not in SESSION_CONF]
        answer = self.upstream.config(call.session_id, call.user_id, Operation(unset=base_pb2.ConfigRequest.Unset(
            keys=rest))) if rest or not defaults else base_pb2.ConfigResponse(session_id=call.session_id)
        if defaults:
            self.upstream.config(call.session_id, call.user_id, Operation(set=base_pb2.ConfigRequest.Set(
                pairs=defaults)))
        return answer

    def _note_zone(self, session_id: str, zone: str) -> None:
        if sqltext.always_utc(zone):
            self._session_zones.pop(session_id, None)
        else:
            self._session_zones[session_id] = zone

    def sessions_cloned(self, source: str, copy: str) -> None:
        """A session copied with its settings (``CloneSession``): the copy has the source's time zone."""
        if source in self._session_zones:
            self._session_zones[copy] = self._session_zones[source]

    def sessions_ended(self, session_ids: set[str]) -> None:
        for session_id in session_ids:
            self._session_zones.pop(session_id, None)

    def _in_session_zone(self, sql: str, call: Call) -> str:
        """In a session whose time zone is not UTC, each catalog table the text reads (FROM, JOIN, MERGE's USING)
        with TIMESTAMP columns is read through a subquery that casts them to TIMESTAMP. Sail (0.7.2) reads a table's
        timestamps in UTC, the zone Delta stores them in, and its functions follow the column's zone, not the
        session's: ``hour(ts)``, ``to_date(ts)``, ``date_format`` and a cast to string answered UTC's wall clock
        where Spark answers the session's (a literal was right). The cast keeps the instant and takes the session's
        zone. Paths (``delta.`/…```), names with a clause of their own (AS OF, PIVOT, TABLESAMPLE) and the target of
        UPDATE, DELETE and MERGE are left as they are."""
        if call.session_id not in self._session_zones:
            return sql

        def query_of(ref: views.TableRef) -> str | None:
            if ref.clauses or len(ref.parts) > 3 or \
                    (len(ref.parts) > 1 and ref.parts[-2].lower() in sqltext.FILE_FORMATS):
                return None
            name = ".".join(sqltext.quote_path(part, "`") for part in ref.parts)
            found = self._with_timestamps(name, call)
            if found is None:
                return None
            columns = ", ".join(
                f"CAST({quoted} AS TIMESTAMP) AS {quoted}" if c["type_text"] == "timestamp" else quoted
                for c in found[1].columns for quoted in [sqltext.quote_path(c["name"], "`")])
            return f"SELECT {columns} FROM {name}"

        return views.replace_refs(sql, views.table_refs(sql), query_of)

    def _with_timestamps(self, name: str, call: Call) -> tuple[FullName, Any] | None:
        """The catalog table ``name`` reads (``_table_info``) when it has TIMESTAMP columns."""
        found = self._table_info(name, call)
        return found if found is not None and any(c["type_text"] == "timestamp" for c in found[1].columns) else None

    def _zoned_table_read(self, relation: relations_pb2.Relation, call: Call) -> bool:
        """``spark.table(name)`` in a session whose time zone is not UTC, of a table with TIMESTAMP columns: read as
        ``SELECT * FROM name``, so its timestamps take the session's zone (``_in_session_zone``)."""
        named = relation.read.named_table
        if call.session_id not in self._session_zones or \
                any(key.lower() in (*time_travel.OPTIONS, *CHANGE_FEED_OPTIONS) for key in named.options):
            return False  # read at a version, or refused as a change feed (``_named_table``)
        found = self._with_timestamps(named.unparsed_identifier, call)
        if found is None:
            return False
        full = found[0]
        name = ".".join(sqltext.quote_path(part, "`") for part in (full.catalog, full.schema, full.table))
        relation.sql.query = self.prepare_sql(f"SELECT * FROM {name}", call, eager=False)
        return True

    # A query whose planning reads the settings a bad value breaks (ANSI mode, the session time zone)
    _SETTINGS_PROBE = "SELECT CAST(CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS STRING) AS probe"

    def _settings(self, keys: list[str], call: Call) -> dict[str, str]:
        got = self.upstream.config(call.session_id, call.user_id, base_pb2.ConfigRequest.Operation(
            get_option=base_pb2.ConfigRequest.GetOption(keys=keys)))
        return {p.key: p.value for p in got.pairs if p.HasField("value")}

    def _unplannable(self, call: Call) -> UpstreamError | None:
        try:
            self.upstream.query_rows(call.session_id, call.user_id,
                                     relations_pb2.Relation(sql=relations_pb2.SQL(query=self._SETTINGS_PROBE)))
        except UpstreamError as exc:
            return exc
        return None

    def _put_back(self, keys: list[str], was: dict[str, str], call: Call) -> None:
        """``keys`` as they were: all unset first (Sail refuses any set while a value it cannot read is stored), then
        the earlier values set again."""
        Operation = base_pb2.ConfigRequest.Operation
        self.upstream.config(call.session_id, call.user_id, Operation(unset=base_pb2.ConfigRequest.Unset(keys=keys)))
        kept = [base_pb2.KeyValue(key=k, value=was[k]) for k in keys if k in was]
        if kept:
            self.upstream.config(call.session_id, call.user_id, Operation(set=base_pb2.ConfigRequest.Set(pairs=kept)))

    def _unplannable_alone(self, pair: tuple[str, str], was: dict[str, str], call: Call) -> bool:
        """Whether one setting of a refused call is one the engine cannot plan with (to name only those)."""
        key, value = pair
        self.upstream.config(call.session_id, call.user_id, base_pb2.ConfigRequest.Operation(
            set=base_pb2.ConfigRequest.Set(pairs=[base_pb2.KeyValue(key=key, value=value)])))
        bad = self._unplannable(call) is not None
        self._put_back([key], was, call)
        return bad

    def _use(self, sql: str, head: list[str], call: Call) -> str:
        target = [t.text for t in sqltext.tokens(sql)[1:] if t.text not in (";",)]
        if target and target[0].upper() in ("CATALOG",):
            catalog = target[-1].lower()
            if catalog not in CATALOG_ALIASES:
                raise self._unknown_catalog(catalog)
            return sql
        if target and target[0].upper() in ("SCHEMA", "DATABASE", "NAMESPACE"):
            target = target[1:]
        parts = [p for p in target if p != "."]
        if len(parts) == 2:
            if parts[0].lower() not in CATALOG_ALIASES:
                raise self._unknown_catalog(parts[0])
            return f"USE SCHEMA `{parts[1]}`"
        if len(parts) == 1:
            return f"USE SCHEMA `{parts[0]}`"
        return sql

    def _show_schemas(self, sql: str) -> str:
        """``SHOW SCHEMAS [IN|FROM catalog] [[LIKE] 'pattern']`` from the catalog, one ``databaseName`` a row as
        Databricks answers (Sail answers ``main.<schema>``): read and answered by the SQL warehouse's own rules
        (:mod:`odoolake.workspace.sql.show_metadata`), so both paths parse and answer it one way."""
        from odoolake.workspace.sql import show_metadata  # pyarrow.compute: only when a SHOW SCHEMAS comes

        try:
            command = show_metadata.parse(sql)
            if command is None:  # not a form it reads: Sail reports it
                return sql
            table = show_metadata.answer(command, show_metadata.Metadata(self.catalog))
        except show_metadata.ShowMetadataError as exc:
            code = "NOT_FOUND" if (exc.error_class, exc.sql_state) == NO_SUCH_CATALOG else "INVALID_ARGUMENT"
            raise refuse(code, exc.error_class, exc.sql_state, str(exc).split("] ", 1)[-1]) from None
        return sqltext.answer_query([(f.name, _sql_type(f)) for f in table.schema],
                                    [tuple(row.values()) for row in table.to_pylist()])

    def _drop_view(self, sql: str, parts: list[str], if_exists: bool, call: Call) -> str:
        """``DROP VIEW [IF EXISTS] name``: a temporary view of the session is Sail's to drop, a persistent view the
        catalog's; a table is the wrong command (IF EXISTS too, as Spark checks it), IF EXISTS of any other name does
        nothing and anything else is not found, as Databricks answers. Sail sent every such name to the catalog,
        which answered that dropping views is not supported, IF EXISTS or not."""
        global_temp = len(parts) == 2 and parts[0].lower() == "global_temp"
        found = self._temporary_view(parts[-1], global_temp, call) if len(parts) == 1 or global_temp else None
        if found is not None:
            return "DROP VIEW " + ("global_temp." if global_temp else "") + sqltext.quote_path(found, "`")
        name = None if global_temp or len(parts) > 3 else \
            self.resolve(".".join(sqltext.quote_path(part, "`") for part in parts), call)
        if name is not None and self.catalog.find_view(name) is not None:
            self.access.check_write(call.principal, "drop views")
            self._catalog(lambda: self.catalog.delete_view(name))
            return sqltext.answer_query([], [])
        if name is not None and self.catalog.find(name) is not None:  # IF EXISTS or not, as Spark checks it
            raise refuse("INVALID_ARGUMENT", "WRONG_COMMAND_FOR_OBJECT_TYPE", "42809",
                         f"The operation DROP VIEW requires a VIEW. But `{name}` is a TABLE. Use DROP TABLE instead.")
        if if_exists:
            return sqltext.answer_query([], [])
        raise not_found(name if name is not None else ".".join(parts))

    def _temporary_view(self, name: str, global_temp: bool, call: Call) -> str | None:
        """The name Sail keeps for the session's temporary view ``name`` (a global one with ``global_temp``), found
        as Spark finds it, case-insensitively (Sail matches case-sensitively); None when there is none."""
        listing = "SHOW VIEWS" + (" IN global_temp" if global_temp else "")
        try:
            views = self.upstream.query_rows(call.session_id, call.user_id,
                                             relations_pb2.Relation(sql=relations_pb2.SQL(query=listing)))
        except UpstreamError as exc:
            raise exc.error from None
        return next((row["tableName"] for row in views
                     if row["isTemporary"] and row["tableName"].lower() == name.lower()), None)

    # -- persistent views (the catalog keeps their query: see .views) -----------------------------------------------

    def _view_named(self, text: str, call: Call) -> ViewInfo | None:
        """The persistent view ``text`` names, or None (a table, a temporary view, a path, or nothing)."""
        names = self.catalog.view_names()
        if not names or not views.mentions_any(text, names):
            return None
        try:
            name = self.resolve(text, call)
        except CallRefused:
            return None
        found = self.catalog.find_view(name)
        return None if found is not None and self._temporary_view_hides(text, name, call) else found

    def _temporary_view_hides(self, text: str, name: FullName, call: Call) -> bool:
        """Whether ``text`` is a one-part name a temporary view of the session holds: Spark resolves it to that view,
        before any persistent view of the name."""
        return "." not in text.strip("`") and name.table in self._temporary_views(call)

    def _expand_views(self, sql: str, call: Call, depth: int = 0) -> str:
        """``sql`` with every persistent view it reads replaced by the view's query (views over views too)."""
        names = self.catalog.view_names()
        if not names or not views.mentions_any(sql, names):
            return sql

        def query_of(ref: views.TableRef) -> str | None:
            if ref.parts[-1].lower() not in names or len(ref.parts) > 3 or \
                    (len(ref.parts) > 1 and ref.parts[-2].lower() in sqltext.FILE_FORMATS):
                return None
            view = self._view_named(".".join(sqltext.quote_path(part, "`") for part in ref.parts), call)
            if view is None:
                return None
            if depth >= views.MAX_DEPTH:
                raise refuse("INVALID_ARGUMENT", "VIEW_EXCEED_MAX_NESTED_DEPTH", "54K00",
                             f"The depth of view {view.name} exceeds the maximum view resolution depth "
                             f"({views.MAX_DEPTH}). Analysis is aborted to avoid errors.")
            return self._expand_views(_view_query(view), call, depth + 1)

        return views.replace_refs(sql, views.table_refs(sql), query_of)

    def _time_travel_location(self, text: str, call: Call) -> str | None:
        """The location of the catalog table ``text`` names; None for a path (``delta.`/x```) or no such table."""
        parts = [tok.text for tok in sqltext.tokens(text) if tok.text != "."]
        if len(parts) > 1 and parts[-2].lower() in sqltext.FILE_FORMATS:
            return None
        try:
            info = self.catalog.find(self.resolve(text, call))
        except CallRefused:
            return None
        return info.storage_location if info is not None else None

    def _replace_existing_table(self, sql: str, call: Call) -> str:
        """``REPLACE TABLE name …`` as ``CREATE OR REPLACE TABLE name …`` once the table is known to exist (Sail's
        catalog refused the statement, naming "open source Unity Catalog")."""
        text, _ = sqltext.name_at(list(sqltext.tokens(sql)), 2)
        if text is None:
            raise refuse("INVALID_ARGUMENT", "PARSE_SYNTAX_ERROR", "42601", "REPLACE TABLE needs a table name.")
        name = self.resolve(text, call)
        if self.catalog.find_view(name) is not None:
            raise refuse("INVALID_ARGUMENT", "EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE", "42809",
                         f"`{name}` is a view: REPLACE TABLE replaces a table. DROP VIEW it first, or CREATE OR "
                         "REPLACE VIEW.")
        if self.catalog.row(name) is None:
            raise refuse("NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND", "42P01",
                         f"Table `{name}` cannot be replaced as it does not exist. Use CREATE OR REPLACE TABLE to "
                         "create the table.")
        return "CREATE OR " + sql.lstrip()

    def _altered_view(self, text: str, call: Call) -> ViewInfo | None:
        """The persistent view an ``ALTER VIEW name AS`` changes; None for a temporary view of the session (the
        engine's); refused when the name is a table's or nothing's."""
        name = self.resolve(text, call)
        if self._temporary_view_hides(text, name, call):
            return None
        found = self.catalog.find_view(name)
        if found is not None:
            return found
        if self.catalog.row(name) is not None:
            raise refuse("INVALID_ARGUMENT", "EXPECT_VIEW_NOT_TABLE.NO_ALTERNATIVE", "42809",
                         f"`{name}` is a table: ALTER VIEW … AS changes a view's query. Use CREATE OR REPLACE TABLE "
                         "… AS to replace a table's rows.")
        raise not_found(name)

    def _create_view(self, made: views.CreateView, call: Call, owner: str | None = None) -> str:
        """``CREATE [OR REPLACE] VIEW [IF NOT EXISTS] name [(columns)] [COMMENT …] AS query``: the query is checked
        (the engine analyzes it, views it reads expanded) and kept with its table names qualified by the view's
        schema and the columns it answers. ``ALTER VIEW name AS query`` comes here as a replace that keeps the
        view's comment and ``owner`` (its column names come from the new query, as Spark's do)."""
        self.access.check_write(call.principal, "create views")
        name = self._write_target(made.name, call, view=True)
        if self.catalog.row(name) is not None:
            raise refuse("ALREADY_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS", "42P07",
                         f"Cannot create view `{name}` because a table of that name already exists.")
        existing = self.catalog.find_view(name)
        if existing is not None and made.if_not_exists:
            return sqltext.answer_query([], [])
        if existing is not None and not made.replace:
            raise refuse("ALREADY_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS", "42P07",
                         f"Cannot create view `{name}` because it already exists. Use CREATE OR REPLACE VIEW, or "
                         "CREATE VIEW IF NOT EXISTS.")
        if sql_parameters.markers(made.query):
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         "A view's query cannot have parameter markers: write the values into it.")
        refs = views.table_refs(made.query)
        temporary = {ref.parts[0].lower() for ref in refs if len(ref.parts) == 1} & self._temporary_views(call)
        if temporary:
            raise refuse("INVALID_ARGUMENT", "INVALID_TEMP_OBJ_REFERENCE", "42K0F",
                         f"Cannot create the persistent view `{name}` because it references the temporary view "
                         f"`{sorted(temporary)[0]}`. Make that one a table (or a persistent view) first.")
        definition = views.qualified(made.query, name.schema)
        for ref in views.table_refs(definition):
            if self._view_reads(ref, name, call):
                raise refuse("INVALID_ARGUMENT", "RECURSIVE_VIEW", "42K0H",
                             f"Recursive view `{name}` detected: the view reads itself.")
        fields = list(self._schema_of_query(definition, call).struct.fields)
        if made.columns is not None and len(made.columns) != len(fields):
            raise refuse("INVALID_ARGUMENT", "CREATE_VIEW_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS"
                         if len(made.columns) > len(fields) else
                         "CREATE_VIEW_COLUMN_ARITY_MISMATCH.TOO_MANY_DATA_COLUMNS", "21S01",
                         f"Cannot create view `{name}`: it names {len(made.columns)} columns and its query answers "
                         f"{len(fields)}.")
        names = list(made.columns) if made.columns else [field.name for field in fields]
        columns = uc_columns({"fields": [{"name": named, "type": delta_writes.delta_type(field.data_type),
                                          "nullable": field.nullable, "metadata": {}}
                                         for named, field in zip(names, fields, strict=True)]}, [])
        self._catalog(lambda: self.catalog.create_view(
            name, definition, columns, list(made.columns) if made.columns else None, made.comment,
            owner or call.principal.name, replace=made.replace))
        return sqltext.answer_query([], [])

    def _view_reads(self, ref: views.TableRef, view: FullName, call: Call, depth: int = 0) -> bool:
        """Whether the table ``ref`` names is ``view``, or a view that reads it."""
        try:
            name = self.resolve(".".join(sqltext.quote_path(part, "`") for part in ref.parts), call)
        except CallRefused:
            return False
        if name == view:
            return True
        inner = self.catalog.find_view(name)
        return inner is not None and depth < views.MAX_DEPTH and any(
            self._view_reads(r, view, call, depth + 1) for r in views.table_refs(inner.definition))

    def _temporary_views(self, call: Call) -> set[str]:
        """The session's temporary views (lower case), asked of the engine once per call."""
        if call.temporary_views is None:
            try:
                listed = self.upstream.query_rows(call.session_id, call.user_id,
                                                  relations_pb2.Relation(sql=relations_pb2.SQL(query="SHOW VIEWS")))
            except UpstreamError as exc:
                raise exc.error from None
            call.temporary_views = {row["tableName"].lower() for row in listed if row["isTemporary"]}
        return call.temporary_views

    def _show_listing(self, sql: str, what: str, call: Call) -> str:
        """``SHOW TABLES``, ``SHOW TABLE EXTENDED``, ``SHOW VIEWS`` and ``SHOW COLUMNS`` as Databricks answers them.
        Sail names a table's schema ``main.<schema>``, calls every table EXTERNAL, lists its own catalog keys among
        a table's properties, and answers SHOW VIEWS and SHOW COLUMNS with the catalog API's columns; Databricks
        answers ``database, tableName, isTemporary[, information]``, ``namespace, viewName, isTemporary`` and
        ``col_name``, the schema by its own name and ``''`` for a temporary view. Sail is asked (it knows the
        session's temporary views and names what is wrong) and its rows are answered in Databricks' shape."""
        try:
            rows = self.upstream.query_rows(call.session_id, call.user_id,
                                            relations_pb2.Relation(sql=relations_pb2.SQL(query=sql)))
        except UpstreamError as exc:
            raise exc.error from None
        if what == "COLUMNS":
            return sqltext.answer_query([("col_name", "string")], [(row["name"],) for row in rows])
        persistent = self._views_listed(sql, call)  # Sail knows no persistent view
        if what == "VIEWS":  # a temporary view's namespace: none, or global_temp for a global one
            return sqltext.answer_query(_SHOW_VIEWS_COLUMNS, [
                *((view.name.schema, view.name.table, False) for view in persistent),
                *((_schema_of(".".join(row["namespace"] or [])), row["tableName"], bool(row["isTemporary"]))
                  for row in rows)])
        listed = [(_schema_of(row["database"]), row["tableName"], bool(row["isTemporary"])) for row in rows]
        if what == "TABLES":
            return sqltext.answer_query(_SHOW_TABLES_COLUMNS, _with_views(listed, [
                (view.name.schema, view.name.table, False) for view in persistent]))
        answered = []
        for item, row in zip(listed, rows, strict=True):
            # a catalog table's lines from the catalog (whose log Sail has just read: found cached); a temporary
            # view as Sail describes it
            info = None if item[2] else self.catalog.find(FullName(CATALOG, item[0], item[1]))
            answered.append((*item, row["information"] if info is None else _information(row["information"], info)))
        return sqltext.answer_query([*_SHOW_TABLES_COLUMNS, ("information", "string")], _with_views(answered, [
            (view.name.schema, view.name.table, False, _view_information(view)) for view in persistent]))

    def _views_listed(self, sql: str, call: Call) -> list[ViewInfo]:
        """The persistent views a SHOW TABLES|VIEWS|TABLE EXTENDED lists: its schema's (the current one when it
        names none), matching its pattern."""
        from odoolake.workspace.sql.metadata import name_matches, pattern  # pyarrow: only when one is asked

        scope = sqltext.show_scope(sql)
        if scope is None or not self.catalog.view_names():
            return []
        parts, like = scope
        schema = parts[-1].lower() if parts else self._current_schema(call)
        regex = pattern(like)
        return [view for view in self.catalog.views(CATALOG, schema) if name_matches(regex, view.name.table)]

    def _describe(self, described: sqltext.Describe, call: Call) -> str:
        """``DESCRIBE [TABLE] [EXTENDED|FORMATTED] t`` and ``DESCRIBE [EXTENDED] t column`` as Databricks answers
        them. Sail is asked for the table's rows (it knows the session's temporary views and names a missing table);
        a catalog table's partition and detailed rows are then the catalog's: Sail leaves the partition columns out
        of a plain DESCRIBE and lists them in the columns' order, not the table's partitioning's, names the schema
        ``main.<schema>``, calls every table EXTERNAL and lists its own catalog keys among the properties. Sail does
        not describe one column."""
        view = self._view_named(described.name, call)
        if view is not None:  # Sail knows no persistent view: its columns, and its details, from the catalog
            answer = [(c["name"], c["type_text"], c.get("comment")) for c in view.columns]
            if described.column is not None:
                return self._describe_column(described, answer)
            if described.extended:
                answer += [("", "", None), (_DETAILED, "", None),
                           *((key, value, None) for key, value in _view_details(view))]
            return sqltext.answer_query(_DESCRIBE_COLUMNS, answer)
        asked = f"DESCRIBE TABLE {'EXTENDED ' if described.column is None else ''}{described.name}"
        try:
            rows = self.upstream.query_rows(call.session_id, call.user_id,
                                            relations_pb2.Relation(sql=relations_pb2.SQL(query=asked)))
        except UpstreamError as exc:
            raise exc.error from None
        answer = [(row["col_name"], row["data_type"], row["comment"]) for row in rows]
        if described.column is not None:
            return self._describe_column(described, answer)
        detailed = next((i for i, row in enumerate(answer) if row[0] == _DETAILED), len(answer))
        details = {row[0]: row[1] for row in answer[detailed + 1:]}
        info = None if details.get("Type") == "TEMPORARY" else self.catalog.find(self.resolve(described.name, call))
        if info is None:  # a temporary view: Sail's rows, without the detailed ones unless asked
            if not described.extended:
                answer = answer[:_section_start(answer)]
            return sqltext.answer_query(_DESCRIBE_COLUMNS, answer)
        listed = answer[:_section_start(answer)]
        answer = [*listed, *_partition_rows(listed, partition_columns(info.columns))]
        if described.extended:  # as Spark's DESCRIBE of a V2 table: an empty row, then the details
            answer += [("", "", None), (_DETAILED, "", None), *((key, value, None) for key, value in _details(info))]
        return sqltext.answer_query(_DESCRIBE_COLUMNS, answer)

    def _describe_schema(self, parts: list[str], extended: bool) -> str:
        """``DESCRIBE SCHEMA [EXTENDED] s`` as Databricks answers it: the catalog and the schema on rows of their own
        (Sail: ``Namespace Name`` ``main.s``), its owner, and with EXTENDED its own properties only (Sail listed the
        catalog's ``created_at``, ``schema_id``…)."""
        if len(parts) == 2 and parts[0].lower() not in CATALOG_ALIASES:
            raise self._unknown_catalog(parts[0])
        try:
            schema = self.catalog.schema(CATALOG, parts[-1])
        except CatalogError:
            raise refuse("NOT_FOUND", "SCHEMA_NOT_FOUND", "42704",
                         f"The schema `{'.'.join(parts)}` cannot be found. Verify the spelling and the catalog; "
                         "`SHOW SCHEMAS` lists what exists.") from None
        rows = [("Catalog Name", CATALOG), ("Namespace Name", schema["name"]), ("Comment", schema.get("comment") or ""),
                ("Location", file_uri(self.catalog.paths.warehouse / schema["name"])),
                ("Owner", schema.get("owner") or "")]
        if extended:
            properties = sorted((k, v) for k, v in (schema.get("properties") or {}).items()
                                if k.lower() not in _RESERVED_SCHEMA_PROPERTIES)  # on rows of their own
            rows.append(("Properties", "(" + ", ".join(f"({k},{v})" for k, v in properties) + ")"))
        return sqltext.answer_query([("info_name", "string"), ("info_value", "string")], rows)

    def _describe_column(self, described: sqltext.Describe, answer: list[tuple]) -> str:
        """One column's ``info_name, info_value`` rows; its statistics (EXTENDED) are NULL, as Spark answers a
        table whose statistics were never computed (the engine keeps none). A field inside a struct is refused, as
        Databricks refuses it."""
        assert described.column is not None
        path = sqltext.name_parts(described.column)
        if len(path) > 1:
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"DESCRIBE TABLE does not support nested column: {described.column}. Describe the "
                         f"top-level column `{path[0]}`.")
        listed = answer[:_section_start(answer)]
        found = next((row for row in listed if row[0].lower() == path[0].lower()), None)
        if found is None:
            names = ", ".join(sqltext.quote_path(row[0], "`") for row in listed)
            raise refuse("INVALID_ARGUMENT", "UNRESOLVED_COLUMN.WITH_SUGGESTION", "42703",
                         f"A column with name {sqltext.quote_path(path[0], '`')} cannot be resolved in "
                         f"{described.name}. Did you mean one of the following? [{names}].")
        name, data_type, comment = found
        rows = [("col_name", name), ("data_type", data_type), ("comment", comment if comment is not None else "NULL")]
        if described.extended:
            rows += [(statistic, "NULL") for statistic in _COLUMN_STATISTICS]
        return sqltext.answer_query([("info_name", "string"), ("info_value", "string")], rows)

    def _show_partitions(self, sql: str, call: Call) -> str:
        """``SHOW PARTITIONS t [PARTITION (…)]``, which Sail does not parse: as Databricks answers a Delta table,
        one column per partition column and a row per partition present, those matching the spec."""
        shown = sqltext.show_partitions(sql)
        assert shown is not None
        name = self.resolve(shown.name, call)
        info = self.catalog.find(name)
        if info is None:
            raise not_found(name)
        partitions = partition_columns(info.columns)
        if not partitions:
            raise refuse("INVALID_ARGUMENT", "DELTA_SHOW_PARTITION_IN_NON_PARTITIONED_TABLE", "42809",
                         f"SHOW PARTITIONS is not allowed on a table that is not partitioned: {name}.")
        known = {p.lower(): p for p in partitions}
        conditions = []
        _refuse_repeated([_bare(column) for column, _ in shown.spec], "DUPLICATE_KEY", "23505",
                         "Found duplicate keys `{}` in the PARTITION clause: name each column once.")
        types = {c["name"]: c["type_text"] for c in info.columns}
        for column, literal in shown.spec:
            bare = _bare(column)
            if bare.lower() not in known:
                raise refuse("INVALID_ARGUMENT", "PARTITIONS_NOT_FOUND", "428FT",
                             f"The partition column `{bare}` is not one of {name}'s: "
                             f"{', '.join(partitions)}.")
            column = known[bare.lower()]
            conditions.append(f"{sqltext.quote_path(column, '`')} <=> CAST({literal} AS {types[column]})")
        listed = ", ".join(sqltext.quote_path(p, "`") for p in partitions)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT DISTINCT {listed} FROM {name}{where} ORDER BY {listed}"

    @staticmethod
    def _unknown_catalog(name: str) -> CallRefused:
        return refuse("NOT_FOUND", *NO_SUCH_CATALOG, unknown_catalog(name))

    def _create_table(self, sql: str, create: sqltext.CreateTable, call: Call, eager: bool,
                      prepared: Prepared | None) -> str:
        if not eager:
            raise self._needs_command("CREATE TABLE")
        name = self._write_target(create.name, call)
        existing = self.catalog.find(name)
        if existing is not None and create.if_not_exists and not create.replace:
            return sqltext.answer_query([], [])
        if create.column_values:
            column, clause = create.column_values[0]
            what = "a DEFAULT value" if clause == "DEFAULT" else "a GENERATED column (computed or identity)"
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"Column `{column}` of {name} has {what}, which the local engine does not support: it "
                         "would create the column without it. Compute the value in the query that writes the table.")
        properties: dict[str, str] = {}
        if create.properties_span is not None and create.provider in (None, "delta"):  # Sail keeps them out of the log
            properties = _checked_properties(create.properties)
            # Sail registers them in the catalog (a CTAS would write the feature into the protocol, after which
            # delta-rs cannot change the table: there they are checked and left out)
            kept = table_properties.catalog_only(create.properties) if create.query_start is None else {}
            clause = "TBLPROPERTIES (" + ", ".join(f"{sqltext.sql_literal(k)} = {sqltext.sql_literal(v)}"
                                                   for k, v in kept.items()) + ")" if kept else ""
            sql = sql[:create.properties_span[0]] + clause + sql[create.properties_span[1]:]
            create = sqltext.create_table(sql) or create
        table_comment = None
        if create.query_start is not None and create.comment_span is not None:  # which Sail refuses in a CTAS
            table_comment = create.comment
            sql = sql[:create.comment_span[0]] + sql[create.comment_span[1]:]
            create = sqltext.create_table(sql) or create
        if create.replace and create.query_start is not None and create.has_location:
            # the LOCATION was dropped by the replace below, making a managed table (found by a dbt audit:
            # location_root): a new table is made there as a CTAS; an existing one is replaced where it is
            given = sqltext.location_clause(sql)
            if existing is None:
                sql = re.sub(r"^\s*CREATE\s+OR\s+REPLACE\b", "CREATE", sql, count=1, flags=re.I)
                create = sqltext.create_table(sql) or create
            elif given is None or os.path.realpath(given) != os.path.realpath(existing.storage_location):
                raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                             f"CREATE OR REPLACE TABLE {name} … LOCATION … AS replaces the table where it is "
                             f"({existing.storage_location}), not at another location: DROP TABLE {name} first, then "
                             "CREATE TABLE … LOCATION … AS.")
        if create.replace and create.query_start is not None:
            answer = self._replace_table_as(name, existing, sql[create.query_start:].rstrip().rstrip(";"), call,
                                            create.partitioned_by, properties)
            # a replaced table has the comments of its new definition only, as on Databricks
            self._comments_after_create(name, table_comment, create.column_comments, replacing=True)()
            return answer
        if create.replace:
            if existing is not None:
                return self._replace_table_with_columns(sql, name, existing, create, call, properties)
            sql = re.sub(r"^\s*CREATE\s+OR\s+REPLACE\b", "CREATE", sql, count=1, flags=re.I)
            create = sqltext.create_table(sql) or create
        if existing is not None:
            if create.if_not_exists:
                return sqltext.answer_query([], [])
            raise refuse("ALREADY_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS", "42P07",
                         f"Cannot create table `{name}` because it already exists. Choose a different name, drop "
                         "the existing table, or add IF NOT EXISTS.")
        if create.query_start is not None and not create.has_columns:
            query = sqltext.without_trailing(sql[create.query_start:])
            sql = f"{sql[:create.query_start]} {self._query_made_nullable(query, call)}"
            create = sqltext.create_table(sql) or create
        if prepared is not None and (table_comment is not None or create.column_comments or properties):
            prepared.after_success = self._comments_after_create(name, table_comment, create.column_comments,
                                                                 properties=properties)
        location = str(self._catalog(lambda: self.catalog.new_table_location(name)))
        if not create.has_location:  # LOCATION first: USING must stay before it when both go at the end
            at = create.clauses_end
            sql = sql[:at] + f" LOCATION {sqltext.quote_path(location, chr(39))} " + sql[at:]
            if not create.has_using:
                sql = sql[:create.provider_at] + " USING DELTA " + sql[create.provider_at:]
            if Path(location).exists() and not Path(location, "_delta_log").is_dir():
                _clear_leftover(location)
        elif not create.has_using:  # Databricks' default format, at a location given too (Sail's is parquet)
            sql = sql[:create.provider_at] + " USING DELTA " + sql[create.provider_at:]
        if prepared is not None and not create.has_location:
            prepared.lock = location
            prepared.on_lock, prepared.after_failure = self._undo_of_create(name, location)
            # the CTAS's own commit is the table's version 0
            self.catalog.expect_first_write(location, create.query_start is not None)
            if create.query_start is not None:
                prepared.after_success = _then(lambda: self.catalog.expect_first_write(location, False),
                                               prepared.after_success)
                prepared.after_failure = _then(lambda: self.catalog.expect_first_write(location, False),
                                               prepared.after_failure)
        return sql

    def _undo_of_create(self, name: FullName, location: str) -> tuple[Callable[[], None], Callable[[], None]]:
        """What undoes a CREATE TABLE that fails once Sail has registered the table: a CTAS whose write fails leaves
        an empty table of that name (the re-run is then refused as existing). Once the table's lock is held, the
        first note whether name and location are free; the second, after a failure, forgets the table and its files
        only then, so a table another call created meanwhile is kept."""
        free = False

        def note() -> None:
            nonlocal free
            free = self.catalog.row(name) is None and not Path(location, "_delta_log").is_dir()

        def undo() -> None:
            if not free:
                return
            import shutil

            if self.catalog.forget_table_at(name, location):
                LOG.warning("forgetting table %s, which a failed CREATE TABLE registered", name)
            shutil.rmtree(location, ignore_errors=True)
            self.catalog.delta.forget(location)

        return note, undo

    def _comments_after_create(self, name: FullName, table_comment: str | None,
                               column_comments: tuple[tuple[str, str], ...],
                               replacing: bool = False, properties: dict[str, str] | None = None) -> Callable[[], None]:
        """What sets the comments and properties of a table just created (Sail keeps neither in the Delta log): the
        table's comment (catalog, and a Delta table's description), a Delta table's columns' (``comment`` in the
        field's metadata, where Spark keeps it; the engine keeps another format's itself) and its checked
        properties (:mod:`.table_properties`), in one more commit. ``replacing``: a table replaced by ``CREATE OR
        REPLACE … AS`` keeps no comment its new definition does not give (its properties are set with the replace,
        ``_replace_table_as``)."""
        def set_comments() -> None:
            from deltalake import DeltaTable
            from deltalake.exceptions import DeltaError

            info = self.catalog.find(name)
            clear = replacing and table_comment is None and info is not None and info.comment
            if info is None or not (column_comments or table_comment is not None or clear or properties):
                return
            try:
                table = DeltaTable(info.storage_location) if info.data_source_format == "DELTA" else None
                if table is not None and properties:
                    table.alter.set_table_properties(properties, raise_if_not_exists=False)
                if table is not None and column_comments:
                    fields = {field.name.lower(): field.name for field in table.schema().fields}
                    for column, comment in column_comments:
                        if column.lower() in fields:
                            table.alter.set_column_metadata(fields[column.lower()], {"comment": comment})
                if table_comment is not None or clear:
                    if table is not None:
                        table.alter.set_table_description(table_comment or "")
                    self._catalog(lambda: self.catalog.set_table_comment(name, table_comment))
            except (DeltaError, DeltaCommandError, OSError) as exc:
                raise refuse("INTERNAL", "INTERNAL_ERROR", "XX000",
                             f"Table {name} was created, but its comments or properties could not be set: {exc}") \
                    from None
            finally:
                self.catalog.delta.forget(info.storage_location)

        return set_comments

    def _replace_table_with_columns(self, sql: str, name: FullName, existing: TableInfo, create: sqltext.CreateTable,
                                    call: Call, properties: dict[str, str]) -> str:
        """``CREATE OR REPLACE TABLE name (columns) …`` over an existing table (how dbt-databricks reloads a seed):
        a new version of the same table, empty, with the listed columns and partitioning; its history is kept, as
        on Databricks."""
        table = dialect.column_list_table(sql)
        if table is not None and (existing.data_source_format != "DELTA" or table.has_location or
                                  table.provider not in (None, "delta")):
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"CREATE OR REPLACE TABLE {name} (columns) replaces a Delta table in place locally, not a "
                         f"{existing.data_source_format} table, another format or a new location: DROP TABLE {name} "
                         "first, then CREATE TABLE.")
        if table is None or table.not_null:
            why = f"its NOT NULL column `{table.not_null[0]}`" if table else "its column list"
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"CREATE OR REPLACE TABLE {name} over the existing table is not supported locally with "
                         f"{why}: DROP TABLE {name} first, then CREATE TABLE.")
        query = self.prepare_sql(table.query, call, eager=False)  # its text gets the rules like any other
        answer = self._replace_table_as(name, existing, query, call, table.partition_by, properties)
        self._comments_after_create(name, create.comment, create.column_comments, replacing=True)()
        return answer

    def _replace_table_as(self, name: FullName, existing: TableInfo | None, query: str, call: Call,
                          partition_by: tuple[str, ...] = (), properties: dict[str, str] | None = None) -> str:
        """``CREATE OR REPLACE TABLE … AS``: an overwrite of the table's data and schema, then (under the same lock,
        so no write comes between) the new definition's properties in place of the old table's, as Delta's REPLACE
        sets them. A statement that fails or is stopped leaves the table's properties as they were."""
        location = existing.storage_location if existing else \
            str(self._catalog(lambda: self.catalog.new_table_location(name)))
        write = WriteOp(input=relations_pb2.Relation(sql=relations_pb2.SQL(query=query)), source="delta",
                        path=location, mode=WriteOp.SaveMode.SAVE_MODE_OVERWRITE, partitioning_columns=partition_by)
        write.options["overwriteSchema"] = "true"
        self._columns_made_nullable(WriteInput(write), call)
        with self._writing(location, call):
            delta = existing is not None and existing.data_source_format == "DELTA"
            kept = self._lift_append_only(location) if delta else None
            try:
                self.upstream.run_command(call.session_id, call.user_id, commands_pb2.Command(write_operation=write),
                                          call.operation_id)
            except UpstreamError as exc:
                if kept is not None:  # the table stays as it was, properties and all
                    self._restore_properties(location, kept)
                raise exc.error from None
            if call.stopped():  # whatever Sail answered, the statement did not happen
                if kept is not None:
                    self._restore_properties(location, kept)
                raise refuse("CANCELLED", "OPERATION_CANCELED", "HY008",
                             f"CREATE OR REPLACE TABLE {name} was stopped; the table is as it was.")
            if existing is None or delta:
                self._replace_properties(location, properties or {})
        if existing is None:
            self._register(name, location, call)
        return sqltext.answer_query([], [])

    def _lift_append_only(self, location: str) -> dict[str, str] | None:
        """Before a REPLACE of an append-only Delta table (a new definition, which Delta allows), its properties are
        set aside, else the overwrite is refused as removing rows; the properties it had, or None when it was not
        append-only. The caller holds the table's lock; the new definition's properties are set afterwards."""
        from deltalake import DeltaTable

        table = DeltaTable(location)
        properties = dict(table.metadata().configuration)
        if properties.get("delta.appendOnly", "").lower() != "true":
            return None
        delta_sql.replace_configuration(table, {}, "UNSET TBLPROPERTIES", {"properties": json.dumps(list(properties))})
        self.catalog.delta.forget(location)
        return properties

    def _restore_properties(self, location: str, properties: dict[str, str]) -> None:
        """Put back the properties ``_lift_append_only`` set aside (beside any set since: the fence's record)."""
        from deltalake import DeltaTable

        table = DeltaTable(location)
        self._replace_properties(location, {**dict(table.metadata().configuration), **properties}, table)

    def _replace_properties(self, location: str, properties: dict[str, str], table: Any = None) -> None:
        """The table's properties made ``properties`` (one commit, none when they are already). Under its lock."""
        from deltalake import DeltaTable

        table = table or DeltaTable(location)
        if dict(table.metadata().configuration) != properties:
            delta_sql.replace_configuration(table, properties, "SET TBLPROPERTIES",
                                            {"properties": json.dumps(properties)})
            self.catalog.delta.forget(location)

    # -- writes --------------------------------------------------------------------------------------------------

    def _write(self, command: commands_pb2.Command, call: Call, raw_input: bytes | None = None) -> Prepared:
        write = command.write_operation
        source = WriteInput(write, raw_input)
        self.access.check_write(call.principal, "write tables or files")
        self._relations(write.input, call)
        if not write.source:
            write.source = "delta"  # Databricks' default format; Spark's would be parquet
        self._path_options(write.options, call)
        target = write.WhichOneof("save_type")
        if target == "path":
            given = write.path
            write.path = self.access.map_and_check(call.principal, write.path)
            if write.source.lower() != "delta":
                return Prepared()
            self._delta_write_rules(write, source, given, call)
            return Prepared(lock=write.path, raw_input=source.raw)
        if target != "table":
            return Prepared()
        method = write.table.save_method
        name = self._write_target(write.table.table_name, call)
        existing_at = self.catalog.location(name)
        if method == WriteOp.SaveTable.TableSaveMethod.TABLE_SAVE_METHOD_INSERT_INTO:
            if existing_at is None:
                raise not_found(name)
            write.table.table_name = str(name)
            if write.mode == WriteOp.SaveMode.SAVE_MODE_OVERWRITE:
                self._refuse_dynamic_overwrite(write.options, existing_at, str(name), call)
            return Prepared(lock=existing_at)
        if write.source.lower() != "delta":
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"saveAsTable({str(name)!r}) with format {write.source!r}: tables in this workspace are "
                         "Delta tables; write files with .save(path) for other formats.")
        mode = write.mode
        if existing_at is not None and mode in (WriteOp.SaveMode.SAVE_MODE_ERROR_IF_EXISTS,
                                                WriteOp.SaveMode.SAVE_MODE_UNSPECIFIED):
            raise refuse("ALREADY_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS", "42P07",
                         f"Cannot create table `{name}` because it already exists; use mode('append') or "
                         "mode('overwrite').")
        if existing_at is not None and mode == WriteOp.SaveMode.SAVE_MODE_IGNORE:
            command.Clear()
            command.sql_command.input.sql.query = sqltext.answer_query([], [])
            return Prepared()
        location = existing_at or str(self._catalog(lambda: self.catalog.new_table_location(name)))
        if existing_at is None:
            if mode in (WriteOp.SaveMode.SAVE_MODE_ERROR_IF_EXISTS, WriteOp.SaveMode.SAVE_MODE_UNSPECIFIED,
                        WriteOp.SaveMode.SAVE_MODE_IGNORE):
                write.mode = WriteOp.SaveMode.SAVE_MODE_OVERWRITE
            if Path(location).exists() and not Path(location, "_delta_log").is_dir():
                _clear_leftover(location)
        write.ClearField("table")
        write.path = location
        self._delta_write_rules(write, source, str(name), call)
        after = None if existing_at is not None else (lambda: self._register(name, location, call))
        return Prepared(lock=location, after_success=after, raw_input=source.raw)

    def _delta_write_rules(self, write: Any, source: WriteInput, target: str, call: Call) -> None:
        """Delta's checks on a DataFrame write to an existing Delta table that Sail's writer skips
        (``delta_writes``), and the guard against Sail's silent column drop. ``write.path`` is the table's
        location; ``target`` names it in errors. Costs one schema lookup of the input for an append or an overwrite
        that keeps the schema or names a replaceWhere, and a settings read for an overwrite of a partitioned table
        without replaceWhere."""
        facts = self.catalog.delta.read(write.path)
        if facts is None:  # a new table
            self._columns_made_nullable(source, call)
            return
        options = write.options
        append = write.mode == WriteOp.SaveMode.SAVE_MODE_APPEND
        condition = None
        names: list[str] | None = None  # the input's columns, once looked up
        if write.mode == WriteOp.SaveMode.SAVE_MODE_OVERWRITE:
            condition = delta_writes.option(options, "replaceWhere")
            keeps_schema = not delta_writes.is_true(delta_writes.option(options, "overwriteSchema"))
            if not keeps_schema:
                names = self._columns_made_nullable(source, call)
            if condition is None:
                # with a new schema (writeTo().replace() among them) only an explicit option asks for it, and Delta
                # refuses the two together
                partitions = self._dynamic_partitions(options, write.path, call, facts, ask_session=keeps_schema)
                if partitions and (not keeps_schema or source.raw is not None):
                    raise _dynamic_overwrite_refused(target)
                if partitions:  # Delta replaces the partitions the rows hold: those, as a replaceWhere
                    _check_deterministic(_volatile_in_plan(write.input))
                    condition = self._written_values(write.input, partitions, call) or "false"
                    options["replaceWhere"] = condition  # which Sail follows rather than the mode
        elif append:
            keeps_schema = True
        else:
            return
        if not keeps_schema and condition is None:
            return
        if keeps_schema:
            try:
                data = self.upstream.schema(call.session_id, call.user_id, source.relation())
            except UpstreamError:
                return  # the write itself will report what is wrong with its input
            fields = facts.schema.get("fields", [])
            written = delta_writes.delta_type(data)["fields"]
            names = [f["name"] for f in written]
            try:
                delta_writes.check_fields(fields, written)
            except delta_writes.MergeConflict as conflict:
                raise refuse("INVALID_ARGUMENT", conflict.error_class, conflict.sql_state,
                             f"{conflict} (writing to {target}: cast the column to the table's type, or rewrite the "
                             "table with option('overwriteSchema', 'true')).") from None
            not_null = [f["name"] for f in fields if not f.get("nullable", True)]
            existing = {f["name"].lower() for f in fields}
            lost = [name for name in names if name.lower() not in existing]
            if append and not_null and lost:  # Sail (0.7.2) drops them, whatever mergeSchema says
                raise refuse("INVALID_ARGUMENT", SILENT_COLUMN_DROP, "42000",
                             f"Refusing to append to {target}: the engine would silently drop the new column(s) "
                             f"{', '.join(lost)} because the table has NOT NULL column(s) {', '.join(not_null)}. Add "
                             "the columns first (ALTER TABLE … ADD COLUMNS) or rewrite the table with "
                             "option('overwriteSchema', 'true').")
            added = [f.name for f in data.struct.fields if f.name.lower() not in existing and (
                not f.nullable or f.data_type.WhichOneof("kind") in _WRITTEN_NOT_NULL)]
            if added:  # Delta adds a merged column nullable (the table's rows before have none); Sail kept NOT NULL
                self._wrap_nullable(source, added)
            renames = delta_writes.renamed_to_table(fields, names)
            if renames:
                source.wrap("with_columns_renamed", relations_pb2.WithColumnsRenamed(renames=[
                    relations_pb2.WithColumnsRenamed.Rename(col_name=old, new_col_name=new)
                    for old, new in renames.items()]))
                names = [renames.get(name, name) for name in names]
        if condition is not None and names:
            source.wrap("with_columns", relations_pb2.WithColumns(aliases=[{
                "expr": {"expression_string": {"expression": delta_writes.replace_where_check(condition, names[0])}},
                "name": [names[0]]}]))

    def _not_null_columns(self, rows: relations_pb2.Relation | bytes, call: Call) -> tuple[list[str], list[str]]:
        """The input's columns, and those of them Sail would write as NOT NULL, for a write that makes a table (or
        replaces its schema): Delta gives such a table the input's schema with every column nullable
        (``schema.asNullable``), while Sail keeps the input's NOT NULL (a literal, a count, ``range``'s id) and the
        table then refuses every later row with a NULL there. One schema lookup of the input, for these writes
        only; none to make when a name repeats (the write refuses it) or the lookup fails (the write reports why)."""
        try:
            data = self.upstream.schema(call.session_id, call.user_id, rows)
        except UpstreamError:
            return [], []
        names = [f.name for f in data.struct.fields]
        if len({name.lower() for name in names}) < len(names) or delta_writes.NULLABLE_TERM in names:
            return names, []
        return names, [f.name for f in data.struct.fields
                       if not f.nullable or f.data_type.WhichOneof("kind") in _WRITTEN_NOT_NULL]

    def _columns_made_nullable(self, source: WriteInput, call: Call) -> list[str]:
        """A DataFrame write that makes a table: its NOT NULL columns written through ``delta_writes.as_nullable``
        (``_not_null_columns``). Returns the input's columns (none if the lookup failed)."""
        names, fixed = self._not_null_columns(source.relation(), call)
        if fixed:
            self._wrap_nullable(source, fixed)
        return names

    @staticmethod
    def _wrap_nullable(source: WriteInput, columns: list[str]) -> None:
        """The write's ``columns`` written through ``delta_writes.as_nullable``."""
        source.wrap("with_columns", relations_pb2.WithColumns(aliases=[{
            "expr": {"expression_string": {"expression": delta_writes.NULLABLE_TERM_VALUE}},
            "name": [delta_writes.NULLABLE_TERM]}]))
        source.wrap("with_columns", relations_pb2.WithColumns(aliases=[{
            "expr": {"expression_string": {"expression": delta_writes.as_nullable(name)}}, "name": [name]}
            for name in columns]))
        source.wrap("drop", relations_pb2.Drop(column_names=[delta_writes.NULLABLE_TERM]))

    def _query_made_nullable(self, query: str, call: Call) -> str:
        """A CTAS's query with its NOT NULL columns made nullable (``_not_null_columns``)."""
        names, fixed = self._not_null_columns(relations_pb2.Relation(sql=relations_pb2.SQL(query=query)), call)
        if not fixed:
            return query
        columns = ", ".join(f"{delta_writes.as_nullable(name)} AS {sqltext.quote_path(name, '`')}" if name in fixed
                            else sqltext.quote_path(name, "`") for name in names)
        term = f"{delta_writes.NULLABLE_TERM_VALUE} AS {delta_writes.NULLABLE_TERM}"
        # the query on lines of its own: a comment at its end ends with its line
        return f"SELECT {columns} FROM (SELECT *, {term} FROM (\n{query}\n) AS created) AS created"

    def _refuse_dynamic_overwrite(self, options: Any, location: str, target: str, call: Call,
                                  facts: DeltaFacts | None = None, ask_session: bool = True) -> None:
        """Refuse an overwrite of a partitioned Delta table in dynamic partition mode: Sail would replace every
        partition."""
        if self._dynamic_partitions(options, location, call, facts, ask_session):
            raise _dynamic_overwrite_refused(target)

    def _dynamic_partitions(self, options: Any, location: str, call: Call, facts: DeltaFacts | None = None,
                            ask_session: bool = True) -> list[str]:
        """The partition columns of a partitioned Delta table an overwrite replaces in dynamic partition mode (the
        write's option, else the session's ``spark.sql.sources.partitionOverwriteMode``); else empty."""
        facts = facts or self.catalog.delta.read(location)
        if facts is None or not facts.partition_columns:
            return []
        mode = delta_writes.option(options, delta_writes.PARTITION_OVERWRITE_MODE) if options is not None else None
        if mode is None and ask_session:
            mode = self._session_conf(call, delta_writes.PARTITION_OVERWRITE_MODE_CONF)
        return list(facts.partition_columns) if mode is not None and mode.strip().lower() == "dynamic" else []

    def _session_conf(self, call: Call, key: str) -> str | None:
        operation = base_pb2.ConfigRequest.Operation(get_option=base_pb2.ConfigRequest.GetOption(keys=[key]))
        try:
            response = self.upstream.config(call.session_id, call.user_id, operation)
        except UpstreamError:
            return None
        return response.pairs[0].value if response.pairs and response.pairs[0].HasField("value") else None

    def _write_v2(self, command: commands_pb2.Command, call: Call, raw_input: bytes | None = None) -> Prepared:
        v2 = command.write_operation_v2
        self.access.check_write(call.principal, "write tables")
        self._relations(v2.input, call)
        name = self._write_target(v2.table_name, call)
        existing_at = self.catalog.location(name)
        provider = (v2.provider or "delta").lower()
        if provider != "delta":
            raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                         f"writeTo({str(name)!r}).using({provider!r}): tables in this workspace are Delta tables.")
        modes = WriteV2.Mode
        if v2.mode == modes.MODE_CREATE and existing_at is not None:
            raise refuse("ALREADY_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS", "42P07",
                         f"Cannot create table `{name}` because it already exists; use append() or "
                         "createOrReplace().")
        if v2.mode in (modes.MODE_APPEND, modes.MODE_REPLACE, modes.MODE_OVERWRITE,
                       modes.MODE_OVERWRITE_PARTITIONS) and existing_at is None:
            raise not_found(name)
        write = WriteOp(input=v2.input, source="delta")
        source = WriteInput(write, raw_input)
        write.options.update(v2.options)
        if v2.mode == modes.MODE_OVERWRITE_PARTITIONS:  # a dynamic partition overwrite (_delta_write_rules)
            write.mode = WriteOp.SaveMode.SAVE_MODE_OVERWRITE
            write.options[delta_writes.PARTITION_OVERWRITE_MODE] = "dynamic"
        elif v2.mode == modes.MODE_APPEND:
            write.mode = WriteOp.SaveMode.SAVE_MODE_APPEND
        elif v2.mode == modes.MODE_OVERWRITE:
            write.mode = WriteOp.SaveMode.SAVE_MODE_OVERWRITE
            if v2.HasField("overwrite_condition"):
                condition = v2.overwrite_condition
                if condition.WhichOneof("expr_type") != "expression_string":
                    raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                                 "overwrite(condition) needs a SQL condition locally: pass F.expr('…').")
                write.options["replaceWhere"] = condition.expression_string.expression
        else:  # CREATE, REPLACE, CREATE_OR_REPLACE
            write.mode = WriteOp.SaveMode.SAVE_MODE_OVERWRITE
            write.options["overwriteSchema"] = "true"
        for column in v2.partitioning_columns:
            if column.WhichOneof("expr_type") != "unresolved_attribute":
                raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                             "partitionedBy() accepts column names only locally.")
            write.partitioning_columns.append(column.unresolved_attribute.unparsed_identifier)
        location = existing_at or str(self._catalog(lambda: self.catalog.new_table_location(name)))
        write.path = location
        self._delta_write_rules(write, source, str(name), call)
        command.Clear()
        command.write_operation.CopyFrom(write)
        after = None if existing_at is not None else (lambda: self._register(name, location, call))
        return Prepared(lock=location, after_success=after, raw_input=source.raw)

    def _register(self, name: FullName, location: str, call: Call) -> None:
        if self.catalog.find(name) is None:
            self._catalog(lambda: self.catalog.create_table(name, location, "DELTA", owner=call.principal.name))

    @staticmethod
    def _catalog(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except ApiError as exc:
            code = {404: "NOT_FOUND", 409: "ALREADY_EXISTS", 403: "PERMISSION_DENIED"}.get(exc.status,
                                                                                          "INVALID_ARGUMENT")
            raise CallRefused(code, f"[{exc.error_code}] {exc.message}", exc.error_code) from None

    # -- names -----------------------------------------------------------------------------------------------------

    def _write_target(self, text: str, call: Call, view: bool = False) -> FullName:
        """The table a write names, once it is known to be one that may be written (``CatalogStore.check_writable``)
        and no view (``view``: the name a CREATE VIEW makes or replaces)."""
        name = self.resolve(text, call)
        if name.schema not in sqltext.FILE_FORMATS:  # delta.`/path`: no catalog name (refused below as not found)
            _check_catalog_names([name.schema, name.table])
        self._catalog(lambda: self.catalog.check_writable(name))
        if not view and self.catalog.find_view(name) is not None:
            raise refuse("INVALID_ARGUMENT", "EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE", "42809",
                         f"`{name}` is a view: a view is not written, and no table takes its name. Write the tables "
                         "it reads, or DROP VIEW it first.")
        return name

    def resolve(self, text: str, call: Call) -> FullName:
        parts = [t.text.lower() for t in sqltext.tokens(text) if t.text != "."]
        if len(parts) == 3:
            if parts[0] not in CATALOG_ALIASES:
                raise self._unknown_catalog(parts[0])
            return FullName(CATALOG, parts[1], parts[2])
        if len(parts) == 2:
            return FullName(CATALOG, parts[0], parts[1])
        if len(parts) == 1:
            return FullName(CATALOG, self._current_schema(call), parts[0])
        raise refuse("INVALID_ARGUMENT", "INVALID_IDENTIFIER", "42602",
                     f"{text!r} is not a table name: expected [catalog.][schema.]table.")

    def _current_schema(self, call: Call) -> str:
        """The session's current schema (an engine call, once per call)."""
        if call.current_schema is None:
            try:
                call.current_schema = self.upstream.current_schema(call.session_id, call.user_id)
            except UpstreamError as exc:
                raise exc.error from None
        return call.current_schema

    def show_create(self, name: FullName) -> str:
        info = self.catalog.find(name)
        view = self.catalog.find_view(name) if info is None else None
        if view is not None:
            listed = ",\n".join(f"  `{c['name']}`" for c in view.columns)
            comment = f"COMMENT {sqltext.sql_literal(view.comment)}\n" if view.comment else ""
            return f"CREATE VIEW {name} (\n{listed})\n{comment}AS {view.definition}\n"
        if info is None:
            raise not_found(name)
        columns = ",\n".join(f"  `{c['name']}` {_column_type_sql(c)}" + ("" if c.get("nullable", True)
                                                                              else " NOT NULL")
                             + (f" COMMENT {sqltext.sql_literal(c['comment'])}" if c.get("comment") else "")
                             for c in info.columns)
        partitions = partition_columns(info.columns)
        text = f"CREATE TABLE {name} (\n{columns})\nUSING {info.data_source_format.lower()}\n"
        if partitions:
            text += f"PARTITIONED BY ({', '.join(partitions)})\n"
        if info.comment:
            text += f"COMMENT {sqltext.sql_literal(info.comment)}\n"
        if info.table_type == "EXTERNAL":
            text += f"LOCATION {sqltext.sql_literal(info.storage_location)}\n"
        properties = own_properties(info.properties)  # all of them, as SHOW TBLPROPERTIES lists them
        if properties:
            text += "TBLPROPERTIES (\n" + ",\n".join(f"  {sqltext.sql_literal(k)} = {sqltext.sql_literal(v)}"
                                                     for k, v in sorted(properties.items())) + ")\n"
        return text


def _column_type_sql(column: dict) -> str:
    """A catalog column's type as DDL: from its Delta field (``type_json``), which keeps nested field names as
    written; from ``type_text`` for a column declared without one."""
    if column.get("type_json"):
        return type_text(json.loads(column["type_json"])["type"], sql=True)
    return str(column["type_text"]).upper()


# Spark's cache and optimizer hints, which the engine has neither of: answered as done once the table is known to
# exist (``spark.catalog.refreshTable`` and the rest; in SQL, ``sqltext.cache_statement``).
_CACHE_VERBS = frozenset({"CACHE", "UNCACHE", "REFRESH", "ANALYZE", "CLEAR"})
_CACHE_CALLS = frozenset({"refresh_table", "cache_table", "uncache_table", "is_cached", "clear_cache",
                          "recover_partitions", "refresh_by_path"})


def _creates_managed_table(catalog: Any) -> bool:
    kind = catalog.WhichOneof("cat_type")
    return kind in ("create_table", "create_external_table") and not getattr(catalog, kind).path


def _exists_query(table: str | None) -> str:
    """No rows, and an error naming ``table`` if it does not exist (as Spark's cache statements check)."""
    return sqltext.answer_query([], []) if table is None else f"SELECT 1 AS result FROM {table} WHERE false"


def _cache_call_query(catalog: Any) -> str:
    kind = catalog.WhichOneof("cat_type")
    call = getattr(catalog, kind)
    table = call.table_name if "table_name" in call.DESCRIPTOR.fields_by_name else None
    if kind == "is_cached":  # never cached: one row, false
        return f"SELECT count(*) < 0 AS value FROM (SELECT 1 FROM {table} LIMIT 1)"
    return _exists_query(table)


def _check_request_texts(request: Message) -> None:
    """``_check_parsed_texts`` for a decoded request (serialized only when it is large enough to matter)."""
    if request.ByteSize() > MAX_SQL_TOKENS:
        _check_parsed_texts(request.SerializeToString(), type(request))


def _check_parsed_texts(buf: bytes, root: Any) -> None:
    """``MAX_SQL_TOKENS`` for every text of a request that the engine parses besides its SQL statements
    (``PARSED_TEXTS``: expression strings, type and schema strings, ``replaceWhere``). They are searched for only
    when the request's bytes could hold one past ``MAX_SQL_TOKENS`` (``sqltext.token_bound``): any text shorter
    cannot end the engine, and the pipeline's largest plans stay below it (10,717 tokens in 54 KB)."""
    if len(buf) <= MAX_SQL_TOKENS - 2 or sqltext.token_bound(buf) <= MAX_SQL_TOKENS - 2:
        return
    for hit in wire.find(buf, root.DESCRIPTOR, frozenset(PARSED_TEXTS)):
        numbers = PARSED_TEXTS[hit.descriptor.full_name]
        for field in wire.fields(buf, hit.field.value_start, hit.field.value_end):
            if field.number not in numbers or field.wire_type != 2:
                continue
            value = buf[field.value_start:field.value_end]
            if hit.descriptor.full_name in _WRITES:  # an options map entry: key 1, value 2; replaceWhere is parsed
                entry = {f.number: value[f.value_start:f.value_end] for f in wire.fields(value, 0, len(value))}
                if entry.get(1, b"").lower() != b"replacewhere":
                    continue
                value = entry.get(2, b"")
            _check_size(value, f"{hit.descriptor.name} text")


def _check_size(text: bytes, what: str) -> None:
    if sqltext.token_bound(text) > MAX_SQL_TOKENS:
        raise refuse("INVALID_ARGUMENT", "PARSE_SYNTAX_ERROR", "54001",
                     f"The {what} holds more than {MAX_SQL_TOKENS} tokens, past what the engine parses safely; "
                     "split it (several statements, a temporary view per part), or pass long lists of values as "
                     "a table to join.")


def _check_nesting(text: str, what: str) -> None:
    depth = sqltext.nesting(text)
    if depth > MAX_NESTING:
        raise refuse("INVALID_ARGUMENT", "PARSE_SYNTAX_ERROR", "54001",
                     f"The {what} nests {depth} levels deep (brackets, CASEs and operators in one chain), past the "
                     f"{MAX_NESTING} the engine takes; split it: a CTE or a column per level, IN (…) for a chain of "
                     "ORs.")


# Databricks' columns of SHOW TABLES and SHOW VIEWS
_SHOW_TABLES_COLUMNS = [("database", "string"), ("tableName", "string"), ("isTemporary", "boolean")]
_SHOW_VIEWS_COLUMNS = [("namespace", "string"), ("viewName", "string"), ("isTemporary", "boolean")]


_DESCRIBE_COLUMNS = [("col_name", "string"), ("data_type", "string"), ("comment", "string")]
_DETAILED = "# Detailed Table Information"
_PARTITION_INFORMATION = "# Partition Information"
# What DESCRIBE EXTENDED t column adds: the column's statistics, as Spark names them
_COLUMN_STATISTICS = ("min", "max", "num_nulls", "distinct_count", "avg_col_len", "max_col_len", "histogram")
# Properties the catalog keeps about a table that are not the table's own (Databricks does not list them; it lists
# a table's options, ``option.<key>``, as the engine keeps them)
ENGINE_PROPERTIES = frozenset({"table_type", "table_id", "io.unitycatalog.tableId", "created_at", "updated_at", "owner",
                               "comment"})


def own_properties(properties: dict[str, str]) -> dict[str, str]:
    """A table's own properties and options, as SHOW TBLPROPERTIES and DESCRIBE list them."""
    return {key: value for key, value in properties.items() if key not in ENGINE_PROPERTIES}


# Relations whose rows keep their input's qualifier (``df.alias("s").where(…)`` is still ``s``)
_KEEPS_QUALIFIER = frozenset({"filter", "deduplicate", "sort", "limit", "offset", "tail", "sample", "repartition",
                              "repartition_by_expression", "hint", "drop", "with_columns", "with_columns_renamed",
                              "to_df", "drop_na", "fill_na", "replace"})


def _qualifier(relation: relations_pb2.Relation) -> str | None:
    """The name a DataFrame's columns are qualified by (``s`` in ``s.id``): its alias, or the table it reads, through
    the steps that keep it; None when it has none. A merge's source is named by it, as Delta resolves it."""
    for _ in range(MAX_QUALIFIER_DEPTH):
        kind = relation.WhichOneof("rel_type")
        if kind == "subquery_alias":
            return str(relation.subquery_alias.alias)
        if kind == "read" and relation.read.HasField("named_table"):
            return sqltext.name_parts(relation.read.named_table.unparsed_identifier)[-1]
        if kind not in _KEEPS_QUALIFIER:
            return None
        relation = getattr(relation, kind).input
    return None


MAX_QUALIFIER_DEPTH = 64


def _delta_relation(relation: relations_pb2.Relation) -> Any | None:
    """The Delta Connect relation a Relation is, or None."""
    if relation.WhichOneof("rel_type") != "extension":
        return None
    return delta_connect.relation_of(relation.extension)


def _delta_call(build: Callable[[], str]) -> str:
    """The SQL a DeltaTable call is written as; a call without a local form is refused by name."""
    try:
        return build()
    except delta_connect.Unsupported as exc:
        raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000", str(exc)) from None


# Sail's refusal of an INSERT into a table partitioned in another order than its columns
_PARTITION_ORDER_REFUSED = "Partition column mismatch"


def _refuse_unsafe(unsafe: store_assignment.UnsafeCast | None, name: FullName) -> None:
    if unsafe is not None:
        raise refuse("INVALID_ARGUMENT", unsafe.error_class, "0A000" if unsafe.engine_limit else
                     store_assignment.DATATYPE_MISMATCH_SQLSTATE, unsafe.message(str(name)))


def _partitioned_out_of_order(facts: DeltaFacts | None) -> bool:
    """Whether a Delta table's partition columns are named in another order than its columns'."""
    if facts is None or len(facts.partition_columns) < 2:
        return False
    partitions = set(facts.partition_columns)
    in_schema_order = [f["name"] for f in facts.schema.get("fields", []) if f["name"] in partitions]
    return in_schema_order != list(facts.partition_columns)


def _section_start(answer: list[tuple]) -> int:
    """Where DESCRIBE's rows of the table's columns end: at the first section (its rows have no type)."""
    return next((i for i, row in enumerate(answer) if not row[1]), len(answer))


def _partition_rows(listed: list[tuple], partitions: list[str]) -> list[tuple]:
    """DESCRIBE's ``# Partition Information`` rows, as Spark writes them for a table partitioned by columns: each
    partition column's row, in the table's partitioning order. None for a table that is not partitioned."""
    if not partitions:
        return []
    rows = {row[0]: row for row in listed}
    return [(_PARTITION_INFORMATION, "", None), ("# col_name", "data_type", "comment"),
            *(rows[column] for column in partitions if column in rows)]


def _details(info: TableInfo) -> list[tuple[str, str]]:
    """DESCRIBE TABLE EXTENDED's detailed rows of a catalog table, in Spark's order and Databricks' names."""
    created = datetime.fromtimestamp(info.created_at / 1000, UTC) if info.created_at else None
    rows = [("Catalog", info.name.catalog), ("Database", info.name.schema), ("Table", info.name.table)]
    if info.owner:
        rows.append(("Owner", info.owner))
    if created is not None:
        rows.append(("Created Time", created.strftime("%a %b %d %H:%M:%S UTC %Y")))
    rows += [("Last Access", "UNKNOWN"), ("Type", info.kind), ("Provider", info.data_source_format.lower())]
    if info.comment:
        rows.append(("Comment", info.comment))
    properties = own_properties(info.properties)  # as Spark's DESCRIBE of a V2 table (Delta) writes them
    rows.append(("Table Properties", "[" + ",".join(f"{k}={v}" for k, v in sorted(properties.items())) + "]"))
    rows += [("Location", file_uri(info.storage_location)),  # a URI, as storage_location in the UC API
             ("Is_managed_location", str(info.table_type == MANAGED).lower())]
    return rows


def _checkpoint_as_sail_takes_it(checkpoint: Any) -> None:
    """``df.checkpoint()`` / ``localCheckpoint()`` as Sail (0.7.2) can run it. It computes checkpoints only eagerly
    (a lazy one was an internal error): the rows are the same, computed now rather than at the first action. It keeps
    them in its checkpoint folder whatever storage level is asked (one was refused naming Sail's internals): the level
    is where Spark keeps the rows, not which rows. A streaming DataFrame cannot be checkpointed (Sail answered an
    unclassed internal error): refused by name, before anything runs."""
    if any(read.is_streaming for read in _messages(checkpoint.relation, relations_pb2.Read)):
        raise refuse("UNIMPLEMENTED", "UNSUPPORTED_FEATURE", "0A000",
                     "A streaming DataFrame (spark.readStream) cannot be checkpointed by the local engine (Sail "
                     "0.7.2); checkpoint a batch read (spark.read …) instead.")
    checkpoint.eager = True
    checkpoint.ClearField("storage_level")


def _schema_of(qualified: str | None) -> str:
    """A schema as Databricks names it in a listing (``dw``) from Sail's ``main.dw``; ``''`` for none."""
    return (qualified or "").rpartition(".")[2]


def _information(text: str | None, info: TableInfo) -> str | None:
    """SHOW TABLE EXTENDED's ``information`` of a catalog table as Databricks writes it: ``Catalog:`` and
    ``Database:`` lines (Sail writes ``Database: main.<schema>``), ``Owner:`` and ``Created Time:`` (Sail has
    neither), the table's type, and only the table's own properties (Sail lists the catalog's keys and the comment
    among them)."""
    if not text:
        return text
    lines = []
    # the owner and creation time after the table's name, as DESCRIBE EXTENDED has them (dbt's catalog reads Owner)
    created = [f"{key}: {value}" for key, value in _details(info) if key in ("Owner", "Created Time")]
    for line in text.split("\n"):
        key, _, value = line.partition(": ")
        if key == "Database":
            lines += [f"Catalog: {CATALOG}", f"Database: {info.name.schema}"]
        elif key == "Table":
            lines += [line, *created]
        elif key in ("Owner", "Created Time"):
            continue
        elif key == "Type" and value in (MANAGED, EXTERNAL):
            lines.append(f"Type: {info.table_type}")
        elif key == "Table Properties":
            properties = own_properties(info.properties)
            lines.append("Table Properties: [" + ", ".join(f"{k}={v}" for k, v in sorted(properties.items())) + "]")
        else:
            lines.append(line)
    return "\n".join(lines)


def _with_views(listed: list[tuple], persistent: list[tuple]) -> list[tuple]:
    """A SHOW listing's catalog rows with the persistent views among them, by schema and name; temporary views
    after them, as listed."""
    kept = sorted([row for row in listed if not row[2]] + persistent, key=lambda row: (row[0], row[1]))
    return kept + [row for row in listed if row[2]]


def _view_details(view: ViewInfo) -> list[tuple[str, str]]:
    """A view's detailed rows (DESCRIBE EXTENDED; SHOW TABLE EXTENDED's ``information``), as Databricks has them."""
    created = datetime.fromtimestamp(view.created_at / 1000, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    rows = [("Catalog", CATALOG), ("Database", view.name.schema), ("Table", view.name.table),
            ("Owner", view.owner or ""), ("Created Time", created), ("Type", "VIEW"), ("View Text", view.definition)]
    return rows + ([("Comment", view.comment)] if view.comment else [])


def _view_information(view: ViewInfo) -> str:
    """SHOW TABLE EXTENDED's ``information`` of a view, as Databricks writes it (dbt reads ``Type: VIEW``)."""
    lines = [f"{key}: {value}" for key, value in _view_details(view)]
    lines.append("Schema: root\n" + "\n".join(f" |-- {c['name']}: {c['type_text']} (nullable = "
                                                f"{str(c.get('nullable', True)).lower()})" for c in view.columns))
    return "\n".join(lines) + "\n"


def _view_row(view: ViewInfo) -> tuple:
    """A persistent view as spark.catalog.listTables lists it."""
    return view.name.table, CATALOG, [view.name.schema], view.comment, "VIEW", False


def _view_query(view: ViewInfo) -> str:
    """The query a view's name stands for: its definition, its columns renamed when CREATE VIEW named them."""
    if not view.column_names:
        return view.definition
    names = ", ".join(sqltext.quote_path(column, "`") for column in view.column_names)
    return f"SELECT * FROM ({view.definition}) AS {sqltext.quote_path(view.name.table, '`')}({names})"


# ``spark.catalog.listTables``' columns, in PySpark's order
_TABLE_SCHEMA = pa.schema([("name", pa.string()), ("catalog", pa.string()), ("namespace", pa.list_(pa.string())),
                           ("description", pa.string()), ("tableType", pa.string()), ("isTemporary", pa.bool_())])


def _schema_json(schema: pa.Schema) -> str:
    """A catalog answer's Arrow schema as Spark's JSON schema (its ``namespace`` an array of strings)."""
    return json.dumps({"type": "struct", "fields": [
        {"name": field.name, "nullable": True, "metadata": {},
         "type": {"type": "array", "elementType": "string", "containsNull": True} if field.name == "namespace" else
         _SQL_TYPES[field.type]} for field in schema]})


_TABLE_SCHEMA_JSON = _schema_json(_TABLE_SCHEMA)

# ``spark.catalog.listFunctions``' columns, in PySpark's order
_FUNCTION_SCHEMA = pa.schema([("name", pa.string()), ("catalog", pa.string()), ("namespace", pa.list_(pa.string())),
                              ("description", pa.string()), ("className", pa.string()), ("isTemporary", pa.bool_())])
_FUNCTION_SCHEMA_JSON = _schema_json(_FUNCTION_SCHEMA)
_FUNCTION_CALLS = frozenset({"list_functions", "function_exists", "get_function"})


def _arrow_rows(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> bytes:
    """Rows as an Arrow IPC stream, the data of a local relation."""
    table = pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


# The columns of spark.catalog's Database rows, as PySpark reads them.
_DATABASE_COLUMNS = [("name", "string"), ("catalog", "string"), ("description", "string"), ("locationUri", "string")]


_ROWS = "__odoolake_rows"  # the alias of the rows an INSERT … PARTITION writes


def _refuse_repeated(names: list[str], error_class: str, sql_state: str, message: str) -> None:
    """Refuse a name given twice (compared without regard to case, as Spark resolves names)."""
    lowered = [name.lower() for name in names]
    repeated = next((name for name, low in zip(names, lowered, strict=True) if lowered.count(low) > 1), None)
    if repeated is not None:
        raise refuse("INVALID_ARGUMENT", error_class, sql_state, message.format(repeated))


def _bare(name: str) -> str:
    """A one-part name as the catalog spells it: back-quotes taken off."""
    return name[1:-1].replace("``", "`") if name.startswith("`") and name.endswith("`") else name


def _then(first: Callable[[], None], then: Callable[[], None] | None) -> Callable[[], None]:
    def both() -> None:
        try:
            first()
        finally:
            if then is not None:
                then()

    return both


def _checked_properties(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    try:
        return table_properties.checked(pairs)
    except table_properties.PropertyRefused as exc:
        raise refuse("INVALID_ARGUMENT", exc.error_class, exc.sql_state, exc.message) from None


def _check_deterministic(function: str | None) -> None:
    if function is not None:
        raise refuse("INVALID_ARGUMENT", "UNSUPPORTED_FEATURE", "0A000",
                     f"A dynamic partition overwrite of rows that call {function}() is not supported locally: the "
                     f"engine reads the rows twice (their partitions, then the write) and {function}() can differ "
                     "between the two, which would replace a partition with nothing. Write the rows to a table first, "
                     "or name the partitions with REPLACE WHERE / option('replaceWhere', …).")


_EXPRESSION = type(relations_pb2.Project().expressions.add())


def _volatile_in_plan(relation: relations_pb2.Relation) -> str | None:
    """The first function a DataFrame's plan calls whose value differs between two runs of it (its SQL texts and
    expression strings included), or None. PySpark sends its random functions with a seed."""
    kinds = (type(_EXPRESSION().unresolved_function), type(_EXPRESSION().expression_string), relations_pb2.SQL)
    for message in _messages(relation, *kinds):
        if isinstance(message, kinds[0]):
            name = message.function_name.lower()
            if name in dialect.VOLATILE_FUNCTIONS or (name in dialect.SEEDED_FUNCTIONS and not message.arguments):
                return name
            continue
        found = dialect.volatile_function(message.query if isinstance(message, relations_pb2.SQL)
                                          else message.expression)
        if found is not None:
            return found
    return None


# The read options that ask Delta for a table's changes instead of its rows (``readChangeData`` is the older name).
CHANGE_FEED_OPTIONS = frozenset({"readchangefeed", "readchangedata"})


def _refuse_change_feed(options: Any) -> None:
    """A read of Delta's Change Data Feed (by path or by name; option names in any case, as Spark reads them): the
    engine has none, and read the table's current rows instead."""
    if any(key.lower() in CHANGE_FEED_OPTIONS and str(value).strip().lower() == "true"
           for key, value in options.items()):
        raise refuse("UNIMPLEMENTED", "UNSUPPORTED_FEATURE", "0A000",
                     "Delta Change Data Feed (readChangeFeed) is not supported by the local engine: compare two "
                     "versions of the table instead (SELECT … VERSION AS OF n EXCEPT ALL …).")


def _dynamic_overwrite_refused(target: str) -> CallRefused:
    return refuse("INVALID_ARGUMENT", delta_writes.DYNAMIC_OVERWRITE, "0A000",
                  f"Dynamic partition overwrite ({delta_writes.PARTITION_OVERWRITE_MODE}=dynamic) of {target} is not "
                  "supported locally with insertInto, overwriteSchema, INSERT OVERWRITE … PARTITION (column = value) "
                  "or a plan too deep to read: the engine would replace every partition, not only those the data "
                  "holds. Write with saveAsTable/save or SQL's INSERT OVERWRITE, or name the partitions to replace "
                  "with option('replaceWhere', …) (in SQL: INSERT INTO … REPLACE WHERE …).")


def _clear_leftover(location: str) -> None:
    """A managed location with files but no Delta log is what a killed first write leaves: nothing committed."""
    import shutil

    LOG.warning("removing uncommitted files at %s (a first write that never committed)", location)
    shutil.rmtree(location, ignore_errors=True)


_DEEP_TARGETS = frozenset({relations_pb2.Read.DESCRIPTOR.full_name, relations_pb2.SQL.DESCRIPTOR.full_name,
                           WriteOp.DESCRIPTOR.full_name, WriteV2.DESCRIPTOR.full_name,
                           commands_pb2.WriteStreamOperationStart.DESCRIPTOR.full_name,
                           commands_pb2.MergeIntoTableCommand.DESCRIPTOR.full_name,
                           commands_pb2.SqlCommand.DESCRIPTOR.full_name, CatalogOp.DESCRIPTOR.full_name})
# Code a client sends to run inside the engine: Python UDFs (in expressions, mapInPandas, foreach writers …), UDTFs,
# Python data sources, Scala and Java UDFs.
_CODE_TYPES = ("spark.connect.PythonUDF", "spark.connect.PythonUDTF", "spark.connect.PythonDataSource",
               "spark.connect.ScalarScalaUDF", "spark.connect.JavaUDF")
_CODE_CLASSES = tuple(message_factory.GetMessageClass(wire.message_types(base_pb2.ExecutePlanRequest.DESCRIPTOR)[name])
                      for name in _CODE_TYPES)
_CODE = frozenset(c.DESCRIPTOR.full_name for c in _CODE_CLASSES)
# Each rewrite in a plan too deep to decode copies the whole request once: bounded, since any client may send one
MAX_DEEP_HITS = 256
# Every text the engine parses (SQL statements, expression strings, type and schema strings) holds at most
# MAX_SQL_TOKENS tokens by ``sqltext.token_bound`` (a raw count no lexer difference can fool); a statement also nests
# at most MAX_NESTING levels by ``sqltext.nesting`` (refused early, with its depth). Sail's parser and planner recurse
# once a level, each level takes a token, and a stack overflow ends the engine host. The dearest level measured,
# ``FROM ((((t))))``, takes 14-28 KB of stack a bracket (on 8 MiB stacks 300 passed, 600 died): 16,384 of them fit
# in ``host.ENGINE_STACK_BYTES`` twice over.
MAX_SQL_TOKENS = 16384
MAX_NESTING = 4096
_WRITES = frozenset({WriteOp.DESCRIPTOR.full_name, WriteV2.DESCRIPTOR.full_name})


def _parsed_texts() -> dict[str, frozenset[int]]:
    """Message type → numbers of its string fields the engine parses as SQL, types or schemas."""
    types = wire.message_types(base_pb2.ExecutePlanRequest.DESCRIPTOR) | wire.message_types(
        base_pb2.AnalyzePlanRequest.DESCRIPTOR)
    wanted = {"spark.connect.Expression.ExpressionString": ("expression",), "spark.connect.Expression.Cast":
              ("type_str",), "spark.connect.AnalyzePlanRequest.DDLParse": ("ddl_string",),
              "spark.connect.DataType.Unparsed": ("data_type_string",), "spark.connect.LocalRelation": ("schema",),
              "spark.connect.Read.DataSource": ("schema", "predicates"),
              "spark.connect.ApplyInPandasWithState": ("output_schema", "state_schema"),
              WriteOp.DESCRIPTOR.full_name: ("options",), WriteV2.DESCRIPTOR.full_name: ("options",)}
    return {name: frozenset(types[name].fields_by_name[f].number for f in fields) for name, fields in wanted.items()}


PARSED_TEXTS = _parsed_texts()
_INPUT = WriteOp.DESCRIPTOR.fields_by_name["input"].number
assert WriteV2.DESCRIPTOR.fields_by_name["input"].number == _INPUT
_COMMAND_WRITE = commands_pb2.Command.DESCRIPTOR.fields_by_name["write_operation"].number
_WRAPPED_INPUT = relations_pb2.WithColumns.DESCRIPTOR.fields_by_name["input"].number
assert relations_pb2.WithColumnsRenamed.DESCRIPTOR.fields_by_name["input"].number == _WRAPPED_INPUT
_SQL_NAMED_ARGUMENTS = relations_pb2.SQL.DESCRIPTOR.fields_by_name["named_arguments"].number
_SQL_COMMAND_TEXT = commands_pb2.SqlCommand.DESCRIPTOR.fields_by_name["sql"].number
_SQL_COMMAND_INPUT = commands_pb2.SqlCommand.DESCRIPTOR.fields_by_name["input"].number
_MERGE_TARGET = commands_pb2.MergeIntoTableCommand.DESCRIPTOR.fields_by_name["target_table_name"].number


def _values(encoded_fields: bytes) -> Iterator[bytes]:
    for field in wire.fields(encoded_fields, 0, len(encoded_fields)):
        yield encoded_fields[field.value_start:field.value_end]


def _sql_relation(relation: relations_pb2.Relation) -> relations_pb2.SQL | None:
    kind = relation.WhichOneof("rel_type")
    if kind == "sql":
        return relation.sql
    if kind == "with_relations" and relation.with_relations.root.WhichOneof("rel_type") == "sql":
        return relation.with_relations.root.sql
    return None


def _messages(message: Message, *kinds: type[Message]) -> Iterator[Any]:
    """Every message of one of ``kinds`` inside ``message`` (depth first, ``message`` itself included), in one walk.
    Enters only the fields whose type can hold one (``wire.reaching``): never an expression tree, for a relation."""
    targets = frozenset(kind.DESCRIPTOR.full_name for kind in kinds)
    yield from _within(message, kinds, wire.reaching(message.DESCRIPTOR, targets))


def _within(message: Message, kinds: tuple[type[Message], ...], entered: frozenset[str]) -> Iterator[Any]:
    if isinstance(message, kinds):
        yield message
    for descriptor, value in message.ListFields():
        if descriptor.type != descriptor.TYPE_MESSAGE:
            continue
        message_type = descriptor.message_type
        assert message_type is not None  # a message field always has one
        if message_type.full_name not in entered:
            continue
        if message_type.GetOptions().map_entry:
            for item in value.values():  # a map entry is entered only when its value is a message that can hold one
                yield from _within(item, kinds, entered)
        elif descriptor.is_repeated:
            for item in value:
                yield from _within(item, kinds, entered)
        else:
            yield from _within(value, kinds, entered)
