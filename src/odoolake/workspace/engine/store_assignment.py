"""Which values an INSERT may write into a Delta table's column of another type.

A Delta table accepts any schema (``ACCEPT_ANY_SCHEMA``), so Spark's own store-assignment check does not run on an
INSERT into one: Delta's analysis casts each written column to the table's type with an ANSI cast, and the INSERT
is refused where that cast is (``Cast.canAnsiCast``): a DATE into a number or a number into a DATE, a BOOLEAN into a
DATE or TIMESTAMP and back, BINARY into anything but a string, a struct of another shape. Numbers, booleans, strings
(converted when written: a value that does not convert fails then), dates and timestamps among themselves, and
anything into a string are written. Sail (0.7.2) cast everything: a DATE into an INT column became the day number
19723. Types are Delta's forms (``delta_writes.delta_type``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from odoolake.workspace.catalog.columns import type_text

CAST_WITH_SUGGESTION = "DATATYPE_MISMATCH.CAST_WITH_FUNC_SUGGESTION"
CAST_WITHOUT_SUGGESTION = "DATATYPE_MISMATCH.CAST_WITHOUT_SUGGESTION"
DATATYPE_MISMATCH_SQLSTATE = "42K09"
ENGINE_CAST_LIMIT = "UNSUPPORTED_FEATURE"  # SQLSTATE 0A000: a conversion Delta makes that the engine's INSERT gets wrong

_NUMERIC = frozenset({"byte", "short", "integer", "long", "float", "double"})
_INTEGRAL = frozenset({"byte", "short", "integer", "long"})
_DATETIME = frozenset({"date", "timestamp", "timestamp_ntz"})
_INTERVALS = ("interval", "day_time_interval", "year_month_interval", "calendar_interval")
_DECIMAL = re.compile(r"^decimal\(\d+,\s*\d+\)$")
# Spark's advice where a function does what the cast would not (Cast.typeCheckFailureMessage)
_SUGGESTIONS = {("date", "numeric"): "UNIX_DATE", ("numeric", "date"): "DATE_FROM_UNIX_DATE"}


def implicitly_wrong(source: Any, target: Any) -> bool:
    """A conversion Delta makes that the engine's own INSERT gets wrong (measured against its CAST, which is right):
    a number into a TIMESTAMP read as microseconds, not seconds (1700000000 became 1970-01-01 00:28:20), a TIMESTAMP
    into a number as microseconds, an interval into a STRING in another form. An explicit CAST in the query gives
    Delta's answer."""
    return (_is_numeric(source) and target == "timestamp") or (source == "timestamp" and _is_numeric(target)) or \
        (_is_interval(source) and target == "string")


def _is_numeric(delta: Any) -> bool:
    return isinstance(delta, str) and (delta in _NUMERIC or bool(_DECIMAL.match(delta)))


def _is_interval(delta: Any) -> bool:
    return isinstance(delta, str) and delta.startswith(_INTERVALS)


def _family(delta: Any) -> str:
    return "numeric" if _is_numeric(delta) else str(delta)


def assignable(source: Any, target: Any) -> bool:
    """Whether a value of type ``source`` may be written into a column of type ``target`` (``Cast.canAnsiCast``)."""
    if source == target or source == "void" or target == "string":
        return True
    if isinstance(source, str) and isinstance(target, str):
        if source == "string":
            return target in ("binary", "boolean") or _is_numeric(target) or target in _DATETIME or \
                _is_interval(target)
        if _is_numeric(source) or source == "boolean":
            return _is_numeric(target) or target == "boolean" or (_is_numeric(source) and target == "timestamp") or \
                (source in _INTEGRAL and _is_interval(target))
        if source in _DATETIME:
            return target in _DATETIME or (source == "timestamp" and _is_numeric(target))
        if _is_interval(source):
            return target in _INTEGRAL or (_is_interval(target) and source.split("(")[0] == target.split("(")[0])
        return False
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
    engine_limit: bool = False  # Delta converts it; the engine's implicit conversion would write a wrong value

    @property
    def error_class(self) -> str:
        if self.engine_limit:
            return ENGINE_CAST_LIMIT
        return CAST_WITH_SUGGESTION if self._suggestion else CAST_WITHOUT_SUGGESTION

    @property
    def _suggestion(self) -> str | None:
        return _SUGGESTIONS.get((_family(self.source), _family(self.target)))

    def message(self, table: str) -> str:
        source, target = _sql_name(self.source), _sql_name(self.target)
        if self.engine_limit:
            return (f"Writing a {source} into column `{self.column}` ({target}) of {table} is not converted by the "
                    f"local engine as Databricks converts it (it would write a wrong value): write "
                    f"CAST(<value> AS {target}) in the query.")
        text = (f"Cannot resolve \"CAST({self.column} AS {target})\" due to data type mismatch: cannot cast "
                f"\"{source}\" to \"{target}\" (writing column `{self.column}` of {table}).")
        if self._suggestion:
            text += f" To convert values from \"{source}\" to \"{target}\", you can use the functions " \
                    f"`{self._suggestion}` instead."
        return text


def first_unsafe(table_fields: list[dict], data_fields: list[dict], by_name: bool,
                 implicit: bool = True, columns: tuple[str, ...] | None = None) -> UnsafeCast | None:
    """The first of the table's columns that the data's column written into it cannot be stored in (matched by
    position, or by name case-insensitively with ``by_name``); None when every one can. Columns without a partner
    are left to the engine, which names a count or a name that does not match."""
    listed = _listed(table_fields, columns)
    if listed is None:
        return None
    table_fields = listed
    if by_name:
        data = {f["name"].lower(): f for f in data_fields}
        pairs = [(f, data[f["name"].lower()]) for f in table_fields if f["name"].lower() in data]
    elif len(table_fields) == len(data_fields):
        pairs = list(zip(table_fields, data_fields, strict=True))
    else:
        return None
    for column, written in pairs:
        unsafe = _unsafe(column, written["type"], implicit)
        if unsafe is not None:
            return unsafe
    return None


def _unsafe(column: dict, source: Any, implicit: bool) -> UnsafeCast | None:
    """``implicit``: the engine converts the value as it writes it (a plain INSERT), not an explicit CAST."""
    if not assignable(source, column["type"]):
        return UnsafeCast(column["name"], source, column["type"])
    if implicit and implicitly_wrong(source, column["type"]):
        return UnsafeCast(column["name"], source, column["type"], engine_limit=True)
    return None


def first_unsafe_row(table_fields: list[dict], columns: tuple[str, ...] | None,
                     rows: tuple[tuple[Any, ...], ...]) -> UnsafeCast | None:
    """As :func:`first_unsafe` for rows of values whose types are known one by one (an INSERT's literal rows),
    written into the ``columns`` listed (case-insensitively) or into every column in order."""
    targets = _listed(table_fields, columns)
    if targets is None:
        return None
    for row in rows:
        if len(row) != len(targets):
            return None
        for column, value in zip(targets, row, strict=True):
            unsafe = _unsafe(column, value, implicit=True)
            if unsafe is not None:
                return unsafe
    return None


def _listed(table_fields: list[dict], columns: tuple[str, ...] | None) -> list[dict] | None:
    """The table's fields an INSERT's column list names, in its order (all of them without one); None when it names
    a column the table lacks (the engine names it)."""
    if columns is None:
        return table_fields
    by_name = {f["name"].lower(): f for f in table_fields}
    if any(column.lower() not in by_name for column in columns):
        return None
    return [by_name[column.lower()] for column in columns]


def _sql_name(delta: Any) -> str:
    """A type as Spark's messages name it: ``INT``, ``DECIMAL(18,2)``, ``ARRAY<STRING>``."""
    if delta == "void":
        return "VOID"
    try:
        return type_text(delta).upper()
    except ValueError:
        return str(delta).upper()
