"""What Delta checks when a DataFrame is written to an existing table, and Sail's writer (0.7.2) does not.

- **The schema merge rule** (Delta's ``SchemaMergingUtils.mergeSchemas``, applied to an append and to an overwrite
  that keeps the schema, with or without ``mergeSchema``): a column keeps its type. Equal types merge; so do the
  integer types Parquet stores alike (byte, short, int, never long); a NULL column merges with anything; a decimal
  only with the same precision and scale; structs, arrays and maps field by field; anything else fails with
  ``DELTA_FAILED_TO_MERGE_FIELDS``. Sail instead casts: a string written to an INT column became NULL, a DOUBLE 2.9
  became 2. Columns are matched by name, case-insensitively, as Delta matches them (Sail matches case-sensitively
  and refuses ``ID`` for ``id``, so a write whose names differ only in case is renamed to the table's names).
- **replaceWhere's constraint** (``spark.databricks.delta.replaceWhere.constraintCheck.enabled``, on by default): every
  row written by an overwrite with ``replaceWhere`` must satisfy the condition, or the write fails with
  ``DELTA_REPLACE_WHERE_MISMATCH`` and nothing is committed. Sail writes the rows anyway, so a written column is
  replaced by one that raises on the first row outside the condition (``replace_where_check``).
- **Dynamic partition overwrite** (``partitionOverwriteMode=dynamic``): Delta replaces only the partitions the data
  holds; Sail replaces the whole table. Refused by name (``DYNAMIC_OVERWRITE``) rather than lose the other partitions.
"""

from __future__ import annotations

import re
from typing import Any

from odoolake.workspace.catalog.columns import type_text

FAILED_TO_MERGE_FIELDS = "DELTA_FAILED_TO_MERGE_FIELDS"
REPLACE_WHERE_MISMATCH = "DELTA_REPLACE_WHERE_MISMATCH"
DYNAMIC_OVERWRITE = "DYNAMIC_PARTITION_OVERWRITE"  # our class: Sail would replace the whole table
REPLACE_WHERE_SQLSTATE = "44000"
FAILED_TO_MERGE_SQLSTATE = "22005"
# A merge Delta would make by changing the table's schema (widening a column), which Sail cannot.
METADATA_MISMATCH, METADATA_MISMATCH_SQLSTATE = "DELTA_METADATA_MISMATCH", "42KDG"
DUPLICATE_COLUMNS, DUPLICATE_COLUMNS_SQLSTATE = "DELTA_DUPLICATE_COLUMNS_FOUND", "42711"
PARTITION_OVERWRITE_MODE = "partitionOverwriteMode"
PARTITION_OVERWRITE_MODE_CONF = "spark.sql.sources.partitionOverwriteMode"

# The integer types Parquet stores as INT32, narrowest first: Delta merges them with each other (not with long),
# into the wider of the two.
_PARQUET_INT32 = ("byte", "short", "integer")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
# Spark's names of the primitive types, as Delta's messages print them.
_SPARK_CLASS = {"string": "StringType", "long": "LongType", "integer": "IntegerType", "short": "ShortType",
                "byte": "ByteType", "float": "FloatType", "double": "DoubleType", "boolean": "BooleanType",
                "binary": "BinaryType", "date": "DateType", "timestamp": "TimestampType",
                "timestamp_ntz": "TimestampNTZType", "void": "NullType", "variant": "VariantType"}
# Spark Connect DataType kinds → Delta's primitive type names (char and varchar are stored as string).
_FROM_CONNECT = {"null": "void", "binary": "binary", "boolean": "boolean", "byte": "byte", "short": "short",
                 "integer": "integer", "long": "long", "float": "float", "double": "double", "string": "string",
                 "char": "string", "var_char": "string", "date": "date", "timestamp": "timestamp",
                 "timestamp_ntz": "timestamp_ntz", "variant": "variant"}


class MergeConflict(Exception):
    """A written column cannot merge into the table's (Delta's message, without the class)."""

    def __init__(self, message: str, error_class: str = FAILED_TO_MERGE_FIELDS,
                 sql_state: str = FAILED_TO_MERGE_SQLSTATE) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.sql_state = sql_state


def delta_type(data_type: Any) -> Any:
    """A Spark Connect ``DataType`` as the Delta log writes the type: ``"integer"``, ``"decimal(18,2)"``, or a dict
    for arrays, maps and structs. A kind Delta cannot store (intervals, UDTs) keeps its Connect name, which merges
    with nothing."""
    kind = data_type.WhichOneof("kind")
    if kind in _FROM_CONNECT:
        return _FROM_CONNECT[kind]
    if kind == "decimal":
        decimal = data_type.decimal
        precision = decimal.precision if decimal.HasField("precision") else 10
        scale = decimal.scale if decimal.HasField("scale") else 0
        return f"decimal({precision},{scale})"
    if kind == "array":
        return {"type": "array", "elementType": delta_type(data_type.array.element_type)}
    if kind == "map":
        return {"type": "map", "keyType": delta_type(data_type.map.key_type),
                "valueType": delta_type(data_type.map.value_type)}
    if kind == "struct":
        return {"type": "struct", "fields": [{"name": f.name, "type": delta_type(f.data_type)}
                                             for f in data_type.struct.fields]}
    return str(kind)


def _spark_name(delta: Any) -> str:
    if isinstance(delta, str):
        decimal = _DECIMAL.match(delta)
        if decimal:
            return f"DecimalType({decimal.group(1)},{decimal.group(2)})"
        return _SPARK_CLASS.get(delta, delta)
    try:
        return type_text(delta)
    except ValueError:
        return str(delta)


def _merge(current: Any, update: Any) -> None:
    """Raise :class:`MergeConflict` where Delta's merge of ``update`` (the data) into ``current`` (the table) fails."""
    if isinstance(current, dict) and isinstance(update, dict) and current.get("type") == update.get("type"):
        kind = current["type"]
        if kind == "struct":
            check_fields(current["fields"], update["fields"], nested=True)
        elif kind == "array":
            _merge(current["elementType"], update["elementType"])
        elif kind == "map":
            _merge(current["keyType"], update["keyType"])
            _merge(current["valueType"], update["valueType"])
        return
    if current == update or update == "void":
        return
    if current == "void" or (current in _PARQUET_INT32 and update in _PARQUET_INT32 and
                             _PARQUET_INT32.index(update) > _PARQUET_INT32.index(current)):
        raise MergeConflict(f"The data's {_spark_name(update)} is wider than the table's {_spark_name(current)}: "
                            "Delta would change the column's type (with mergeSchema), which the local engine "
                            "cannot; it would write NULL for the values past the column's type.",
                            METADATA_MISMATCH, METADATA_MISMATCH_SQLSTATE)
    if isinstance(current, str) and isinstance(update, str):
        old, new = _DECIMAL.match(current), _DECIMAL.match(update)
        if old and new:
            differs = [f"{what} {a} and {b}" for what, a, b in (("precision", old.group(1), new.group(1)),
                                                                ("scale", old.group(2), new.group(2))) if a != b]
            raise MergeConflict(f"[DELTA_MERGE_INCOMPATIBLE_DECIMAL_TYPE] Failed to merge decimal types with "
                                f"incompatible {' & '.join(differs)}.")
        if current in _PARQUET_INT32 and update in _PARQUET_INT32:
            return
    raise MergeConflict(f"[DELTA_MERGE_INCOMPATIBLE_DATATYPE] Failed to merge incompatible data types "
                        f"{_spark_name(current)} and {_spark_name(update)}.")


def check_fields(table_fields: list[dict], data_fields: list[dict], nested: bool = False) -> None:
    """Delta's merge of the written fields into the table's, matched by name case-insensitively; a field only one
    side has is not this rule's concern (a new column needs ``mergeSchema``, a missing one is written as NULL).
    Raises :class:`MergeConflict` naming the first field that does not merge. Inside a struct (``nested``) a name
    must also match in case: only top-level columns are renamed to the table's (``renamed_to_table``), and the
    engine matches a struct's fields by their exact name (it wrote NULL for ``A`` into ``a``)."""
    by_name: dict[str, dict] = {}
    for written in data_fields:
        if by_name.setdefault(written["name"].lower(), written) is not written:
            raise MergeConflict(f"Found duplicate column(s) in the data to save: {written['name'].lower()}.",
                                DUPLICATE_COLUMNS, DUPLICATE_COLUMNS_SQLSTATE)
    for field in table_fields:
        match = by_name.get(field["name"].lower())
        if match is None:
            continue
        written = match
        if nested and written["name"] != field["name"]:
            raise MergeConflict(f"The struct field '{written['name']}' is '{field['name']}' in the table: the local "
                                "engine matches a struct's fields by their exact name; rename it.")
        try:
            _merge(field["type"], written["type"])
        except MergeConflict as conflict:
            raise MergeConflict(f"Failed to merge fields '{field['name']}' and '{written['name']}'. {conflict}",
                                conflict.error_class, conflict.sql_state) from None


def renamed_to_table(table_fields: list[dict], data_names: list[str]) -> dict[str, str]:
    """The written columns whose names differ from the table's only in case, mapped to the table's spelling."""
    table = {f["name"].lower(): f["name"] for f in table_fields}
    return {name: table[name.lower()] for name in data_names
            if name.lower() in table and table[name.lower()] != name}


def option(options: Any, key: str) -> str | None:
    """A write option by name, case-insensitively, as Spark reads options."""
    wanted = key.lower()
    return next((value for name, value in options.items() if name.lower() == wanted), None)


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def replace_where_message(condition: str) -> str:
    return f"Written data does not conform to partial table overwrite condition or constraint '{condition}'."


def replace_where_check(condition: str, column: str) -> str:
    """``column``'s value where the row satisfies ``condition``, else an error naming the condition (NULL counts as
    outside, as Delta's constraint check counts it).

    It replaces a written column rather than filtering the rows: the optimizer merges a filter with those below it
    and may evaluate the error on rows they drop (the pipeline's quarantine write failed that way), while a CASE in a
    projection evaluates its ELSE only on the rows that reach it. The CASE is also volatile (``_NOT_PUSHED``): a
    filter planned above it (by Sail's overwrite) was otherwise pushed through it into the input's own filters and
    raised on the rows they drop, so any ``where()`` before the write failed."""
    marker = f"{REPLACE_WHERE_MISMATCH}: {replace_where_message(condition)}"
    quoted = "`" + column.replace("`", "``") + "`"
    # the condition on lines of its own: a ``--`` comment in it ends with its line, not with the CASE
    return (f"CASE WHEN coalesce((\n{condition}\n), false) OR {_NOT_PUSHED} THEN {quoted} "
            f"ELSE raise_error({_sql_string(marker)}) END")


# Never true, and volatile: no filter is pushed through an expression that holds it, and none is folded away.
_NOT_PUSHED = "rand() < 0"


# A column of one random number per row, the volatile term ``as_nullable`` reads (one per row, not one per column).
NULLABLE_TERM = "__odoolake_nullable"
NULLABLE_TERM_VALUE = "rand()"


def as_nullable(column: str) -> str:
    """The column's values as a nullable column: what Delta makes of a new table's columns (``asNullable``), over an
    input that has the ``NULLABLE_TERM`` column. The CASE has no ELSE (so its type is nullable) and a condition that
    always holds but reads a volatile value: Sail folds ``nullif(c, NULL)`` back to ``c`` when ``c`` is a constant,
    and writes ``CASE … THEN NULL ELSE c END`` as NOT NULL (both measured on Sail 0.7.2); a ``rand()`` per column
    cost 9% of a 20-column write, one per row nothing measurable."""
    return f"CASE WHEN {NULLABLE_TERM} >= 0 THEN `{column.replace('`', '``')}` END"
