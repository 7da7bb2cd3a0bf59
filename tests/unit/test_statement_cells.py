"""The Statement API's JSON_ARRAY cells and column types for nested values, as a Databricks SQL warehouse writes them:
every cell a string, a struct a JSON object with its field names, and type_text with the field names as they are."""

from __future__ import annotations

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
