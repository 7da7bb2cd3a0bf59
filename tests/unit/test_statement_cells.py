"""The Statement API's JSON_ARRAY cells and column types for nested values, as a Databricks SQL warehouse writes them:
every cell a string, a struct a JSON object with its field names, and type_text with the field names as they are."""

from __future__ import annotations

import decimal
import json

from pyspark.sql import Row
from pyspark.sql import types as T

from odoolake.workspace.sql.results import cell, type_of


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
    assert json.loads(cell({Row(k=1): "x"})) == {'{"k": 1}': "x"}
