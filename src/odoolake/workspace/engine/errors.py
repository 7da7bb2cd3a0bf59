"""Sail's errors as a Databricks user reads them: a Spark error class, a SQLSTATE and Spark's wording.

Sail (0.7.2) answers a failed query with its own text (``attribute ObjectName([Identifier("x")]) is missing from
the schema``, ``invalid argument: found SELEC at 0:5 expected …``) and no error class. Every error the engine relays
passes through ``translate()``, so a Spark Connect client, a REST statement, the SQL connector and MCP all get
``[UNRESOLVED_COLUMN.WITHOUT_SUGGESTION] …`` with SQLSTATE ``42703``, and pyspark raises the matching exception
(``getCondition()``, ``getSqlState()``). An error that already carries a class (the engine's own refusals) and text
no rule recognises pass unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from odoolake.workspace.catalog.store import MODELS_IN_SCHEMA
from odoolake.workspace.engine import delta_writes
from odoolake.workspace.engine.session import idle_limit_words, session_idle_seconds

STATUS_DETAILS_KEY = "grpc-status-details-bin"
# A request in a session the engine had before it restarted (see ``proxy.ServerSessions``).
SESSION_CHANGED = "INVALID_HANDLE.SESSION_CHANGED"
SESSION_CHANGED_MESSAGE = (f"[{SESSION_CHANGED}] The engine restarted since this session began: its settings, "
                           "temporary views and current schema are gone. Start a new session.")
# A request in a session the engine closed: unused for longer than its idle limit, or released by its client.
SESSION_CLOSED = "INVALID_HANDLE.SESSION_CLOSED"


@dataclass(frozen=True)
class SparkError:
    error_class: str
    sql_state: str
    message: str  # without the ``[CLASS]`` prefix
    classes: tuple[str, ...] = ()  # the JVM exception classes Spark raises it as (PySpark picks its exception by them)


# What Spark throws for each kind of runtime error, most specific first.
_ARITHMETIC = ("org.apache.spark.SparkArithmeticException", "java.lang.ArithmeticException")
_DATE_TIME = ("org.apache.spark.SparkDateTimeException", "java.time.DateTimeException")
_INDEX = ("org.apache.spark.SparkArrayIndexOutOfBoundsException", "java.lang.ArrayIndexOutOfBoundsException")
_RUNTIME = ("org.apache.spark.SparkRuntimeException",)
_ANALYSIS = ("org.apache.spark.sql.AnalysisException",)
PARSE_CLASSES = ("org.apache.spark.sql.catalyst.parser.ParseException", "org.apache.spark.sql.AnalysisException")
_ANSI_OFF = 'If necessary set "spark.sql.ansi.enabled" to "false" to bypass this error.'


def _quoted(parts: str) -> str:
    """Sail's ``Identifier("a`b")…`` (Rust's debug text) as Spark quotes a name: `` `a``b` `` (backticks doubled)."""
    names = re.findall(r'Identifier\("((?:[^"\\]|\\.)*)"\)', parts)
    return _sql_id(re.sub(r"\\(.)", r"\1", n) for n in names) if names else parts


def _syntax(match: re.Match[str]) -> SparkError:
    near = match.group("near")
    where = "end of input" if near == "end of input" else f"'{near}'"
    position = f" (position {match.group('pos')})" if match.group("pos") else ""
    return SparkError("PARSE_SYNTAX_ERROR", "42601", f"Syntax error at or near {where}{position}.", PARSE_CLASSES)


# Spark (java.time) names of the fields make_date checks, with their valid ranges.
_DATE_FIELDS = {"Year": "Year (valid values -999999999 - 999999999)", "Month": "MonthOfYear (valid values 1 - 12)",
                "Day": "DayOfMonth (valid values 1 - 28/31)"}


def _catalog_name(url_path: str) -> str:
    """A name from the catalog API's URL as Sail printed it (``main%2Ep%2Et``), as Spark quotes one."""
    from urllib.parse import unquote

    return ".".join(f"`{part}`" for part in unquote(url_path).split("."))


def _not_dropped_schema(m: re.Match[str]) -> SparkError:
    name = _catalog_name(m.group("name"))
    if m.group("status").startswith("404"):
        return SparkError("SCHEMA_NOT_FOUND", "42704", f"The schema {name} cannot be found. Verify the spelling and "
                          "correctness of the schema and catalog.", _ANALYSIS)
    if name.endswith(("`default`", "`information_schema`")):
        return SparkError("FORBIDDEN_OPERATION", "42809", f"The schema {name} cannot be dropped.", _ANALYSIS)
    if m.group("status") == str(MODELS_IN_SCHEMA):
        return SparkError("SCHEMA_NOT_EMPTY", "2BP01", f"Cannot drop a schema {name} because it holds registered "
                          "models (Unity Catalog), which CASCADE does not drop: delete them first "
                          "(MlflowClient().delete_registered_model).", _ANALYSIS)
    return SparkError("SCHEMA_NOT_EMPTY", "2BP01", f"Cannot drop a schema {name} because it contains objects. Use "
                      "DROP SCHEMA ... CASCADE to drop the schema and all its objects.", _ANALYSIS)


def _insert_arity(m: re.Match[str]) -> SparkError:
    data, table = int(m.group("data")), int(m.group("table"))
    reason = "TOO_MANY_DATA_COLUMNS" if data > table else "NOT_ENOUGH_DATA_COLUMNS"
    words = "too many" if data > table else "not enough"
    return SparkError(f"INSERT_COLUMN_ARITY_MISMATCH.{reason}", "21S01",
                      f"Cannot write to the table, the reason is {words} data columns: the table has {table} "
                      f"columns, the data {data}. Select the table's columns in its order, or name them "
                      "(INSERT INTO t (a, b) ...).", _ANALYSIS)


# (pattern over Sail's message, what it is in Spark's terms); the first that matches wins.
RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], SparkError]], ...] = (
    (re.compile(r"Table or view not found: (?P<name>\S+)"),
     lambda m: SparkError("TABLE_OR_VIEW_NOT_FOUND", "42P01",
                          f"The table or view `{m.group('name').strip('`')}` cannot be found. Verify the spelling and "
                          "correctness of the schema and catalog.")),
    # the catalog API's answers as Sail reports them, with the engine's private address in them
    (re.compile(r"Failed to drop table: request error: HTTP status client error \(404 Not Found\) for url "
                r"\(\S+/tables/(?P<name>[^)\s?]+)"),
     lambda m: SparkError("TABLE_OR_VIEW_NOT_FOUND", "42P01",
                          f"The table or view {_catalog_name(m.group('name'))} cannot be found. Verify the spelling "
                          "and correctness of the schema and catalog.", _ANALYSIS)),
    (re.compile(r"Failed to list tables: request error: HTTP status client error \(404 Not Found\) for url "
                r"\(\S+/tables\?catalog_name=(?P<catalog>[^&\s)]+)&schema_name=(?P<schema>[^&\s)]+)"),
     lambda m: SparkError("SCHEMA_NOT_FOUND", "42704",
                          f"The schema {_catalog_name(m.group('catalog') + '.' + m.group('schema'))} cannot be found. "
                          "Verify the spelling and correctness of the schema and catalog.", _ANALYSIS)),
    (re.compile(r"Failed to drop schema: request error: HTTP status client error \((?P<status>\d+)[^)]*\) for url "
                r"\(\S+/schemas/(?P<name>[^)\s?]+)"), _not_dropped_schema),
    (re.compile(r"does not support creating views"),
     lambda m: SparkError("UNSUPPORTED_FEATURE", "0A000",
                          "The feature is not supported: persistent views (the local catalog does not support "
                          "creating views). Use CREATE TEMP VIEW in the session, or a table.")),
    (re.compile(r"Schema not found: (?P<name>\S+)"),
     lambda m: SparkError("SCHEMA_NOT_FOUND", "42704",
                          f"The schema {'.'.join(f'`{p}`' for p in m.group('name').strip('`').split('.'))} cannot be "
                          "found. Verify the spelling and correctness of the schema and catalog.")),
    (re.compile(r"attribute ObjectName\(\[(?P<parts>.*?)\]\) is missing from the schema"),
     lambda m: SparkError("UNRESOLVED_COLUMN.WITHOUT_SUGGESTION", "42703",
                          f"A column, variable, or function parameter with name {_quoted(m.group('parts'))} cannot "
                          "be resolved.")),
    (re.compile(r"ambiguous attribute: ObjectName\(\[(?P<parts>.*?)\]\)"),
     lambda m: SparkError("AMBIGUOUS_REFERENCE", "42704",
                          f"Reference {_quoted(m.group('parts'))} is ambiguous: more than one input has a column of "
                          "that name. Qualify it with the table or alias it comes from.", _ANALYSIS)),
    # a column neither grouped nor aggregated: Sail names it only by its internal id (``g."#1"``); with GROUP BY it
    # suggests another id, for a global aggregate (``SELECT x, count(*) FROM t``) it lists the aggregate's fields
    (re.compile(r'No field named \S*"#\d+"\.\s+(?:Did you mean|Valid fields are)'),
     lambda m: SparkError("MISSING_AGGREGATION", "42803",
                          "A non-aggregating expression is based on columns which are not participating in the GROUP "
                          "BY clause. Add the columns or the expression to the GROUP BY, aggregate the expression, or "
                          "use any_value(<column>) if you do not care which of the values within a group is "
                          "returned.", _ANALYSIS)),
    (re.compile(r"input schema for INSERT has (?P<data>\d+) fields?, but table schema has (?P<table>\d+) fields?"),
     _insert_arity),
    (re.compile(r"invalid argument: found (?P<near>end of input|\S+?)(?: at (?P<pos>\d+):\d+)? expected"), _syntax),
    (re.compile(r"session (?P<id>[\w-]+) is not running"),
     lambda m: SparkError(SESSION_CLOSED, "HY000",
                          f"Session {m.group('id')} was closed: it went unused for longer than "
                          f"{idle_limit_words(session_idle_seconds())}, or its client released it. Its settings, "
                          "temporary views and current schema are gone. Start a new session.")),
    (re.compile(r"Missing commit file: expected final version (?P<version>\d+), replay reached (?P<latest>\d+)"),
     lambda m: SparkError("DELTA_VERSION_NOT_FOUND", "22003",
                          f"Cannot time travel Delta table to version {m.group('version')}: its latest version is "
                          f"{m.group('latest')} (DESCRIBE HISTORY lists them).", _ANALYSIS)),
    (re.compile(r"\bdivide by zero\b|\bdivision by zero\b", re.I),
     lambda m: SparkError("DIVIDE_BY_ZERO", "22012",
                          "Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL instead.")),
    (re.compile(r"unknown table function: `?event_log\b", re.I),  # Databricks' TVF over a pipeline's event log
     lambda m: SparkError("UNRESOLVED_ROUTINE", "42883",
                          "The table function `event_log` is not available in the local workspace: a pipeline's "
                          "expectation metrics are in the table <target>.event_log of its target schema (SELECT * "
                          "FROM <target>.event_log), its updates' events in the Pipelines API "
                          "(w.pipelines.list_pipeline_events).", _ANALYSIS)),
    (re.compile(r"unknown function: (?P<name>[\w.`]+)"),
     lambda m: SparkError("UNRESOLVED_ROUTINE", "42883",
                          f"Cannot resolve routine `{m.group('name').strip('`')}` on search path "
                          "[`system`.`builtin`, `system`.`session`]. Verify the spelling.", _ANALYSIS)),
    (re.compile(r"Cannot cast string '(?P<value>.*?)' to value of (?P<type>\w+) type"),
     lambda m: SparkError("CAST_INVALID_INPUT", "22018",
                          f"The value '{m.group('value')}' of the type \"STRING\" cannot be cast to "
                          f"\"{_spark_type(m.group('type'))}\" because it is malformed. Use `try_cast` to tolerate "
                          "malformed input and return NULL instead.")),
    (re.compile(r"Function '(?P<name>\w+)' failed to match any signature.*?expects (?P<want>\d+) arguments? but "
                r"received (?P<got>\d+)", re.S),
     lambda m: SparkError("WRONG_NUM_ARGS.WITHOUT_SUGGESTION", "42605",
                          f"The `{m.group('name')}` requires {m.group('want')} parameters but the actual number is "
                          f"{m.group('got')}.")),
    # a number's cast ("Can't cast value 300 to type Int8") and a decimal's ("value of 300 is out of range Int8")
    (re.compile(r"(?:Can't cast value|value of) (?P<value>\S+) (?:to type|is out of range) (?P<type>\w+)"),
     lambda m: SparkError("CAST_OVERFLOW", "22003",
                          f"The value {m.group('value')} cannot be cast to \"{_spark_type(m.group('type'))}\" due to an "
                          "overflow. Use `try_cast` to tolerate overflow and return NULL instead.", _ARITHMETIC)),
    (re.compile(r"element_at: the index 0 is invalid"),
     lambda m: SparkError("INVALID_INDEX_OF_ZERO", "22003",
                          "The index 0 is invalid. An index shall be either < 0 or > 0 (the first element has index "
                          "1).", _RUNTIME)),
    (re.compile(r"invalid input for Spark `make_timestamp(?:_ntz|_ltz)?`: (?P<fields>year=[^\n]*)"),
     lambda m: SparkError("DATETIME_FIELD_OUT_OF_BOUNDS", "22023",
                          f"Invalid timestamp from {m.group('fields').strip()}. {_ANSI_OFF}", _DATE_TIME)),
    (re.compile(r"element_at: the index is out of bounds"),
     lambda m: SparkError("INVALID_ARRAY_INDEX_IN_ELEMENT_AT", "22003",
                          "The index is out of bounds of the array. Use `try_element_at` to tolerate accessing element "
                          "at invalid index and return NULL instead.", _INDEX)),
    # the check ``delta_writes.replace_where_check`` puts in front of an overwrite with replaceWhere
    (re.compile(rf"{delta_writes.REPLACE_WHERE_MISMATCH}: (?P<message>Written data does not conform .*)", re.S),
     lambda m: SparkError(delta_writes.REPLACE_WHERE_MISMATCH, delta_writes.REPLACE_WHERE_SQLSTATE, m.group("message"),
                          _ANALYSIS)),
    (re.compile(r"^(?P<expression>'.*') is not true!$", re.S),
     lambda m: SparkError("USER_RAISED_EXCEPTION", "P0001", f"{m.group('expression')} is not true!", _RUNTIME)),
    (re.compile(r"(?P<field>Year|Month|Day) value '(?P<value>[^']*)' is out of range"),
     lambda m: SparkError("DATETIME_FIELD_OUT_OF_BOUNDS", "22023",
                          f"Invalid value for {_DATE_FIELDS[m.group('field')]}: {m.group('value')}. {_ANSI_OFF}",
                          _DATE_TIME)),
    (re.compile(r"Unable to parse date from (?P<parts>-?\d+, -?\d+, -?\d+)"),
     lambda m: SparkError("DATETIME_FIELD_OUT_OF_BOUNDS", "22023",
                          f"Invalid date from year, month, day {m.group('parts')}. {_ANSI_OFF}", _DATE_TIME)),
    (re.compile(r"(?P<value>\S+) is too large to store in a Decimal\d+ of precision (?P<precision>\d+)\. Max is "
                r"\d+(?:\.(?P<fraction>\d+))?"),
     lambda m: SparkError("NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION", "22003",
                          f"{m.group('value')} cannot be represented as Decimal({m.group('precision')}, "
                          f"{len(m.group('fraction') or '')}). {_ANSI_OFF[:-1]}, and return NULL instead.",
                          _ARITHMETIC)),
)
_ARROW_TYPES = {"Int8": "TINYINT", "Int16": "SMALLINT", "Int32": "INT", "Int64": "BIGINT", "Float32": "FLOAT",
                "Float64": "DOUBLE", "Date32": "DATE", "Boolean": "BOOLEAN"}


def _spark_type(arrow_name: str) -> str:
    return _ARROW_TYPES.get(arrow_name, arrow_name.upper())


# A Python worker's exception (a UDF's traceback): the user's own error, passed on as it is. Its text may read like
# an engine message ("ZeroDivisionError: division by zero"), which a rule would otherwise replace, traceback and all.
_PYTHON_ERROR = re.compile(r"Traceback \(most recent call last\)")


def classify(message: str) -> SparkError | None:
    if _PYTHON_ERROR.search(message):
        return None
    for pattern, build in RULES:
        match = pattern.search(message)
        if match:
            return build(match)
    return None


def error_class_of(exc: BaseException) -> str | None:
    """The Spark error class a client's exception carries (PySpark's ``getCondition()``), or None."""
    for name in ("getCondition", "getErrorClass"):  # getErrorClass: PySpark before 4.0
        getter = getattr(exc, name, None)
        if callable(getter):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return getter() or None
    return None


def _error_info(status_bin: bytes | None) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo]:
    status = status_pb2.Status()
    info = error_details_pb2.ErrorInfo()
    if status_bin:
        status.ParseFromString(status_bin)
        for packed in status.details:
            if packed.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                packed.Unpack(info)
                break
    return status, info


def reported_classes(status_bin: bytes | None) -> tuple[str, ...]:
    """The exception classes an engine error was raised as (its ErrorInfo), Spark's AnalysisException if none."""
    _, info = _error_info(status_bin)
    if info.metadata.get("classes"):
        return tuple(json.loads(info.metadata["classes"]))
    return (info.reason,) if info.reason else _ANALYSIS


_BARE_NOT_FOUND = re.compile(r"The table or view `(?P<name>[^`.]+)` cannot be found")
_NAME_PART = r"(?:`(?:[^`]|``)+`|[A-Za-z_]\w*)"


def _name_as_written(found: SparkError, written: Iterable[str]) -> SparkError:
    """A missing table that the engine names by its last part only (``t``), named as the request wrote it
    (`` `nosuchschema`.`t` ``), as Spark names it: the first qualified reference to it in ``written`` (the
    request's SQL texts and table names); unchanged when there is none."""
    bare = _BARE_NOT_FOUND.search(found.message)
    if bare is None:
        return found
    name = bare.group("name")
    pattern = re.compile(rf"((?:{_NAME_PART}\s*\.\s*){{1,2}})(?:`{re.escape(name)}`|{re.escape(name)})(?![\w`])",
                         re.IGNORECASE)
    for text in written:
        match = pattern.search(text)
        if match is not None:
            parts = [p.strip().strip("`").replace("``", "`") for p in re.findall(_NAME_PART, match.group(1))]
            full = ".".join(f"`{part}`" for part in [*parts, name])
            return dataclasses.replace(found, message=found.message.replace(f"`{name}`", full, 1))
    return found


SQL_FIELDS = frozenset({"query", "sql"})  # the fields of a request that hold SQL text; the others, table names
_WRITTEN_FIELDS = SQL_FIELDS | {"unparsed_identifier", "table_name"}


def written_fields(message: Any) -> Iterator[tuple[str, str]]:
    """``(field, text)`` for the SQL texts and table names a Spark Connect request holds (``SQL.query``,
    ``SqlCommand.sql``, ``NamedTable.unparsed_identifier``, catalog calls' ``table_name``)."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for item in values:
            if field.type == field.TYPE_MESSAGE and not isinstance(item, (str, bytes)):
                if not hasattr(item, "ListFields"):  # a map's entries
                    continue
                yield from written_fields(item)
            elif field.type == field.TYPE_STRING and field.name in _WRITTEN_FIELDS and \
                    (field.name != "unparsed_identifier" or field.containing_type.name == "NamedTable"):
                yield field.name, item  # (a column's unparsed_identifier is no table name)


def message_types(message: Any) -> Iterator[str]:
    """The type names of ``message`` and of every message inside it."""
    yield message.DESCRIPTOR.name
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for item in (value if field.is_repeated else [value]):
                if hasattr(item, "ListFields"):  # not a map's entries
                    yield from message_types(item)


def written_names(message: Any) -> Iterator[str]:
    """The SQL texts and table names of a request (``written_fields``), for naming a missing table as written."""
    return (text for _, text in written_fields(message))


# -- "Did you mean one of the following?" ------------------------------------------------------------------------

MAX_SUGGESTIONS = 5  # Spark proposes the five candidates nearest the name
Candidates = Callable[[], list[tuple[str, ...]]]  # each column in scope as (qualifier parts…, name), when asked
_UNRESOLVED = re.compile(r"with name (?P<name>(?:`(?:[^`]|``)+`)(?:\.`(?:[^`]|``)+`)*) cannot be resolved\.")


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def _sql_id(parts: Iterable[str]) -> str:
    return ".".join("`" + p.replace("`", "``") + "`" for p in parts)


def _quote_if_needed(parts: Iterable[str]) -> str:
    """Spark's ``quoteIfNeeded``: a part of letters, digits and underscores (not only digits) as it is."""
    return ".".join(p if re.fullmatch(r"\w+", p, re.ASCII) and not p.isdigit() else _sql_id([p]) for p in parts)


def suggested_columns(name: str, candidates: list[tuple[str, ...]]) -> list[str]:
    """Spark's proposal for an unresolved column ``name`` (as the message quotes it): the candidates nearest it by
    edit distance (both quoted only where needed, as Spark compares them), at most MAX_SUGGESTIONS, each quoted. As
    Spark shortens them: a qualifier all candidates share is left out when ``name`` has one part, and a namespace
    they all share (all but the table) when ``name`` is not fully qualified."""
    parts = [p.replace("``", "`") for p in re.findall(r"`((?:[^`]|``)+)`", name)]
    written = _quote_if_needed(parts)
    if len(parts) == 1 and len({c[:-1] for c in candidates}) == 1:
        shown = [c[-1:] for c in candidates]
    elif len(parts) < 3 and len({c[:-2] for c in candidates}) == 1:
        shown = [c[-2:] for c in candidates]
    else:
        shown = list(candidates)
    shown = list(dict.fromkeys(shown))  # a table read twice under one name offers its columns once
    ordered = sorted(shown, key=lambda c: levenshtein(_quote_if_needed(c), written))  # stable: ties keep their order
    return [_sql_id(c) for c in ordered[:MAX_SUGGESTIONS]]


def _with_suggestion(found: SparkError, candidates: Candidates | None) -> SparkError:
    """An unresolved column with Spark's proposal of the columns in scope (UNRESOLVED_COLUMN.WITH_SUGGESTION);
    unchanged when the candidates are not known."""
    if found.error_class != "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION" or candidates is None:
        return found
    named = _UNRESOLVED.search(found.message)
    columns = candidates() if named is not None else []
    proposed = suggested_columns(named.group("name"), columns) if named is not None and columns else []
    if not proposed or named is None or named.group("name") in proposed:
        return found  # nothing known, or the engine failed a name that is there: no proposal would help
    proposal = ", ".join(proposed)
    return dataclasses.replace(found, error_class="UNRESOLVED_COLUMN.WITH_SUGGESTION",
                               message=f"{found.message} Did you mean one of the following? [{proposal}].")


def translate(details: str, status_bin: bytes | None, code: int, written: Iterable[str] = (),
              candidates: Candidates | None = None) -> tuple[str, bytes] | None:
    """The message and ``grpc-status-details-bin`` to send instead of Sail's, or None to relay them unchanged;
    ``written``: the request's SQL texts and table names, to name a missing table as the request did;
    ``candidates``: the columns the request could have meant, asked only for an unresolved column."""
    status, info = _error_info(status_bin)
    if info.metadata.get("errorClass"):
        return None
    found = classify(details)
    if found is None:
        return None
    found = _with_suggestion(_name_as_written(found, written), candidates)
    message = f"[{found.error_class}] {found.message} SQLSTATE: {found.sql_state}"
    # raised as Spark raises it (ArithmeticException, DateTimeException, …), else as the engine raised it
    raised = found.classes or reported_classes(status_bin)
    reason, classes = raised[0], json.dumps(list(raised))
    metadata = {key: value for key, value in info.metadata.items() if key != "errorId"}  # no stale detail lookups
    metadata.update(classes=classes, errorClass=found.error_class, sqlState=found.sql_state)
    new_info = error_details_pb2.ErrorInfo(reason=reason, domain=info.domain or "org.apache.spark",
                                           metadata=metadata)
    packed = any_pb2.Any()
    packed.Pack(new_info)
    out = status_pb2.Status(code=status.code or code, message=message, details=[packed])
    return message, out.SerializeToString()
