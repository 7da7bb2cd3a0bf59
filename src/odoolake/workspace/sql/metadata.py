"""The SQL connector's metadata calls (``cursor.catalogs()``, ``schemas()``, ``tables()``, ``columns()``, and the
empty primary/foreign key lists) answered from the workspace catalog, with the JDBC result columns that Databricks'
Thrift server returns.

Name arguments are patterns under one rule, :func:`pattern`, which both the Thrift calls and the SHOW statements of
:mod:`.show_metadata` use: the JDBC wildcards the connector passes (``%`` any run, ``_`` one character, ``\\`` escapes)
and the ones Databricks' SHOW commands take (``*`` any run, ``.`` one character, ``|`` between alternatives, blanks
around an alternative trimmed), matched case-insensitively against the whole name. The two sets do not clash on the
names here, which are identifiers (letters, digits, ``_``): a one-character wildcard also matches a name's own ``_``,
and no name holds ``%``, ``*``, ``.`` or ``|``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

from odoolake.workspace.catalog.store import CATALOG_ALIASES, CatalogStore, TableInfo, ViewInfo

# java.sql.Types of each Unity Catalog type_name (DATA_TYPE of getColumns).
JDBC_TYPES = {
    "BOOLEAN": 16, "BYTE": -6, "SHORT": 5, "INT": 4, "LONG": -5, "FLOAT": 6, "DOUBLE": 8, "DECIMAL": 3,
    "STRING": 12, "CHAR": 1, "BINARY": -2, "DATE": 91, "TIMESTAMP": 93, "TIMESTAMP_NTZ": 93, "ARRAY": 2003,
    "MAP": 2000, "STRUCT": 2002, "NULL": 0, "INTERVAL": 12, "VARIANT": 12,
}
TABLE_TYPES = ("TABLE", "VIEW")

_S, _I = pa.string(), pa.int32()
CATALOG_COLUMNS = pa.schema([("TABLE_CAT", _S)])
SCHEMA_COLUMNS = pa.schema([("TABLE_SCHEM", _S), ("TABLE_CATALOG", _S)])
TABLE_COLUMNS = pa.schema([(n, _S) for n in ("TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS",
                                              "TYPE_CAT", "TYPE_SCHEM", "TYPE_NAME", "SELF_REFERENCING_COL_NAME",
                                              "REF_GENERATION")])
COLUMN_COLUMNS = pa.schema([
    ("TABLE_CAT", _S), ("TABLE_SCHEM", _S), ("TABLE_NAME", _S), ("COLUMN_NAME", _S), ("DATA_TYPE", _I),
    ("TYPE_NAME", _S), ("COLUMN_SIZE", _I), ("BUFFER_LENGTH", pa.int8()), ("DECIMAL_DIGITS", _I),
    ("NUM_PREC_RADIX", _I), ("NULLABLE", _I), ("REMARKS", _S), ("COLUMN_DEF", _S), ("SQL_DATA_TYPE", _I),
    ("SQL_DATETIME_SUB", _I), ("CHAR_OCTET_LENGTH", _I), ("ORDINAL_POSITION", _I), ("IS_NULLABLE", _S),
    ("SCOPE_CATALOG", _S), ("SCOPE_SCHEMA", _S), ("SCOPE_TABLE", _S), ("SOURCE_DATA_TYPE", pa.int16()),
    ("IS_AUTO_INCREMENT", _S)])
TABLE_TYPE_COLUMNS = pa.schema([("TABLE_TYPE", _S)])
PRIMARY_KEY_COLUMNS = pa.schema([("TABLE_CAT", _S), ("TABLE_SCHEM", _S), ("TABLE_NAME", _S), ("COLUMN_NAME", _S),
                                 ("KEY_SEQ", _I), ("PK_NAME", _S)])
FOREIGN_KEY_COLUMNS = pa.schema([(n, _S) for n in ("PKTABLE_CAT", "PKTABLE_SCHEM", "PKTABLE_NAME", "PKCOLUMN_NAME",
                                                    "FKTABLE_CAT", "FKTABLE_SCHEM", "FKTABLE_NAME",
                                                    "FKCOLUMN_NAME")]
                                + [("KEY_SEQ", _I), ("UPDATE_RULE", _I), ("DELETE_RULE", _I), ("FK_NAME", _S),
                                   ("PK_NAME", _S), ("DEFERRABILITY", _I)])
# Sizes getColumns reports for fixed-width types (Spark's thrift server reports the same).
_SIZES = {"BOOLEAN": 1, "BYTE": 1, "SHORT": 2, "INT": 4, "LONG": 8, "FLOAT": 4, "DOUBLE": 8, "DATE": 4,
          "TIMESTAMP": 8, "TIMESTAMP_NTZ": 8}


def pattern(value: str | None) -> re.Pattern[str] | None:
    """A name pattern as a regular expression (None, empty, ``%`` and ``*`` match everything)."""
    if value is None or value.strip() in ("", "%", "*"):
        return None
    alternatives = _regex_parts(value, {"%": ".*", "*": ".*", "_": ".", ".": "."}, "|")
    trimmed = ["".join(_trim(part)) for part in alternatives]
    return re.compile("(?:" + "|".join(trimmed) + r")\Z", re.I)


def like_pattern(value: str | None) -> re.Pattern[str] | None:
    """A SQL ``LIKE`` pattern as a regular expression: ``%`` any text, ``_`` one character, ``\\`` escapes the
    next, everything else itself (names compared without case); None, empty and ``%`` match everything."""
    if value is None or value in ("", "%"):
        return None
    return re.compile("".join(_regex_parts(value, {"%": ".*", "_": "."}, None)[0]) + r"\Z", re.I | re.S)


def _regex_parts(value: str, wildcards: dict[str, str], separator: str | None) -> list[list[str]]:
    """``value`` as regular-expression pieces, one list per alternative (split at ``separator``): each wildcard
    character as its expression, ``\\`` escaping the next character, everything else matched as itself."""
    alternatives: list[list[str]] = []
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == separator:
            alternatives.append(out)
            out = []
        elif ch in wildcards:
            out.append(wildcards[ch])
        else:
            out.append(re.escape(ch))
    alternatives.append(out)
    return alternatives


def _trim(part: list[str]) -> list[str]:
    """An alternative without the blanks around it (``re.escape`` writes a blank as ``\\ ``)."""
    start, end = 0, len(part)
    while start < end and part[start] in (" ", "\\ "):
        start += 1
    while end > start and part[end - 1] in (" ", "\\ "):
        end -= 1
    return part[start:end]


def name_matches(regex: re.Pattern[str] | None, name: str) -> bool:
    return regex is None or regex.match(name) is not None


def _table(schema: pa.Schema, rows: Iterable[tuple]) -> pa.Table:
    by_column: list[list] = [list(c) for c in zip(*rows, strict=True)] or [[] for _ in schema]
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(by_column, schema, strict=True)],
                                schema=schema)


class Metadata:
    def __init__(self, catalog: CatalogStore) -> None:
        self.catalog = catalog

    def _catalogs(self, catalog_pattern: str | None) -> list[str]:
        if catalog_pattern and catalog_pattern.lower() in CATALOG_ALIASES[1:]:  # asked by another name of main
            return [catalog_pattern.lower()]
        regex = pattern(catalog_pattern)
        return [c["name"] for c in self.catalog.catalogs() if name_matches(regex, c["name"])]

    def _schemas(self, catalog_pattern: str | None, schema_pattern: str | None) -> list[tuple[str, str]]:
        regex = pattern(schema_pattern)
        return [(catalog, s["name"]) for catalog in self._catalogs(catalog_pattern)
                for s in self.catalog.schemas(_canonical(catalog)) if name_matches(regex, s["name"])]

    def _tables(self, catalog_pattern: str | None, schema_pattern: str | None,
                table_pattern: str | None) -> list[tuple[str, TableInfo | ViewInfo]]:
        """Tables and views (the catalog keeps both: BI tools list views as TABLE_TYPE VIEW), by schema and name."""
        regex = pattern(table_pattern)
        found: list[tuple[str, TableInfo | ViewInfo]] = []
        for catalog, schema in self._schemas(catalog_pattern, schema_pattern):
            kept: list[TableInfo | ViewInfo] = [*self.catalog.tables(_canonical(catalog), schema),
                                                *self.catalog.views(_canonical(catalog), schema)]
            found += [(catalog, t) for t in sorted(kept, key=lambda t: t.name.table) if name_matches(regex, t.name.table)]
        return found

    def catalogs(self, catalog_pattern: str | None = None) -> pa.Table:
        return _table(CATALOG_COLUMNS, [(name,) for name in self._catalogs(catalog_pattern)])

    def schemas(self, catalog_pattern: str | None, schema_pattern: str | None) -> pa.Table:
        return _table(SCHEMA_COLUMNS, [(schema, catalog) for catalog, schema in
                                       self._schemas(catalog_pattern, schema_pattern)])

    def tables(self, catalog_pattern: str | None, schema_pattern: str | None, table_pattern: str | None,
               types: list[str] | None) -> pa.Table:
        wanted = {t.upper() for t in types} if types else None
        listed = [(catalog, t, "VIEW" if isinstance(t, ViewInfo) else "TABLE")
                  for catalog, t in self._tables(catalog_pattern, schema_pattern, table_pattern)]
        rows = [(catalog, t.name.schema, t.name.table, kind, t.comment or "", None, None, None, None, None)
                for catalog, t, kind in listed if wanted is None or kind in wanted]
        return _table(TABLE_COLUMNS, rows)

    def columns(self, catalog_pattern: str | None, schema_pattern: str | None, table_pattern: str | None,
                column_pattern: str | None) -> pa.Table:
        regex = pattern(column_pattern)
        rows = []
        for catalog, t in self._tables(catalog_pattern, schema_pattern, table_pattern):
            for c in t.columns:
                if not name_matches(regex, c["name"]):
                    continue
                kind = c["type_name"]
                size = c.get("type_precision") if kind == "DECIMAL" else _SIZES.get(kind)
                nullable = bool(c.get("nullable", True))
                rows.append((catalog, t.name.schema, t.name.table, c["name"], JDBC_TYPES.get(kind, 12),
                             c["type_text"].upper(), size, None, c.get("type_scale"),
                             10 if kind in ("BYTE", "SHORT", "INT", "LONG", "DECIMAL", "FLOAT", "DOUBLE") else None,
                             1 if nullable else 0, c.get("comment") or "", None, None, None, None,
                             c["position"], "YES" if nullable else "NO", None, None, None, None, "NO"))
        return _table(COLUMN_COLUMNS, rows)

    @staticmethod
    def table_types() -> pa.Table:
        return _table(TABLE_TYPE_COLUMNS, [(t,) for t in TABLE_TYPES])

    @staticmethod
    def primary_keys() -> pa.Table:
        """Tables here declare no keys (Delta tables without constraints): an empty answer is the truth."""
        return _table(PRIMARY_KEY_COLUMNS, [])

    @staticmethod
    def foreign_keys() -> pa.Table:
        return _table(FOREIGN_KEY_COLUMNS, [])


def _canonical(catalog: str) -> str:
    return CATALOG_ALIASES[0] if catalog.lower() in CATALOG_ALIASES else catalog
