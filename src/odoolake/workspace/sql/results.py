"""Spark results as the Statement Execution API sends them: a typed manifest and JSON_ARRAY strings."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import re
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.ipc
from pyspark.sql import types as T

from odoolake.workspace.engine import sqltext
from odoolake.workspace.sql.spark_text import (
    NON_FINITE,
    day_time_text,
    floats_as_written,
    holds_float,
    java_number_text,
    timedelta_micros,
    year_month_text,
)

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _field_name(name: str) -> str:
    """A struct field's name as type text writes it: quoted when it is not a plain identifier (``x y``, ``c:d``)."""
    return name if _PLAIN_NAME.fullmatch(name) else "`" + name.replace("`", "``") + "`"


def type_of(data_type: T.DataType) -> tuple[str, str]:
    """(type_name, type_text) of ColumnInfo for a Spark data type."""
    simple = {
        T.BooleanType: "BOOLEAN", T.ByteType: "BYTE", T.ShortType: "SHORT", T.IntegerType: "INT",
        T.LongType: "LONG", T.FloatType: "FLOAT", T.DoubleType: "DOUBLE", T.StringType: "STRING",
        T.BinaryType: "BINARY", T.DateType: "DATE", T.TimestampType: "TIMESTAMP", T.TimestampNTZType: "TIMESTAMP",
        T.NullType: "NULL",
    }
    for kind, name in simple.items():
        if isinstance(data_type, kind):
            text = {"LONG": "BIGINT", "SHORT": "SMALLINT", "BYTE": "TINYINT", "NULL": "VOID"}.get(name, name)
            if isinstance(data_type, T.TimestampNTZType):
                text = "TIMESTAMP_NTZ"
            return name, text
    if isinstance(data_type, T.DecimalType):
        return "DECIMAL", f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return "ARRAY", f"ARRAY<{type_of(data_type.elementType)[1]}>"
    if isinstance(data_type, T.MapType):
        return "MAP", f"MAP<{type_of(data_type.keyType)[1]},{type_of(data_type.valueType)[1]}>"
    if isinstance(data_type, T.StructType):  # field names as they are: only the types are keywords
        fields = ",".join(f"{_field_name(field.name)}:{type_of(field.dataType)[1]}" for field in data_type.fields)
        return "STRUCT", f"STRUCT<{fields}>"
    if isinstance(data_type, T.DayTimeIntervalType | T.YearMonthIntervalType):
        return "INTERVAL", data_type.simpleString().upper()
    return "USER_DEFINED_TYPE", data_type.simpleString().upper()


def columns(schema: T.StructType) -> list[dict[str, Any]]:
    out = []
    for position, field in enumerate(schema.fields):
        type_name, type_text = type_of(field.dataType)
        info: dict[str, Any] = {"name": field.name, "type_name": type_name, "type_text": type_text,
                                "position": position}
        if isinstance(field.dataType, T.DecimalType):
            info |= {"type_precision": field.dataType.precision, "type_scale": field.dataType.scale}
        out.append(info)
    return out


# -- intervals, read from the engine's Arrow and written as text ---------------------------------------------------------

INTERVAL_KIND = b"spark.interval"  # field metadata of a result's text column that holds intervals: which kind
DAY_TIME, YEAR_MONTH = b"day_time", b"year_month"


def _months_readable(kind: pa.DataType) -> pa.DataType:
    """The type with every month interval (which pyarrow cannot read in Python) as the int32 it is stored as."""
    if kind.id == pa.lib.Type_INTERVAL_MONTHS:
        return pa.int32()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = kind.value_field.with_type(_months_readable(kind.value_type))
        return pa.list_(item) if pa.types.is_list(kind) else pa.large_list(item)
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_months_readable(field.type)) for field in kind])
    if pa.types.is_map(kind):
        return pa.map_(kind.key_field.with_type(_months_readable(kind.key_type)),
                       kind.item_field.with_type(_months_readable(kind.item_type)))
    return kind


def _intervals_as_text(table: pa.Table) -> pa.Table:
    """The engine's answer with each interval column as the text Spark's results hold (marked with its kind in the
    field's metadata), month intervals anywhere made readable as month counts."""
    readable = pa.schema([field.with_type(_months_readable(field.type)) for field in table.schema],
                         metadata=table.schema.metadata)
    months = {i for i, field in enumerate(table.schema) if field.type.id == pa.lib.Type_INTERVAL_MONTHS}
    if not months and readable == table.schema and not any(pa.types.is_duration(f.type) for f in table.schema):
        return table
    if readable != table.schema:  # the same bytes read with int32 where a month interval was
        batches = [pa.ipc.read_record_batch(batch.serialize(), readable) for batch in table.to_batches()]
        table = pa.Table.from_batches(batches, readable)
    columns, fields = [], []
    for i, (field, column) in enumerate(zip(table.schema, table.columns, strict=True)):  # by position: names repeat
        if i in months or pa.types.is_duration(field.type):
            day_time = pa.types.is_duration(field.type)
            text = day_time_text if day_time else year_month_text
            values = column.cast(pa.duration("us")).cast(pa.int64()) if day_time else column
            column = pa.array([None if v is None else text(v) for v in values.to_pylist()], pa.string())
            field = pa.field(field.name, pa.string(), field.nullable,
                             {INTERVAL_KIND: DAY_TIME if day_time else YEAR_MONTH})
        columns.append(column)
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _intervals_read_as_text(schema: T.StructType) -> T.StructType:
    """The schema the rows are read with once :func:`_intervals_as_text` made each interval column text (a month
    interval inside an array, map or struct is read as its number of months)."""
    def nested(kind: T.DataType) -> T.DataType:
        if isinstance(kind, T.YearMonthIntervalType):
            return T.IntegerType()
        if isinstance(kind, T.ArrayType):
            return T.ArrayType(nested(kind.elementType), kind.containsNull)
        if isinstance(kind, T.MapType):
            return T.MapType(nested(kind.keyType), nested(kind.valueType), kind.valueContainsNull)
        if isinstance(kind, T.StructType):
            return T.StructType([T.StructField(f.name, nested(f.dataType), f.nullable, f.metadata) for f in kind])
        return kind

    return T.StructType([
        T.StructField(f.name, T.StringType() if isinstance(f.dataType, T.DayTimeIntervalType | T.YearMonthIntervalType)
                      else nested(f.dataType), f.nullable, f.metadata) for f in schema.fields])


# -- JSON_ARRAY cells --------------------------------------------------------------------------------------------------

def json_text(value: Any) -> str:
    """A nested value as Spark's ``to_json`` writes it: compact, text as it is, numbers as Spark writes them
    (``1.0E10``, decimals unquoted), NaN and the infinities as strings (JSON has none), a struct an object with its
    field names, a map an object whose keys are their cells (``true``, ``1.5``, ``{"k":1}``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_number_text(value) if math.isfinite(value) else f'"{NON_FINITE[repr(value)]}"'
    if isinstance(value, int | decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quoted(cell(k) or 'null')}:{json_text(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "asDict"):  # a struct (a Row, which is a tuple too)
        return json_text(value.asDict())
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    text = cell(value)
    return "null" if text is None else _quoted(text)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def cell(value: Any) -> str | None:
    """One JSON_ARRAY cell: every value is a string, null stays null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # a day-time interval inside an array, map or struct
        return day_time_text(timedelta_micros(value))
    if isinstance(value, dt.date | decimal.Decimal | int | str):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return json_text(value)


def row_cells(rows: list, schema: T.StructType) -> list[list[str | None]]:
    """Rows as JSON_ARRAY cells, each column written as its type is (a FLOAT as the float it is, not the double
    Python reads it as)."""
    def writer(kind: T.DataType) -> Any:
        if isinstance(kind, T.FloatType):
            return lambda v: None if v is None else java_number_text(v, single=True)
        if holds_float(kind):
            return lambda v: cell(floats_as_written(v, kind))
        return cell

    writers = [writer(field.dataType) for field in schema.fields]
    return [[write(value) for write, value in zip(writers, row, strict=True)] for row in rows]


@dataclass(frozen=True)
class Parameter:
    """A statement parameter as the engine binds it: its value, and the SQL type it was sent with (None: the
    value's own type). A timestamp's value is its text, which the engine reads in the session's time zone."""

    value: Any
    sql_type: str | None = None

    def column(self) -> Any:
        from pyspark.sql.connect import functions as F

        literal = F.lit(self.value)
        return literal.cast(self.sql_type) if self.sql_type else literal


def _bound(value: Any) -> Any:
    return value.column() if isinstance(value, Parameter) else value


def statement_frame(spark: Any, statement: str, args: dict | list | None = None) -> Any:
    """A statement as a DataFrame whose rows are still to fetch, at the cost of no engine call for a query.

    ``spark.sql()`` runs the text as a command first and, for a query, gets back the same SQL relation to run again
    when the rows are fetched: a round trip (and a second pass of the engine's rules) that buys nothing for a
    query. A query (:func:`~odoolake.workspace.engine.sqltext.is_query`) becomes the DataFrame ``spark.sql()``
    builds when the engine has nothing to run first; every other statement runs now through ``spark.sql()``, as
    Spark runs commands eagerly. Errors are the same either way, raised where the rows are fetched."""
    from pyspark.sql.connect import functions as F

    positional = [F.lit(_bound(v)) for v in args] if isinstance(args, list) else []
    named = {k: F.lit(_bound(v)) for k, v in args.items()} if isinstance(args, dict) else {}
    if not sqltext.is_query(statement):
        return spark.sql(statement, args=positional or named) if args else spark.sql(statement)
    from pyspark.sql.connect.dataframe import DataFrame
    from pyspark.sql.connect.plan import SQL

    return DataFrame(SQL(statement, positional, named, []), spark)


def engine_result(df: Any) -> tuple[Any, Any]:
    """A DataFrame's Arrow table and Spark schema from its one ExecutePlan answer, which carries the schema (PySpark's
    ``toArrow()`` and ``.schema`` each ask for it in a round trip of their own)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    table, schema = df._to_table()
    schema = schema or from_arrow_schema(table.schema, prefer_timestamp_ntz=True)
    return _intervals_as_text(table), schema


def rows_and_schema(df: Any) -> tuple[list, T.StructType]:
    """A DataFrame's rows (converted by PySpark's own converter, as ``collect()`` converts them) and its Spark
    schema, from one engine call; intervals come as Spark's results write them."""
    from pyspark.sql.conversion import ArrowTableToRowsConversion

    table, schema = engine_result(df)
    return ArrowTableToRowsConversion.convert(table, _intervals_read_as_text(schema), binary_as_bytes=True), schema


def _null_elements_nullable(data_type: T.DataType) -> T.DataType:
    """The type with every null-typed array element and struct field nullable: ``array()`` is an array of void
    whose elements are never null, which Arrow cannot hold ("A null type field may not be non-nullable"), though
    it holds no element at all."""
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _null_elements_nullable(f.dataType),
                                           f.nullable or isinstance(f.dataType, T.NullType), f.metadata)
                             for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_null_elements_nullable(data_type.elementType),
                           data_type.containsNull or isinstance(data_type.elementType, T.NullType))
    if isinstance(data_type, T.MapType):  # map(): void keys, which Arrow holds only as strings (there are none)
        key = T.StringType() if isinstance(data_type.keyType, T.NullType) else data_type.keyType
        return T.MapType(_null_elements_nullable(key), _null_elements_nullable(data_type.valueType),
                         data_type.valueContainsNull or isinstance(data_type.valueType, T.NullType))
    return data_type


def arrow_and_schema(df: Any) -> tuple[Any, Any]:
    """``df.toArrow()`` and ``df.schema`` from one engine call (:func:`engine_result`), the table cast as
    ``toArrow()`` casts (UTC timestamps, duplicate struct field names refused)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    table, schema = engine_result(df)
    arrow = to_arrow_schema(cast(T.StructType, _null_elements_nullable(_intervals_read_as_text(schema))),
                            error_on_duplicated_field_names_in_struct=True, timezone="UTC")
    marked = pa.schema([field.with_metadata(table.schema.field(i).metadata or {}) for i, field in enumerate(arrow)])
    return table.cast(marked), schema
