"""The values an INSERT may write into a Delta table's column of another type.

A Delta table accepts any schema, so Spark's store-assignment check does not run on an INSERT into one: Delta casts
each column with an ANSI cast. The expected answers are Spark's ``Cast.canAnsiCast`` table worked by hand (numbers,
booleans and strings among themselves, strings into dates and timestamps, dates and timestamps among themselves, a
timestamp and a number both ways, anything into a string; not a date and a number, a boolean and a date or
timestamp, binary and anything but a string), not read back from ``store_assignment``. Sail cast everything: a DATE
into an INT column became its day number; and its own INSERT read a number written into a TIMESTAMP as microseconds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.errors import AnalysisException

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.dialect import inserted_literals
from odoolake.workspace.engine.errors import error_class_of
from odoolake.workspace.engine.store_assignment import (
    CAST_WITH_SUGGESTION,
    CAST_WITHOUT_SUGGESTION,
    ENGINE_CAST_LIMIT,
    assignable,
    implicitly_wrong,
)


def _array(element: object) -> dict:
    return {"type": "array", "elementType": element, "containsNull": True}


def _struct(*types: object) -> dict:
    return {"type": "struct", "fields": [{"name": f"f{i}", "type": t} for i, t in enumerate(types)]}


@pytest.mark.parametrize(("source", "target"), [
    ("integer", "integer"), ("long", "integer"), ("double", "decimal(18,2)"), ("decimal(38,10)", "byte"),
    ("integer", "string"), ("date", "string"), ("boolean", "string"), ("binary", "string"), (_array("date"), "string"),
    ("day_time_interval(0,0)", "string"), ("timestamp", "string"), ("date", "timestamp"), ("timestamp", "date"),
    ("timestamp_ntz", "timestamp"), ("void", "date"), ("void", _struct("integer")),
    ("string", "integer"), ("string", "date"), ("string", "boolean"), ("string", "decimal(18,2)"), ("string", "binary"),
    ("boolean", "integer"), ("integer", "boolean"), ("double", "boolean"), ("long", "timestamp"),
    ("timestamp", "long"), ("integer", "day_time_interval(0,0)"),
    (_array("integer"), _array("long")), (_struct("integer", "date"), _struct("double", "timestamp")),
    ({"type": "map", "keyType": "string", "valueType": "short"},
     {"type": "map", "keyType": "string", "valueType": "long"}),
])
def test_what_an_insert_may_store(source, target):
    assert assignable(source, target)


@pytest.mark.parametrize(("source", "target"), [
    ("date", "integer"), ("date", "decimal(18,2)"), ("integer", "date"), ("double", "date"), ("boolean", "date"),
    ("date", "boolean"), ("boolean", "timestamp"), ("timestamp", "boolean"), ("timestamp_ntz", "long"),
    ("binary", "integer"), ("integer", "binary"), ("date", "binary"),
    (_array("date"), _array("integer")), ("integer", _array("integer")), (_array("integer"), "integer"),
    (_struct("integer"), _struct("integer", "integer")), (_struct("date"), _struct("integer")),
    ({"type": "map", "keyType": "string", "valueType": "date"},
     {"type": "map", "keyType": "string", "valueType": "integer"}),
])
def test_what_an_insert_may_not_store(source, target):
    assert not assignable(source, target)


@pytest.mark.parametrize(("source", "target", "wrong"), [
    ("integer", "timestamp", True), ("decimal(10,0)", "timestamp", True), ("timestamp", "long", True),
    ("day_time_interval(0,0)", "string", True), ("date", "timestamp", False), ("string", "timestamp", False),
    ("integer", "long", False), ("timestamp", "date", False),
])
def test_the_conversions_the_engines_own_insert_gets_wrong(source, target, wrong):
    """Measured: Sail's INSERT wrote 1700000000 into a TIMESTAMP as 1970-01-01 00:28:20 (its CAST: 2023-11-14)."""
    assert implicitly_wrong(source, target) is wrong


def test_literal_rows_are_typed_from_the_text_as_spark_types_them():
    literals = inserted_literals("INSERT INTO t (a, b) VALUES (1, 'x'), (3000000000, NULL), (-2.50, DATE '2024-01-01'), "
                                 "(1.5D, TIMESTAMP '2024-01-01 10:00:00'), (10L, true), (CAST('1' AS DECIMAL(18,2)), "
                                 "upper('a'))")
    assert literals is not None and literals.columns == ("a", "b")
    assert literals.rows == (("integer", "string"), ("long", "void"), ("decimal(3,2)", "date"),
                             ("double", "timestamp"), ("long", "boolean"), ("decimal(18,2)", None))
    for other in ("INSERT INTO t SELECT 1", "INSERT INTO t BY NAME VALUES (1)", "INSERT OVERWRITE t VALUES (1)",
                  "INSERT INTO t PARTITION (p = 1) VALUES (1)", "INSERT INTO t REPLACE WHERE a = 1 VALUES (1)"):
        assert inserted_literals(other) is None, other


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    home = WorkspacePaths.from_env(tmp_path_factory.mktemp("store-assignment")).ensure()
    with LocalEngine(home) as engine:
        session = engine.session()
        session.sql("CREATE SCHEMA IF NOT EXISTS sa")
        session.sql("CREATE TABLE sa.typed (n INT, d DATE, s STRING, ts TIMESTAMP, m DECIMAL(18,2), b BOOLEAN) "
                    "USING DELTA")
        session.sql("INSERT INTO sa.typed VALUES (1, DATE '2024-01-01', 'one', NULL, 1.50, true)")
        yield session


@pytest.mark.parametrize(("statement", "error_class", "says"), [
    ("INSERT INTO sa.typed SELECT DATE '2024-02-01', NULL, NULL, NULL, NULL, NULL", CAST_WITH_SUGGESTION,
     'cannot cast "DATE" to "INT" (writing column `n` of main.sa.typed). To convert values from "DATE" to "INT", '
     "you can use the functions `UNIX_DATE` instead."),
    ("INSERT INTO sa.typed (n, d) VALUES (2, 20240201)", CAST_WITH_SUGGESTION, 'cannot cast "INT" to "DATE"'),
    ("INSERT INTO sa.typed (n, d, s, ts, m, b) VALUES (current_date(), NULL, NULL, NULL, NULL, NULL)",
     CAST_WITH_SUGGESTION, 'cannot cast "DATE" to "INT" (writing column `n`'),
    ("INSERT INTO sa.typed (b, n) VALUES (DATE '2024-01-01', 2)", CAST_WITHOUT_SUGGESTION,
     'cannot cast "DATE" to "BOOLEAN" (writing column `b`'),
    ("INSERT INTO sa.typed BY NAME SELECT current_date() AS m", CAST_WITH_SUGGESTION,
     'cannot cast "DATE" to "DECIMAL(18,2)"'),
    ("INSERT INTO sa.typed REPLACE WHERE n = 1 SELECT current_date(), NULL, NULL, NULL, NULL, NULL",
     CAST_WITH_SUGGESTION, 'cannot cast "DATE" to "INT"'),
    ("INSERT OVERWRITE sa.typed SELECT 1, NULL, NULL, NULL, NULL, X'01'", CAST_WITHOUT_SUGGESTION,
     'cannot cast "BINARY" to "BOOLEAN"'),
    ("INSERT INTO sa.typed VALUES (2, NULL, NULL, 1700000000, NULL, NULL)", ENGINE_CAST_LIMIT,
     "Writing a INT into column `ts` (TIMESTAMP) of main.sa.typed is not converted by the local engine"),
    ("INSERT INTO sa.typed (n, ts) SELECT 3, 5L", ENGINE_CAST_LIMIT, "write CAST(<value> AS TIMESTAMP) in the query"),
])
def test_a_value_delta_would_not_cast_is_refused_naming_the_column_and_nothing_is_written(spark, statement,
                                                                                           error_class, says):
    with pytest.raises(AnalysisException) as err:
        spark.sql(statement).collect()
    assert error_class_of(err.value) == error_class
    assert says in str(err.value)
    assert [tuple(r) for r in spark.sql("SELECT n, s FROM sa.typed").collect()] == [(1, "one")]


def test_values_databricks_stores_are_written(spark):
    """Numbers of any width, booleans and numbers both ways, strings (a bad one fails as it is written), dates into
    timestamps, NULL, and a number into a TIMESTAMP through an explicit CAST (seconds, as Delta converts it)."""
    spark.sql("CREATE TABLE sa.written (n INT, d DATE, s STRING, ts TIMESTAMP, m DECIMAL(18,2), b BOOLEAN) "
              "USING DELTA")
    spark.sql("INSERT INTO sa.written VALUES (2L, '2024-03-01', 5, DATE '2024-03-02', 2.5D, 'true')")
    spark.sql("INSERT INTO sa.written (m, n, b) SELECT 3, true, 0")
    spark.sql("INSERT INTO sa.written (n, ts) VALUES (4, CAST(1700000000 AS TIMESTAMP))")
    rows = sorted(tuple(r) for r in spark.table("sa.written").collect())
    assert rows[:2] == [(1, None, None, None, Decimal("3.00"), False),
                        (2, date(2024, 3, 1), "5", datetime(2024, 3, 2), Decimal("2.50"), True)]
    assert rows[2][0] == 4 and rows[2][3] == spark.sql("SELECT CAST(1700000000 AS TIMESTAMP) AS t").first().t
    assert rows[2][3].year == 2023  # seconds, not microseconds
