"""Store assignment: which values an INSERT may write into a column of another type.

Spark's ANSI policy (``spark.sql.storeAssignmentPolicy=ANSI``, the default) lets an INSERT write a value of another
type only where the conversion is reasonable: numbers into numbers, anything atomic into a string, dates and
timestamps into each other, NULL into anything. A date or a boolean into a number, a number into a date or a
boolean, a timestamp into a number are refused before anything is written. Sail (0.7.2) casts them all: a DATE into
an INT column became the day number 19723. A STRING is the one difference: Spark refuses a string into a number, a
date or a boolean, while Databricks' type rules promote a STRING to any of them (a value that does not convert fails
when it is written, as the engine's cast fails it), so a string is let through as Databricks lets it through.
Types are Delta's forms (``delta_writes.delta_type``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from odoolake.workspace.catalog.columns import type_text

CANNOT_SAFELY_CAST = "INCOMPATIBLE_DATA_FOR_TABLE.CANNOT_SAFELY_CAST"
CANNOT_SAFELY_CAST_SQLSTATE = "KD000"

_NUMERIC = frozenset({"byte", "short", "integer", "long", "float", "double"})
_DATETIME = frozenset({"date", "timestamp", "timestamp_ntz"})
_ATOMIC = _NUMERIC | _DATETIME | frozenset({"string", "boolean", "binary"})
_DECIMAL = re.compile(r"^decimal\(\d+,\s*\d+\)$")


def _is_numeric(delta: Any) -> bool:
    return isinstance(delta, str) and (delta in _NUMERIC or bool(_DECIMAL.match(delta)))


def assignable(source: Any, target: Any) -> bool:
    """Whether a value of type ``source`` may be written into a column of type ``target`` (Spark's
    ``Cast.canANSIStoreAssign``)."""
    if source == target or source == "void":
        return True
    if isinstance(source, str) and isinstance(target, str):
        return (_is_numeric(source) and _is_numeric(target)) or \
            (target == "string" and (source in _ATOMIC or _is_numeric(source))) or \
            (source == "string" and (target in _ATOMIC or _is_numeric(target))) or \
            (source in _DATETIME and target in _DATETIME)
    if not (isinstance(source, dict) and isinstance(target, dict)) or source.get("type") != target.get("type"):
        return False
    kind = source["type"]
    if kind == "array":
        return assignable(source["elementType"], target["elementType"])
    if kind == "map":
        return assignable(source["keyType"], target["keyType"]) and \
            assignable(source["valueType"], target["valueType"])
    if kind == "struct":
        return len(source["fields"]) == len(target["fields"]) and all(
            assignable(s["type"], t["type"]) for s, t in zip(source["fields"], target["fields"], strict=True))
    return False


@dataclass(frozen=True)
class UnsafeCast:
    """The first column an INSERT cannot write: its name and both types, as Spark's message names them."""

    column: str
    source: Any
    target: Any

    def message(self, table: str) -> str:
        return (f"Cannot write incompatible data for the table {table}: Cannot safely cast `{self.column}` "
                f"\"{_sql_name(self.source)}\" to \"{_sql_name(self.target)}\". Cast the value to the column's type "
                "in the query if the conversion is meant.")


def first_unsafe(table_fields: list[dict], data_fields: list[dict], by_name: bool) -> UnsafeCast | None:
    """The first of the table's columns that the data's column written into it cannot be stored in (matched by
    position, or by name case-insensitively with ``by_name``); None when every one can. Columns without a partner
    are left to the engine, which names a count or a name that does not match."""
    if by_name:
        data = {f["name"].lower(): f for f in data_fields}
        pairs = [(f, data[f["name"].lower()]) for f in table_fields if f["name"].lower() in data]
    elif len(table_fields) == len(data_fields):
        pairs = list(zip(table_fields, data_fields, strict=True))
    else:
        return None
    for column, written in pairs:
        if not assignable(written["type"], column["type"]):
            return UnsafeCast(column["name"], written["type"], column["type"])
    return None


def first_unsafe_row(table_fields: list[dict], columns: tuple[str, ...] | None,
                     rows: tuple[tuple[Any, ...], ...]) -> UnsafeCast | None:
    """As :func:`first_unsafe` for rows of values whose types are known one by one (an INSERT's literal rows),
    written into the ``columns`` listed (case-insensitively) or into every column in order."""
    if columns is None:
        targets = table_fields
    else:
        by_name = {f["name"].lower(): f for f in table_fields}
        if any(column.lower() not in by_name for column in columns):
            return None  # the engine names the column the table lacks
        targets = [by_name[column.lower()] for column in columns]
    for row in rows:
        if len(row) != len(targets):
            return None
        for column, value in zip(targets, row, strict=True):
            if not assignable(value, column["type"]):
                return UnsafeCast(column["name"], value, column["type"])
    return None


def _sql_name(delta: Any) -> str:
    """A type as Spark's messages name it: ``INT``, ``DECIMAL(18,2)``, ``ARRAY<STRING>``."""
    if delta == "void":
        return "VOID"
    try:
        return type_text(delta).upper()
    except ValueError:
        return str(delta).upper()
