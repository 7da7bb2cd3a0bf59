"""Delta schemas as Unity Catalog columns: ``type_text`` (Spark's simple string), ``type_name`` (the UC enum),
``type_json`` (the Delta field), precision and scale.

The columns of a Delta table are read from its log, not stored: a ``mergeSchema`` append changes them without any
catalog call, and the log is the only place that always knows.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

# Delta primitive type → (Spark simple string, Unity Catalog type_name)
_PRIMITIVES: dict[str, tuple[str, str]] = {
    "string": ("string", "STRING"),
    "long": ("bigint", "LONG"),
    "integer": ("int", "INT"),
    "short": ("smallint", "SHORT"),
    "byte": ("tinyint", "BYTE"),
    "float": ("float", "FLOAT"),
    "double": ("double", "DOUBLE"),
    "boolean": ("boolean", "BOOLEAN"),
    "binary": ("binary", "BINARY"),
    "date": ("date", "DATE"),
    "timestamp": ("timestamp", "TIMESTAMP"),
    "timestamp_ntz": ("timestamp_ntz", "TIMESTAMP_NTZ"),
    "void": ("void", "NULL"),
    "variant": ("variant", "VARIANT"),
}
# Spark simple string → Delta primitive, for columns a client declares by type_text only.
_FROM_TEXT = {text: delta for delta, (text, _) in _PRIMITIVES.items()} | {
    "long": "long", "integer": "integer", "short": "short", "byte": "byte"}


def type_text(delta_type: Any, sql: bool = False) -> str:
    """Spark's simple string for a Delta type: ``int``, ``decimal(18,2)``, ``array<string>``, ``struct<a:int>``;
    with ``sql`` its SQL form, as ``SHOW CREATE TABLE`` writes it (``DataType.sql``): keywords upper-cased, struct
    field names kept as written (``STRUCT<tin: STRING, Nm: STRING>``), so the DDL makes the same type."""
    keyword = str.upper if sql else str
    comma, colon = (", ", ": ") if sql else (",", ":")
    if isinstance(delta_type, str):
        if _DECIMAL.match(delta_type):
            return keyword(delta_type.replace(" ", ""))
        return keyword(_PRIMITIVES.get(delta_type, (delta_type, ""))[0])
    kind = delta_type.get("type")
    if kind == "array":
        return f"{keyword('array')}<{type_text(delta_type['elementType'], sql)}>"
    if kind == "map":
        return f"{keyword('map')}<{type_text(delta_type['keyType'], sql)}{comma}{type_text(delta_type['valueType'], sql)}>"
    if kind == "struct":
        return keyword("struct") + "<" + comma.join(f"{_field_name(f['name'])}{colon}{type_text(f['type'], sql)}"
                                                    for f in delta_type["fields"]) + ">"
    raise ValueError(f"not a Delta type: {delta_type!r}")


def _field_name(name: str) -> str:
    """A struct field's name as Spark's type text writes it: back-quoted unless a plain identifier, so the text
    parses back to the same type (and a name cannot end the type early)."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else "`" + name.replace("`", "``") + "`"


def type_name(delta_type: Any) -> str:
    if isinstance(delta_type, str):
        if _DECIMAL.match(delta_type):
            return "DECIMAL"
        return _PRIMITIVES.get(delta_type, ("", "USER_DEFINED_TYPE"))[1]
    return str(delta_type.get("type", "")).upper()


def uc_columns(schema: dict, partition_columns: list[str]) -> list[dict]:
    """The ``columns`` of a table info, from a Delta schema (the parsed ``schemaString``)."""
    out = []
    for position, field in enumerate(schema.get("fields", [])):
        kind = field["type"]
        column = {
            "name": field["name"],
            "type_text": type_text(kind),
            "type_name": type_name(kind),
            "type_json": json.dumps(field, separators=(",", ":")),
            "position": position,
            "nullable": bool(field.get("nullable", True)),
        }
        comment = (field.get("metadata") or {}).get("comment")
        if comment:
            column["comment"] = comment
        decimal = _DECIMAL.match(kind) if isinstance(kind, str) else None
        if decimal:
            column["type_precision"], column["type_scale"] = int(decimal.group(1)), int(decimal.group(2))
        if field["name"] in partition_columns:
            column["partition_index"] = partition_columns.index(field["name"])
        out.append(column)
    return out


def delta_schema(columns: list[dict]) -> dict:
    """A Delta schema from declared UC columns (``type_json`` when given, else ``type_text``)."""
    fields = []
    for column in sorted(columns, key=lambda c: c.get("position", 0)):
        if column.get("type_json"):
            field = json.loads(column["type_json"])
            field.setdefault("metadata", {})
            fields.append(field)
            continue
        text = str(column.get("type_text") or column.get("type_name") or "").lower()
        delta = text if _DECIMAL.match(text) else _FROM_TEXT.get(text)
        if delta is None:
            raise ValueError(f"column {column.get('name')!r}: type {text!r} cannot be declared without type_json")
        fields.append({"name": column["name"], "type": delta, "nullable": column.get("nullable", True), "metadata": {}})
    return {"type": "struct", "fields": fields}


def partition_columns(columns: list[dict]) -> list[str]:
    """The partition columns of declared UC columns, in their ``partition_index`` order (``PARTITIONED BY``)."""
    indexed = [c for c in columns if c.get("partition_index") is not None]
    return [c["name"] for c in sorted(indexed, key=lambda c: c["partition_index"])]


@dataclass(frozen=True)
class DeltaFacts:
    version: int
    schema: dict
    partition_columns: list[str]
    properties: dict[str, str]
    created_ms: int | None


class NotLoaded(Exception):
    """The Delta log changed since it was last read, and the caller asked not to read it now."""


# A directory's mtime comes from the kernel's coarse clock (1-10 ms ticks): two commits in one tick leave the same
# mtime, so a log read between them would stand for the second too. A read that began this long after the mtime it
# saw is final for that mtime (every commit stamped with it was written before); a younger one is checked against
# the next commit's file on each use until then.
SETTLE_NS = 50_000_000


class DeltaLogReader:
    """Schema, partitioning and properties of Delta tables, re-read only when a table's log directory changes
    (its mtime moves with every commit file added), so a catalog lookup costs one ``stat``."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, DeltaFacts | None, bool]] = {}  # location → (mtime, facts, settled)
        self._lock = threading.Lock()

    def read(self, location: str, load: bool = True) -> DeltaFacts | None:
        """The table's facts; with ``load=False`` only what the cache holds for its current log, else
        :class:`NotLoaded` (so a caller on an event loop never waits for a log to be read)."""
        log = Path(location, "_delta_log")
        started = time.time_ns()
        try:
            stamp = os.stat(log).st_mtime_ns
        except OSError:
            return None
        settled = started - stamp > SETTLE_NS
        with self._lock:
            hit = self._cache.get(location)
        if hit is not None and hit[0] == stamp:
            if hit[2]:
                return hit[1]
            if hit[1] is not None and not (log / f"{hit[1].version + 1:020d}.json").exists():
                if settled:
                    with self._lock:
                        self._cache[location] = (stamp, hit[1], True)
                return hit[1]
        if not load:
            raise NotLoaded(location)
        facts = _load(location)
        with self._lock:
            self._cache[location] = (stamp, facts, settled)
        return facts

    def forget(self, location: str) -> None:
        with self._lock:
            self._cache.pop(location, None)


def _load(location: str) -> DeltaFacts | None:
    from deltalake import DeltaTable

    try:
        table = DeltaTable(location)
    except Exception:  # no commit yet, or not a Delta table: the catalog then shows declared columns
        return None
    meta = table.metadata()
    return DeltaFacts(
        version=table.version(),
        schema=json.loads(table.schema().to_json()),
        partition_columns=list(meta.partition_columns),
        properties=dict(meta.configuration),
        created_ms=meta.created_time,
    )
