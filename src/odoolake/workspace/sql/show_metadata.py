"""The metadata SHOW statements that the SQL connector sends with ``use_sea=True`` (Databricks' JDBC and ADBC drivers
send the same ones over the Statement Execution API), answered from the workspace catalog with the rows of
:mod:`.metadata`, in the result columns Databricks answers them with.

What databricks-sql-connector 4.9 sends (``databricks/sql/backend/sea/backend.py``, ``utils/constants.py``; names and
patterns are pasted in as given, unquoted and unescaped) and what Databricks answers:

- ``catalogs()``: ``SHOW CATALOGS``; one column ``catalog``.
- ``schemas(catalog, schema)``: ``SHOW SCHEMAS IN <catalog> [LIKE '<schema>']``; one column ``databaseName``
  (``IN ALL CATALOGS``, which the JDBC and ADBC drivers send for no catalog, adds ``catalog``). ``SHOW SCHEMAS
  [LIKE …]`` in the current catalog is answered here too, so every SQL client gets the same rows.
- ``tables(catalog, schema, table, types)``: ``SHOW TABLES IN {CATALOG <catalog> | ALL CATALOGS} [SCHEMA LIKE
  '<schema>'] [LIKE '<table>']``; ``namespace, tableName, isTemporary (BOOLEAN), information, catalogName,
  tableType, remarks``. The connector then filters on the table types itself, reading the type at index 5
  (``utils/filters.py``: case-sensitive, TABLE, VIEW and SYSTEM TABLE by default), so the order is part of the
  contract.
- ``columns(catalog, schema, table, column)``: ``SHOW COLUMNS IN CATALOG <catalog> [SCHEMA LIKE '<schema>'] [TABLE
  LIKE '<table>'] [LIKE '<column>']``; ``col_name, catalogName, namespace, tableName, columnType, columnSize,
  decimalDigits, radix, isNullable ('true'/'false'), remarks, ordinalPosition, isAutoIncrement, isGenerated`` (the
  numbers INT).

The connector hands these results to its caller as they come: with ``use_sea=True`` a caller reads ``tableName``,
not the ``TABLE_NAME`` of the Thrift calls (databricks-sql-python issue #844 records the difference).

Sources. Result columns: Statement Execution API answers recorded from a live warehouse in databricks/databricks-jdbc
(``src/test/resources/sqlexecapi/metadataintegrationtests``: ``SHOW CATALOGS``, ``SHOW SCHEMAS IN main LIKE …``,
``SHOW TABLES IN CATALOG main SCHEMA LIKE … LIKE …``), that driver's ``MetadataResultConstants`` (each SEA column and
its JDBC column, ``isNullable`` read as ``"true"``), and adbc-drivers/databricks ``rust/src/metadata/parse.rs`` (the
result schemas "verified from live Databricks queries", SHOW COLUMNS included). Patterns: Databricks' SHOW SCHEMAS
reference (a regular expression except ``*``, any run, and ``|`` between alternatives; blanks trimmed;
case-insensitive); the JDBC and ADBC drivers rewrite ``%`` as ``*`` and ``_`` as ``.`` before sending, the Python
connector sends ``%`` and ``_`` as they are, and :func:`.metadata.pattern` reads both. An unknown catalog is
``NO_SUCH_CATALOG_EXCEPTION``, SQLSTATE 42704 (USE CATALOG reference, Databricks' error classes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from odoolake.workspace.catalog.store import CATALOG, CATALOG_ALIASES, NO_SUCH_CATALOG, unknown_catalog
from odoolake.workspace.sql.metadata import Metadata

PARSE_SYNTAX_ERROR = ("PARSE_SYNTAX_ERROR", "42601")
CATALOGS, SCHEMAS, TABLES, COLUMNS = "CATALOGS", "SCHEMAS", "TABLES", "COLUMNS"
FORMS = {
    CATALOGS: "SHOW CATALOGS [[LIKE] '<pattern>']",
    SCHEMAS: "SHOW SCHEMAS [{IN | FROM} {<catalog> | ALL CATALOGS}] [[LIKE] '<pattern>']",
    TABLES: "SHOW TABLES IN {CATALOG <catalog> | ALL CATALOGS} [SCHEMA LIKE '<pattern>'] [[LIKE] '<pattern>']",
    COLUMNS: "SHOW COLUMNS IN {CATALOG <catalog> | ALL CATALOGS} [SCHEMA LIKE '<pattern>'] "
             "[TABLE LIKE '<pattern>'] [[LIKE] '<pattern>']",
}

_S, _I = pa.string(), pa.int32()
CATALOG_COLUMNS = pa.schema([("catalog", _S)])
SCHEMA_COLUMNS = pa.schema([("databaseName", _S)])
ALL_CATALOGS_SCHEMA_COLUMNS = pa.schema([("databaseName", _S), ("catalog", _S)])
TABLE_COLUMNS = pa.schema([("namespace", _S), ("tableName", _S), ("isTemporary", pa.bool_()), ("information", _S),
                           ("catalogName", _S), ("tableType", _S), ("remarks", _S)])
COLUMN_COLUMNS = pa.schema([("col_name", _S), ("catalogName", _S), ("namespace", _S), ("tableName", _S),
                            ("columnType", _S), ("columnSize", _I), ("decimalDigits", _I), ("radix", _I),
                            ("isNullable", _S), ("remarks", _S), ("ordinalPosition", _I), ("isAutoIncrement", _S),
                            ("isGenerated", _S)])

# Blanks and comments, each taken whole once matched (atomic, possessive): with backtracking, "/* */ " repeated
# 26 times before a statement took 23 s to match, each two more four times as long.
_GAP = r"(?>\s+|--[^\n]*+(?:\n|\Z)|/\*(?:[^*]|\*(?!/))*+\*/)"
_HEAD = re.compile(rf"{_GAP}*+SHOW{_GAP}++(CATALOGS|SCHEMAS|DATABASES|NAMESPACES|TABLES|COLUMNS)\b", re.I | re.S)
_WORD = re.compile(r"[^\s;'\"`]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "0": "\0", "Z": "\x1a"}
WORD, IDENTIFIER, STRING = "word", "identifier", "string"


class ShowMetadataError(Exception):
    """A failed SHOW statement, with the Spark error class and SQLSTATE read the way :class:`.statements.SqlFailure`
    reads the engine's errors."""

    def __init__(self, error: tuple[str, str], message: str) -> None:
        self.error_class, self.sql_state = error
        super().__init__(f"[{self.error_class}] {message}")

    def getCondition(self) -> str:
        return self.error_class

    def getSqlState(self) -> str:
        return self.sql_state


@dataclass(frozen=True)
class ShowMetadata:
    kind: str  # CATALOGS, SCHEMAS, TABLES or COLUMNS
    catalog: str | None = None  # None: ALL CATALOGS
    schema: str | None = None  # the patterns
    table: str | None = None
    like: str | None = None


@dataclass(frozen=True)
class _Token:
    text: str
    kind: str
    at: int

    def keyword(self, *words: str) -> bool:
        return self.kind == WORD and self.text.upper() in words


class _Unfinished(Exception):
    """A quote or comment left open: the statement is not tokenized here."""


def _tokens(sql: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise _Unfinished
            i = end + 2
        elif ch == ";":
            if sql[i + 1:].strip(" \t\r\n;"):
                raise ShowMetadataError(PARSE_SYNTAX_ERROR, "Only one SQL statement can be run at a time; split the "
                                                            "text at its semicolons.")
            break
        elif ch == "`":
            start = i
            text, i = _identifier(sql, i)
            out.append(_Token(text, IDENTIFIER, start))
        elif ch in "'\"":
            start = i
            text, i = _string(sql, i)
            out.append(_Token(text, STRING, start))
        else:
            m = _WORD.match(sql, i)
            assert m is not None
            out.append(_Token(m.group(), WORD, i))
            i = m.end()
    return out


def _identifier(sql: str, start: int) -> tuple[str, int]:
    """A backquoted name (a doubled backquote is one): its text and the index after it."""
    out, i = [], start + 1
    while True:
        end = sql.find("`", i)
        if end < 0:
            raise _Unfinished
        out.append(sql[i:end])
        if sql.startswith("``", end):
            out.append("`")
            i = end + 2
            continue
        return "".join(out), end + 1


def _string(sql: str, start: int) -> tuple[str, int]:
    """A string literal as Spark reads it: backslash escapes (``\\%`` and ``\\_`` keep their backslash, for patterns)
    and a doubled quote as one."""
    quote, out, i, n = sql[start], [], start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "\\" and i + 1 < n:
            nxt = sql[i + 1]
            out.append("\\" + nxt if nxt in "%_" else _ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == quote and sql.startswith(quote * 2, i):
            out.append(quote)
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise _Unfinished


def _syntax(kind: str, token: _Token | None, detail: str) -> ShowMetadataError:
    near = f"at or near '{token.text}' (position {token.at})" if token else "at the end of the statement"
    return ShowMetadataError(PARSE_SYNTAX_ERROR, f"Syntax error {near}: {detail}. The form is {FORMS[kind]}.")


def lists_catalog(statement: str) -> bool:
    """Whether ``statement`` is a SHOW of catalogs, schemas, tables or columns (these forms or the engine's)."""
    return _HEAD.match(statement) is not None


def parse(statement: str) -> ShowMetadata | None:
    """The metadata SHOW statement in ``statement``, or None when it is another statement (``SHOW TABLES IN
    <schema>`` and the rest go to the engine). A statement of these forms that goes wrong after its opening words
    raises PARSE_SYNTAX_ERROR naming the token."""
    head = _HEAD.match(statement)
    if head is None:
        return None
    try:
        toks = _tokens(statement)
    except _Unfinished:
        return None  # an open quote or comment: the engine reports it
    kind = {"DATABASES": SCHEMAS, "NAMESPACES": SCHEMAS}.get(head.group(1).upper(), head.group(1).upper())
    rest = toks[2:]
    if kind == CATALOGS:
        return ShowMetadata(CATALOGS, like=_last_like(kind, rest))
    if kind == SCHEMAS:
        if not rest or not rest[0].keyword("IN", "FROM"):  # the current catalog, which is main by any of its names
            return ShowMetadata(SCHEMAS, CATALOG, like=_last_like(kind, rest))
        if len(rest) < 2:
            raise _syntax(kind, None, "IN takes a catalog")
        if rest[1].keyword("ALL") and len(rest) > 2 and rest[2].keyword("CATALOGS"):
            return ShowMetadata(SCHEMAS, None, like=_last_like(kind, rest[3:]))
        return ShowMetadata(SCHEMAS, _catalog_name(kind, rest[1]), like=_last_like(kind, rest[2:]))
    if len(rest) < 3 or not rest[0].keyword("IN"):
        return None
    if rest[1].keyword("ALL") and rest[2].keyword("CATALOGS"):
        catalog, rest = None, rest[3:]
    elif rest[1].keyword("CATALOG") and not rest[2].keyword("SCHEMA", "TABLE", "LIKE"):
        catalog, rest = _catalog_name(kind, rest[2]), rest[3:]
    else:
        return None  # SHOW TABLES IN <schema>, SHOW COLUMNS IN <table>: the engine's
    schema, rest = _clause(kind, rest, "SCHEMA")
    table, rest = _clause(kind, rest, "TABLE") if kind == COLUMNS else (None, rest)
    return ShowMetadata(kind, catalog, schema, table, _last_like(kind, rest))


def _catalog_name(kind: str, token: _Token) -> str:
    if token.kind == STRING:
        raise _syntax(kind, token, "a catalog is a name, not a string")
    return token.text


def _clause(kind: str, rest: list[_Token], word: str) -> tuple[str | None, list[_Token]]:
    """``<word> LIKE '<pattern>'`` at the start of ``rest``, if it is there."""
    if not rest or not rest[0].keyword(word):
        return None, rest
    if len(rest) < 2 or not rest[1].keyword("LIKE"):
        raise _syntax(kind, rest[1] if len(rest) > 1 else None, f"{word} takes LIKE '<pattern>'")
    return _pattern(kind, rest[2] if len(rest) > 2 else None), rest[3:]


def _last_like(kind: str, rest: list[_Token]) -> str | None:
    """``[[LIKE] '<pattern>']``, which ends the statement."""
    if rest and rest[0].keyword("LIKE"):
        if len(rest) < 2:
            raise _syntax(kind, None, "LIKE takes a quoted pattern")
        rest = rest[1:]
    if not rest:
        return None
    if len(rest) > 1:
        raise _syntax(kind, rest[1], "nothing may follow the pattern")
    return _pattern(kind, rest[0])


def _pattern(kind: str, token: _Token | None) -> str:
    if token is None or token.kind != STRING:
        raise _syntax(kind, token, "a pattern is a quoted string")
    return token.text


def answer(command: ShowMetadata, metadata: Metadata) -> pa.Table:
    """The rows of ``command``, in Databricks' result columns."""
    catalog = _known_catalog(command.catalog, metadata)
    if command.kind == CATALOGS:
        names = metadata.catalogs(command.like).column("TABLE_CAT")
        return pa.Table.from_arrays([names], schema=CATALOG_COLUMNS)
    if command.kind == SCHEMAS:
        rows = metadata.schemas(catalog, command.like)
        if catalog is None:
            return pa.Table.from_arrays([rows["TABLE_SCHEM"], rows["TABLE_CATALOG"]],
                                        schema=ALL_CATALOGS_SCHEMA_COLUMNS)
        return pa.Table.from_arrays([rows["TABLE_SCHEM"]], schema=SCHEMA_COLUMNS)
    if command.kind == TABLES:
        rows = metadata.tables(catalog, command.schema, command.like, None)
        n = rows.num_rows
        return pa.Table.from_arrays([rows["TABLE_SCHEM"], rows["TABLE_NAME"], pa.array([False] * n, pa.bool_()),
                                     pa.nulls(n, _S), rows["TABLE_CAT"], rows["TABLE_TYPE"], rows["REMARKS"]],
                                    schema=TABLE_COLUMNS)
    rows = metadata.columns(catalog, command.schema, command.table, command.like)
    nullable = pc.if_else(pc.equal(rows["NULLABLE"], 1), "true", "false")
    generated = pa.array(["NO"] * rows.num_rows, _S)  # Delta generated columns are not made here
    return pa.Table.from_arrays([rows["COLUMN_NAME"], rows["TABLE_CAT"], rows["TABLE_SCHEM"], rows["TABLE_NAME"],
                                 rows["TYPE_NAME"], rows["COLUMN_SIZE"], rows["DECIMAL_DIGITS"], rows["NUM_PREC_RADIX"],
                                 nullable, rows["REMARKS"], rows["ORDINAL_POSITION"], rows["IS_AUTO_INCREMENT"],
                                 generated], schema=COLUMN_COLUMNS)


def _known_catalog(name: str | None, metadata: Metadata) -> str | None:
    """The catalog a statement names, as the catalog rows spell it; an unknown one is an error naming it."""
    if name is None:
        return None
    known = {c.lower() for c in metadata.catalogs().column("TABLE_CAT").to_pylist()} | set(CATALOG_ALIASES)
    if name.lower() not in known:
        raise ShowMetadataError(NO_SUCH_CATALOG, f"{unknown_catalog(name)} IN ALL CATALOGS reads every catalog.")
    return name.lower()


def producer(statement: str, metadata: Metadata) -> Callable[[], pa.Table] | None:
    """What answers ``statement`` when it is one of these SHOW statements (it raises the statement's error), or
    None when the engine should run it."""
    try:
        command = parse(statement)
    except ShowMetadataError as exc:
        error = exc

        def fail() -> pa.Table:
            raise error

        return fail
    if command is None:
        return None
    return lambda: answer(command, metadata)
