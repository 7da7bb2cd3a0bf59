"""Delta statements Sail's parser rejects, served with delta-rs.

Each handler takes the parsed statement and returns ``(columns, rows)``; the session layer turns that
into a DataFrame, so ``spark.sql("DESCRIBE HISTORY gold.t").show()`` behaves as on Databricks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow
from deltalake import DeltaTable, Field
from deltalake.exceptions import DeltaError
from deltalake.schema import PrimitiveType

from odoolake.errors import DeltaCommandError
from odoolake.workspace.engine import sqltext, table_properties

MIN_RETENTION_HOURS = 168
RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"

_TARGET = r"(?P<target>delta\.`[^`]+`|[`\w.]+)"

_COLUMN = r"(?P<column>`(?:[^`]|``)+`|\w+)"
# One or more string literals (Spark joins adjacent ones), or NULL to remove the comment.
_COMMENT = r"(?P<comment>(?:(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*)+|NULL)"

Result = tuple[list[tuple[str, str]], list[tuple[Any, ...]]]


class UnknownColumn(DeltaCommandError):
    """A statement names a column the table does not have."""


def comment_text(stmt: DeltaStatement) -> str | None:
    """The comment a COMMENT statement sets (None: NULL, which removes it), its literal's escapes read."""
    literal = stmt.match.group("comment")
    if literal.upper() == "NULL":
        return None
    return "".join(token.text for token in sqltext.tokens(literal))  # escapes read as Spark reads them: \n, \u0041


@dataclass(frozen=True)
class DeltaStatement:
    kind: str
    target: str
    match: re.Match[str]


_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "optimize",
        re.compile(
            rf"^\s*OPTIMIZE\s+{_TARGET}(?:\s+WHERE\s+(?P<where>.+?))?"
            r"(?:\s+ZORDER\s+BY\s*\(?(?P<zorder>[^)]+?)\)?)?\s*;?\s*$",
            re.I | re.S,
        ),
    ),
    (
        "vacuum",
        re.compile(
            rf"^\s*VACUUM\s+{_TARGET}(?:\s+RETAIN\s+(?P<hours>[0-9.]+)\s+HOURS)?(?P<dry>\s+DRY\s+RUN)?\s*;?\s*$",
            re.I | re.S,
        ),
    ),
    (
        "history",
        re.compile(rf"^\s*DESCRIBE\s+HISTORY\s+{_TARGET}(?:\s+LIMIT\s+(?P<limit>\d+))?\s*;?\s*$", re.I | re.S),
    ),
    ("detail", re.compile(rf"^\s*DESCRIBE\s+DETAIL\s+{_TARGET}\s*;?\s*$", re.I | re.S)),
    (
        "restore",
        re.compile(
            rf"^\s*RESTORE\s+(?:TABLE\s+)?{_TARGET}\s+(?:TO\s+)?"
            r"(?:VERSION\s+AS\s+OF\s+(?P<version>\d+)|TIMESTAMP\s+AS\s+OF\s+'(?P<ts>[^']+)')\s*;?\s*$",
            re.I | re.S,
        ),
    ),
    (
        "add_columns",
        re.compile(rf"^\s*ALTER\s+TABLE\s+{_TARGET}\s+ADD\s+COLUMNS?\s*\((?P<cols>.+)\)\s*;?\s*$", re.I | re.S),
    ),
    ("tblproperties", re.compile(rf"^\s*SHOW\s+TBLPROPERTIES\s+{_TARGET}(?:\s*\(\s*(?P<key>'(?:[^'\\]|\\.)*'|"
                                 r"[\w.]+)\s*\))?\s*;?\s*$", re.I | re.S)),
    (
        "unset_tblproperties",
        re.compile(rf"^\s*ALTER\s+TABLE\s+{_TARGET}\s+UNSET\s+TBLPROPERTIES\s*(?P<if_exists>IF\s+EXISTS\s*)?"
                   r"\((?P<props>.+)\)\s*;?\s*$", re.I | re.S),
    ),
    (
        "set_tblproperties",
        re.compile(rf"^\s*ALTER\s+TABLE\s+{_TARGET}\s+SET\s+TBLPROPERTIES\s*\((?P<props>.+)\)\s*;?\s*$", re.I | re.S),
    ),
    (
        "comment_table",
        re.compile(rf"^\s*COMMENT\s+ON\s+TABLE\s+{_TARGET}\s+IS\s+{_COMMENT}\s*;?\s*$", re.I | re.S),
    ),
    (
        "comment_column",
        re.compile(rf"^\s*COMMENT\s+ON\s+COLUMN\s+{_TARGET}\.{_COLUMN}\s+IS\s+{_COMMENT}\s*;?\s*$", re.I | re.S),
    ),
    (  # dbt-databricks' persist_docs for columns, older releases: ALTER TABLE t CHANGE COLUMN c COMMENT '…'
        "comment_column",
        re.compile(rf"^\s*ALTER\s+TABLE\s+{_TARGET}\s+(?:ALTER|CHANGE)\s+(?:COLUMN\s+)?{_COLUMN}\s+COMMENT\s+"
                   rf"{_COMMENT}\s*;?\s*$", re.I | re.S),
    ),
]


def match_delta_statement(sql: str) -> DeltaStatement | None:
    toks = sqltext.tokens(sql)  # from the first token to the last: comments around the statement go (dbt, for one,
    if toks:                    # starts or ends every statement with ``/* {"app": "dbt", …} */``)
        sql = sql[toks[0].start:toks[-1].end + 1]
    for kind, pattern in _PATTERNS:
        m = pattern.match(sql)
        if m:
            return DeltaStatement(kind, m.group("target"), m)
    return None


def run_delta_statement(stmt: DeltaStatement, location: str, conf: Callable[[str], str | None]) -> Result:
    try:
        table = DeltaTable(location)
    except Exception as exc:  # delta-rs raises several types for "not a table"
        raise DeltaCommandError(f"{stmt.target} at {location} is not a Delta table: {exc}") from exc
    handler = _HANDLERS[stmt.kind]
    try:
        if stmt.kind in ("history", "detail"):
            return handler(stmt, table, location, conf)
        from odoolake.workspace.engine.locks import table_lock

        with table_lock(location):  # maintenance commits queue behind (and block) data writes
            return handler(stmt, DeltaTable(location), location, conf)
    except DeltaError as exc:
        raise DeltaCommandError(f"{stmt.target}: {exc}") from None
    except BaseException as exc:  # a panic inside delta-rs is a BaseException: the call would never be answered
        if type(exc).__name__ != "PanicException":
            raise
        raise DeltaCommandError(f"{stmt.target}: delta-rs failed: {exc}") from None


def _optimize(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    if stmt.match.group("where"):
        raise DeltaCommandError(
            "OPTIMIZE … WHERE is not supported locally; run OPTIMIZE on the whole table."
        )
    zorder = stmt.match.group("zorder")
    if zorder:
        columns = [c.strip().strip("`") for c in zorder.split(",") if c.strip()]
        unknown = [c for c in columns if c not in table.schema().to_arrow().names]
        if unknown:
            raise DeltaCommandError(f"ZORDER BY column(s) not in {stmt.target}: {', '.join(unknown)}")
        metrics = table.optimize.z_order(columns)
    else:
        metrics = table.optimize.compact()
    return [("path", "string"), ("metrics", "string")], [(location, json.dumps(metrics, default=str))]


def _vacuum(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    hours_text = stmt.match.group("hours")
    hours = float(hours_text) if hours_text is not None else float(MIN_RETENTION_HOURS)
    check = (conf(RETENTION_CHECK_CONF) or "true").lower() != "false"
    if check and hours < MIN_RETENTION_HOURS:
        raise DeltaCommandError(
            f"VACUUM {stmt.target} RETAIN {hours_text} HOURS is below the {MIN_RETENTION_HOURS}-hour minimum: "
            "it could delete files that running readers or time travel still need. "
            f"If you are certain, set {RETENTION_CHECK_CONF} = false first."
        )
    removed = table.vacuum(
        retention_hours=int(hours),
        dry_run=bool(stmt.match.group("dry")),
        enforce_retention_duration=False,
    )
    return [("path", "string")], [(f"{location}/{p}",) for p in removed]


def _strings(values: dict | None) -> dict[str, str]:
    """A commit's parameters or metrics as Delta shows them: a map of strings (JSON for a nested value)."""
    return {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in (values or {}).items()}


def _instant(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if isinstance(ms, int | float) else None


# Delta's DESCRIBE HISTORY columns (``job``, ``notebook``: structs no local commit has, left out).
HISTORY_COLUMNS = [("version", "bigint"), ("timestamp", "timestamp"), ("userId", "string"), ("userName", "string"),
                   ("operation", "string"), ("operationParameters", "map<string,string>"), ("clusterId", "string"),
                   ("readVersion", "bigint"), ("isolationLevel", "string"), ("isBlindAppend", "boolean"),
                   ("operationMetrics", "map<string,string>"), ("userMetadata", "string"), ("engineInfo", "string")]
DETAIL_COLUMNS = [("format", "string"), ("id", "string"), ("name", "string"), ("description", "string"),
                  ("location", "string"), ("createdAt", "timestamp"), ("lastModified", "timestamp"),
                  ("partitionColumns", "array<string>"), ("clusteringColumns", "array<string>"), ("numFiles", "bigint"),
                  ("sizeInBytes", "bigint"), ("properties", "map<string,string>"), ("minReaderVersion", "int"),
                  ("minWriterVersion", "int"), ("tableFeatures", "array<string>")]


# What Delta's RESTORE answers (delta-rs reports only numRemovedFile and numRestoredFile).
RESTORE_COLUMNS = [("table_size_after_restore", "bigint"), ("num_of_files_after_restore", "bigint"),
                   ("num_removed_files", "bigint"), ("num_restored_files", "bigint"),
                   ("removed_files_size", "bigint"), ("restored_files_size", "bigint")]


def _history(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    limit = stmt.match.group("limit")
    rows = [(entry.get("version"), _instant(entry.get("timestamp")), entry.get("userId"), entry.get("userName"),
             entry.get("operation"), _strings(entry.get("operationParameters")), entry.get("clusterId"),
             entry.get("readVersion"), entry.get("isolationLevel"), entry.get("isBlindAppend"),
             _strings(entry.get("operationMetrics")), entry.get("userMetadata"),
             entry.get("engineInfo") or entry.get("clientVersion"))
            for entry in table.history(int(limit) if limit else None)]
    return HISTORY_COLUMNS, rows


def _detail(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    meta = table.metadata()
    protocol = table.protocol()
    sizes = list(_file_sizes(table).values())
    history = table.history(1)
    features = sorted({*(protocol.reader_features or []), *(protocol.writer_features or [])})
    row: tuple[Any, ...] = ("delta", meta.id, meta.name, meta.description, location, _instant(meta.created_time),
           _instant(history[0].get("timestamp")) if history else None, list(meta.partition_columns), [],
           len(sizes), int(sum(sizes)), dict(meta.configuration), protocol.min_reader_version,
           protocol.min_writer_version, features)
    return DETAIL_COLUMNS, [row]


def _restore(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    version = stmt.match.group("version")
    target: int | datetime = int(version) if version is not None else _timestamp(stmt.match.group("ts"))
    current = table.version()
    if isinstance(target, int) and target > current:
        raise DeltaCommandError(f"Cannot restore {stmt.target} to version {target}: the latest is {current}.")
    if isinstance(target, datetime):  # before the first commit, delta-rs restored version 0 (Delta refuses it)
        first = min(int(entry["timestamp"]) for entry in table.history())
        if target.timestamp() * 1000 < first:
            earliest = datetime.fromtimestamp(first / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
            raise DeltaCommandError(f"Cannot restore {stmt.target} to {stmt.match.group('ts')}: it is before the "
                                    f"table's first version ({earliest} UTC).")
    before = _file_sizes(table)
    table.restore(target)
    after = _file_sizes(DeltaTable(location))
    removed, restored = before.keys() - after.keys(), after.keys() - before.keys()
    return RESTORE_COLUMNS, [(sum(after.values()), len(after), len(removed), len(restored),
                              sum(before[p] for p in removed), sum(after[p] for p in restored))]


def _file_sizes(table: DeltaTable) -> dict[str, int]:
    """The table's data files (path -> bytes) at its loaded version (a table without files has no such columns)."""
    actions = pyarrow.table(table.get_add_actions(flatten=True))
    if "size_bytes" not in actions.column_names:
        return {}
    return dict(zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True))


def _timestamp(text: str) -> datetime:
    """``TIMESTAMP AS OF '…'`` as Spark reads it (a date, or a date and time with or without a zone; without one, UTC,
    the engine's session time zone); delta-rs took only RFC 3339 with a zone and failed the call on any other."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DeltaCommandError(f"{text!r} is not a timestamp: write it as 'YYYY-MM-DD' or "
                                "'YYYY-MM-DD HH:MM:SS[+HH:MM]'.") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_TYPES = {
    "string": "string",
    "int": "integer",
    "integer": "integer",
    "bigint": "long",
    "long": "long",
    "double": "double",
    "float": "float",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "smallint": "short",
    "tinyint": "byte",
}


def _add_columns(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    fields = []
    existing = set(table.schema().to_arrow().names)
    for spec in stmt.match.group("cols").split(","):
        parts = spec.split()
        if len(parts) < 2:
            raise DeltaCommandError(f"ADD COLUMNS expects 'name type', got {spec.strip()!r}")
        name, type_text = parts[0].strip("`"), parts[1].lower()
        decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", type_text)
        if decimal:
            delta_type = f"decimal({decimal.group(1)},{decimal.group(2)})"
        elif type_text in _TYPES:
            delta_type = _TYPES[type_text]
        else:
            raise DeltaCommandError(f"ADD COLUMNS: type {parts[1]!r} is not supported locally")
        if name in existing:
            raise DeltaCommandError(f"Column {name} already exists in {stmt.target}")
        fields.append(Field(name, PrimitiveType(delta_type), nullable=True))
    table.alter.add_columns(fields)
    return [], []


def shown_properties(stmt: DeltaStatement, properties: dict[str, str]) -> Result:
    """SHOW TBLPROPERTIES' answer: every property, or the one its ``('key')`` names (Spark's line when the table
    has no such property)."""
    key = stmt.match.group("key")
    if key is None:
        return [("key", "string"), ("value", "string")], sorted(properties.items())
    key = table_properties.canonical("".join(token.text for token in sqltext.tokens(key)) if key.startswith("'")
                                     else key)
    return [("key", "string"), ("value", "string")], [
        (key, properties.get(key, f"Table {stmt.target} does not have property: {key}"))]


def _tblproperties(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    return shown_properties(stmt, dict(table.metadata().configuration))


def set_properties(stmt: DeltaStatement) -> dict[str, str]:
    """The properties ``ALTER TABLE … SET TBLPROPERTIES (…)`` writes, checked (:mod:`.table_properties`, which
    raises ``PropertyRefused``)."""
    toks = sqltext.tokens(f"({stmt.match.group('props')})")
    pairs, end = sqltext.property_list(toks, 0)
    if end != len(toks):
        raise DeltaCommandError("SET TBLPROPERTIES takes one list of key = value pairs in parentheses.")
    return table_properties.checked(pairs)


def _set_tblproperties(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    properties = set_properties(stmt)
    if properties:  # a feature left off writes nothing
        table.alter.set_table_properties(properties, raise_if_not_exists=False)
    return [], []


def _unset_tblproperties(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    """``ALTER TABLE t UNSET TBLPROPERTIES [IF EXISTS] ('k', …)``: delta-rs can only add properties, so the table's
    metadata is committed again without them. A key the table does not have is refused unless IF EXISTS."""
    toks = sqltext.tokens(f"({stmt.match.group('props')})")
    given, end = sqltext.key_list(toks, 0)
    if end != len(toks):
        raise DeltaCommandError("UNSET TBLPROPERTIES takes one list of keys in parentheses.")
    current = dict(table.metadata().configuration)
    keys = [table_properties.canonical(key) for key in given]
    table_properties.check_unset(keys)
    missing = [key for key in keys if key not in current]
    if missing and not stmt.match.group("if_exists"):
        raise table_properties.PropertyRefused(
            "DELTA_UNSET_NON_EXISTENT_PROPERTY", "42616",
            f"Attempted to unset non-existent property '{missing[0]}' in table {stmt.target}: add IF EXISTS to "
            "leave out the keys a table does not have.")
    if any(key in current for key in keys):
        replace_configuration(table, {k: v for k, v in current.items() if k not in keys}, "UNSET TBLPROPERTIES",
                              {"properties": json.dumps(keys)})
    return [], []


def replace_configuration(table: DeltaTable, configuration: dict[str, str], operation: str,
                          parameters: dict[str, str]) -> None:
    """Commit ``table``'s metadata again with ``configuration`` as its whole set of properties (delta-rs's
    ``set_table_properties`` only adds): one ``metaData`` action, everything else as the table has it, written
    put-if-absent (a commit made meanwhile wins and this one fails). The caller holds the table's lock."""
    import os
    import tempfile
    import time
    from pathlib import Path

    metadata = table.metadata()
    version = table.version() + 1
    actions = [
        {"commitInfo": {"timestamp": int(time.time() * 1000), "operation": operation,
                        "operationParameters": parameters, "readVersion": version - 1, "isBlindAppend": True,
                        "engineInfo": "odoolake"}},
        {"metaData": {"id": metadata.id, "name": metadata.name, "description": metadata.description,
                      "format": {"provider": "parquet", "options": {}}, "schemaString": table.schema().to_json(),
                      "partitionColumns": list(metadata.partition_columns), "createdTime": metadata.created_time,
                      "configuration": configuration}},
    ]
    log = Path(table.table_uri.removeprefix("file://"), "_delta_log")
    handle, staged = tempfile.mkstemp(dir=log, prefix=".commit-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write("".join(json.dumps(action) + "\n" for action in actions))
        try:
            os.link(staged, log / f"{version:020d}.json")  # fails if the version exists
        except FileExistsError:
            raise DeltaCommandError(f"{operation}: the table changed meanwhile (version {version} exists); run "
                                    "the statement again.") from None
    finally:
        os.unlink(staged)


def _comment_table(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    table.alter.set_table_description(comment_text(stmt) or "")
    return [], []


def _comment_column(stmt: DeltaStatement, table: DeltaTable, location: str, conf: Callable) -> Result:
    """A column's comment, kept where Spark keeps it: the ``comment`` of the field's metadata in the Delta schema."""
    wanted = stmt.match.group("column")
    wanted = wanted[1:-1].replace("``", "`") if wanted.startswith("`") else wanted
    names = [field.name for field in table.schema().fields]
    found = next((name for name in names if name.lower() == wanted.lower()), None)
    if found is None:
        raise UnknownColumn(f"A column with name `{wanted}` cannot be resolved in {stmt.target}: its columns are "
                            f"{', '.join(names)}.")
    table.alter.set_column_metadata(found, {"comment": comment_text(stmt) or ""})
    return [], []


_HANDLERS: dict[str, Callable[[DeltaStatement, DeltaTable, str, Callable], Result]] = {
    "optimize": _optimize,
    "vacuum": _vacuum,
    "history": _history,
    "detail": _detail,
    "restore": _restore,
    "add_columns": _add_columns,
    "tblproperties": _tblproperties,
    "set_tblproperties": _set_tblproperties,
    "unset_tblproperties": _unset_tblproperties,
    "comment_table": _comment_table,
    "comment_column": _comment_column,
}


def commit_metrics(location: str, after_version: int, operation: str) -> dict[str, Any]:
    """The ``operationMetrics`` of the first ``operation`` commit after ``after_version`` in a table's Delta log
    (empty when there is none: a statement that changed nothing may commit nothing)."""
    from pathlib import Path

    log = Path(location, "_delta_log")
    version = after_version + 1
    while True:
        commit = log / f"{version:020d}.json"
        if not commit.exists():
            return {}
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if info and str(info.get("operation", "")).upper() == operation:
                return dict(info.get("operationMetrics") or {})
        version += 1
