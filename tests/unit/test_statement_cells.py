"""The Statement API's JSON_ARRAY cells and column types for nested values, as a Databricks SQL warehouse writes them:
every cell a string, a struct a JSON object with its field names, and type_text with the field names as they are."""

from __future__ import annotations

import decimal
import json
import re
import struct

import pytest
from pyspark.sql import Row
from pyspark.sql import types as T

from odoolake.workspace.sql.results import cell, row_cells, type_of
from odoolake.workspace.sql.spark_text import day_time_text, java_number_text, year_month_text

MICROS_PER_DAY, MICROS_PER_HOUR = 86_400_000_000, 3_600_000_000


def test_a_struct_cell_is_a_json_object_with_its_field_names():
    assert json.loads(cell(Row(a=1, b=None))) == {"a": 1, "b": None}  # a Row is a tuple too: not [1, null]
    assert json.loads(cell([Row(atc="WC158", rate=2)])) == [{"atc": "WC158", "rate": 2}]
    assert json.loads(cell({"RIM": Row(total=1)})) == {"RIM": {"total": 1}}
    assert json.loads(cell((1, 2))) == [1, 2]  # an array stays a list


def test_type_text_keeps_the_struct_field_names_and_spells_the_types():
    payee = T.StructType([T.StructField("tin", T.StringType()), T.StructField("Amount", T.DecimalType(18, 2)),
                          T.StructField("missing", T.NullType())])
    assert type_of(payee) == ("STRUCT", "STRUCT<tin:STRING,Amount:DECIMAL(18,2),missing:VOID>")
    assert type_of(T.ArrayType(payee))[1] == "ARRAY<STRUCT<tin:STRING,Amount:DECIMAL(18,2),missing:VOID>>"
    assert type_of(T.MapType(T.StringType(), T.ArrayType(T.LongType()))) == ("MAP", "MAP<STRING,ARRAY<BIGINT>>")
    assert type_of(T.ArrayType(T.TimestampNTZType())) == ("ARRAY", "ARRAY<TIMESTAMP_NTZ>")


def test_a_struct_field_name_that_is_no_plain_identifier_is_quoted_in_type_text():
    odd = T.StructType([T.StructField("x y", T.IntegerType()), T.StructField("c:d", T.IntegerType()),
                        T.StructField("a`b", T.StringType())])
    assert type_of(odd)[1] == "STRUCT<`x y`:INT,`c:d`:INT,`a``b`:STRING>"


def test_parameters_keep_their_type_when_null_and_timestamps_travel_as_iso_text():
    from odoolake.workspace.sql.results import Parameter
    from odoolake.workspace.sql.statements import parameter_value

    assert parameter_value(None, "STRING", "p") == Parameter(None, "string")  # a typed NULL, not VOID
    assert parameter_value("x", "STRING", "p") == Parameter("x", None)
    assert parameter_value(None, "VOID", "p") == Parameter(None, None)
    assert parameter_value("1.5", "DECIMAL(10, 4)", "p") == Parameter(decimal.Decimal("1.5"), "decimal(10,4)")
    # a basic-format timestamp Python reads but the engine does not: sent in the extended format it reads
    assert parameter_value("20260102T030405", "TIMESTAMP_NTZ", "p") == Parameter("2026-01-02T03:04:05", "timestamp_ntz")
    assert parameter_value("2026-01-02T03:04:05Z", "TIMESTAMP", "p") == Parameter("2026-01-02T03:04:05+00:00",
                                                                                   "timestamp")


def test_cells_are_valid_json_with_non_finite_floats_and_map_keys_as_their_cells():
    """As Spark's to_json writes them: NaN and infinities as strings (JSON has no NaN), map keys as the key's cell."""
    assert [cell(float("nan")), cell(float("inf")), cell(float("-inf")), cell(1.5)] == ["NaN", "Infinity",
                                                                                        "-Infinity", "1.5"]
    nested = cell(Row(rate=float("nan"), floor=float("-inf")))
    assert json.loads(nested) == {"rate": "NaN", "floor": "-Infinity"}  # strict JSON parses it
    assert json.loads(cell({True: 1, False: None})) == {"true": 1, "false": None}
    assert json.loads(cell({Row(k=1): "x"})) == {'{"k":1}': "x"}


def test_nested_cells_are_compact_json_with_text_as_it_is():
    """As Spark's to_json writes a nested value: no spaces, non-ASCII text as itself."""
    assert cell([Row(payee="Peñafrancia", rate=2)]) == '[{"payee":"Peñafrancia","rate":2}]'


def test_intervals_are_written_hive_style_as_spark_results_show_them():
    """Worked from Spark's own examples (make_dt_interval's documentation: ``make_dt_interval(100, 13)`` is
    ``100 13:00:00.000000000``, ``make_dt_interval(0, 0, 1, -0.1)`` is ``0 00:00:59.900000000``) and its Hive style:
    the sign once in front, nanoseconds in nine digits; a year-month interval as ``years-months``."""
    assert day_time_text(100 * MICROS_PER_DAY + 13 * MICROS_PER_HOUR) == "100 13:00:00.000000000"
    assert day_time_text(60_000_000 - 100_000) == "0 00:00:59.900000000"
    assert day_time_text(-(MICROS_PER_DAY + 2 * MICROS_PER_HOUR + 3 * 60_000_000 + 4_500_000)) == \
        "-1 02:03:04.500000000"
    assert day_time_text(1) == "0 00:00:00.000001000"
    assert day_time_text(-(2 ** 63)) == "-106751991 04:00:54.775808000"  # the one value that cannot be negated
    assert [year_month_text(m) for m in (14, -14, 3, 0, -1)] == ["1-2", "-1-2", "0-3", "0-0", "-0-1"]


def test_a_nested_day_time_interval_is_written_the_same_way():
    import datetime as dt

    assert cell([dt.timedelta(days=-2, seconds=79015, microseconds=500000)]) == '["-1 02:03:04.500000000"]'


@pytest.mark.parametrize(("value", "single", "text"), [
    (1.1, False, "1.1"), (1e10, False, "1.0E10"), (1e-4, False, "1.0E-4"), (0.001, False, "0.001"),
    (1234567.0, False, "1234567.0"), (12345678.9, False, "1.23456789E7"), (-0.5, False, "-0.5"),
    (100.0, False, "100.0"), (-0.0, False, "-0.0"), (0.0, False, "0.0"), (float("nan"), False, "NaN"),
    (float(struct.unpack("f", struct.pack("f", 1.1))[0]), True, "1.1"),
    (float(struct.unpack("f", struct.pack("f", 1e10))[0]), True, "1.0E10"),
    (float(struct.unpack("f", struct.pack("f", 16777217.0))[0]), True, "1.6777216E7"),
    (float(struct.unpack("f", struct.pack("f", 3.4028235e38))[0]), True, "3.4028235E38"),
    # the smallest subnormals: Java prints the closest of one or two digits (JDK 19+ Float/Double.toString)
    (float(struct.unpack("f", struct.pack("f", 1.4e-45))[0]), True, "1.4E-45"),
    (float(struct.unpack("f", struct.pack("f", 2.8e-45))[0]), True, "2.8E-45"),
    (float(struct.unpack("f", struct.pack("f", 9.8e-45))[0]), True, "9.8E-45"),
    (4.9e-324, False, "4.9E-324"), (2.0, False, "2.0"), (1e-5, False, "1.0E-5"),
])
def test_floating_point_is_written_as_java_writes_it(value, single, text):
    """Spark writes a DOUBLE or FLOAT as Java's Double/Float.toString: the fewest digits that read back as the
    value, plain from 10^-3 to 10^7, scientific (``1.0E10``) outside; a FLOAT as the float it is."""
    assert java_number_text(value, single=single) == text


def test_a_float_column_is_written_as_a_float_also_inside_arrays_maps_and_structs():
    def f32(x: float) -> float:
        return float(struct.unpack("f", struct.pack("f", x))[0])

    schema = T.StructType([T.StructField("f", T.FloatType()), T.StructField("d", T.DoubleType()),
                           T.StructField("fa", T.ArrayType(T.FloatType())),
                           T.StructField("st", T.StructType([T.StructField("a", T.FloatType())])),
                           T.StructField("mp", T.MapType(T.StringType(), T.FloatType()))])
    rows = [(f32(1.1), f32(1.1), [f32(2.2), None], Row(a=f32(0.1)), {"k": f32(3.3)}), (None,) * 5]
    assert row_cells(rows, schema) == [
        ["1.1", "1.100000023841858", "[2.2,null]", '{"a":0.1}', '{"k":3.3}'], [None] * 5]


@pytest.mark.parametrize(("value", "kind", "message"), [
    ("300", "TINYINT", "'300' is out of range for TINYINT (-128 to 127)"),
    ("-129", "TINYINT", "'-129' is out of range for TINYINT (-128 to 127)"),
    ("32768", "SMALLINT", "'32768' is out of range for SMALLINT (-32768 to 32767)"),
    ("2147483648", "INT", "'2147483648' is out of range for INT (-2147483648 to 2147483647)"),
    ("9223372036854775808", "BIGINT", "'9223372036854775808' is out of range for BIGINT (-9223372036854775808 to "
                                      "9223372036854775807)"),
    ("123.4", "DECIMAL(4,2)", "'123.4' does not fit DECIMAL(4,2) (at most 2 digits before the point)"),
    ("99.995", "DECIMAL(4,2)", "'99.995' does not fit DECIMAL(4,2)"),  # rounds half up to 100.00
    ("1e500", "DECIMAL", "'1e500' does not fit a DECIMAL (at most 38 digits)"),
    ("NaN", "DECIMAL(4,2)", "'NaN' is not a valid DECIMAL(4,2)"),
    ("-Infinity", "DECIMAL", "'-Infinity' is not a valid DECIMAL"),
])
def test_a_typed_parameter_outside_its_type_is_refused_naming_it(value, kind, message):
    """Bound as given, the engine failed with its own cast error ("Can't cast value 300 to type Int8")."""
    from odoolake.workspace.errors import InvalidParameterValue
    from odoolake.workspace.sql.statements import parameter_value

    with pytest.raises(InvalidParameterValue, match=r"Invalid parameters\.p: " + re.escape(message)):
        parameter_value(value, kind, "p")


@pytest.mark.parametrize("kind", ["DECIMAL(3,5)", "DECIMAL(0,0)", "DECIMAL(39,2)"])
def test_a_decimal_type_spark_cannot_hold_is_refused_naming_it(kind):
    from odoolake.workspace.errors import InvalidParameterValue
    from odoolake.workspace.sql.statements import parameter_value

    with pytest.raises(InvalidParameterValue, match=re.escape(f"Invalid parameters.p.type: {kind} is not a decimal")):
        parameter_value("5", kind, "p")


def test_a_typed_parameter_at_the_edges_of_its_type_is_bound():
    from odoolake.workspace.sql.statements import parameter_value

    assert parameter_value("127", "TINYINT", "p").value == 127
    assert parameter_value("-128", "TINYINT", "p").value == -128
    assert parameter_value("-9223372036854775808", "BIGINT", "p").value == -(2 ** 63)
    assert parameter_value("99.99", "DECIMAL(4,2)", "p").value == decimal.Decimal("99.99")
    assert parameter_value("-99.99", "DECIMAL(4,2)", "p").value == decimal.Decimal("-99.99")
    assert parameter_value("99.994", "DECIMAL(4,2)", "p").value == decimal.Decimal("99.994")  # 99.99 once held


def test_nested_numbers_intervals_and_decimals_are_written_as_spark_writes_them():
    """Inside arrays, maps and structs too: doubles as Java writes them (not Python's 1e-05 or 1e+20), decimals as
    numbers, a day-time interval map key as its text (once quoted)."""
    import datetime as dt

    assert cell([1e10, 1e-5, float("nan")]) == '[1.0E10,1.0E-5,"NaN"]'
    assert cell(Row(a=1e20, d=decimal.Decimal("1.50"))) == '{"a":1.0E20,"d":1.50}'
    assert cell({dt.timedelta(days=1): 1}) == '{"1 00:00:00.000000000":1}'


def test_the_connectors_text_json_reads_nested_values_by_their_arrow_type():
    """What a connector that does not take nested Arrow gets: floats as the FLOAT they are, an empty map an object,
    a map keyed by an array still written, and no internal field metadata."""
    import pyarrow as pa

    from odoolake.workspace.sql.thrift_service import client_table

    table = pa.table({"fs": pa.array([[1.100000023841858, None]], pa.list_(pa.float32())),
                      "empty": pa.array([[]], pa.map_(pa.string(), pa.int32())),
                      "by_array": pa.array([[([1, 2], 3)]], pa.map_(pa.list_(pa.int32()), pa.int32()))})
    table = table.replace_schema_metadata(None).cast(pa.schema([f.with_metadata({b"k": b"v"}) for f in table.schema]))
    out = client_table(table, None, arrow=True)
    assert out.to_pylist() == [{"fs": "[1.1,null]", "empty": "{}", "by_array": '{"[1,2]":3}'}]
    assert all(not field.metadata for field in out.schema)
