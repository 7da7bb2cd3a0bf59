"""Store assignment: the values an INSERT may write into a column of another type.

The expected answers are Spark's ``Cast.canANSIStoreAssign`` table worked by hand (numbers into numbers, anything
atomic into a string, dates and timestamps into each other, NULL into anything; nothing else), with the one
difference Databricks' type rules make (a STRING is promoted to a number, a date, a boolean or binary), not read back
from ``store_assignment``. Sail cast everything: a DATE into an INT column became its day number."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.errors import AnalysisException

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.dialect import inserted_literals
from odoolake.workspace.engine.errors import error_class_of
from odoolake.workspace.engine.store_assignment import CANNOT_SAFELY_CAST, assignable


def _array(element: object) -> dict:
    return {"type": "array", "elementType": element, "containsNull": True}


def _struct(*types: object) -> dict:
    return {"type": "struct", "fields": [{"name": f"f{i}", "type": t} for i, t in enumerate(types)]}


@pytest.mark.parametrize(("source", "target"), [
    ("integer", "integer"), ("long", "integer"), ("double", "decimal(18,2)"), ("decimal(38,10)", "byte"),
    ("integer", "string"), ("date", "string"), ("boolean", "string"), ("binary", "string"),
    ("timestamp", "string"), ("date", "timestamp"), ("timestamp", "date"), ("timestamp_ntz", "timestamp"),
    ("void", "date"), ("void", _struct("integer")),
    ("string", "integer"), ("string", "date"), ("string", "boolean"), ("string", "decimal(18,2)"),
    (_array("integer"), _array("long")), (_struct("integer", "date"), _struct("double", "timestamp")),
    ({"type": "map", "keyType": "string", "valueType": "short"},
     {"type": "map", "keyType": "string", "valueType": "long"}),
])
def test_what_an_insert_may_store(source, target):
    assert assignable(source, target)


@pytest.mark.parametrize(("source", "target"), [
    ("date", "integer"), ("timestamp", "long"), ("boolean", "integer"), ("integer", "boolean"),
    ("integer", "date"), ("double", "timestamp"), ("binary", "integer"), ("date", "boolean"),
    (_array("integer"), "string"), (_array("date"), _array("integer")), ("integer", _array("integer")),
    (_struct("integer"), _struct("integer", "integer")), (_struct("date"), _struct("integer")),
    ({"type": "map", "keyType": "string", "valueType": "date"},
     {"type": "map", "keyType": "string", "valueType": "integer"}),
])
def test_what_an_insert_may_not_store(source, target):
    assert not assignable(source, target)


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


@pytest.mark.parametrize(("statement", "column", "source", "target"), [
    ("INSERT INTO sa.typed SELECT DATE '2024-02-01', NULL, NULL, NULL, NULL, NULL", "n", "DATE", "INT"),
    ("INSERT INTO sa.typed VALUES (true, NULL, NULL, NULL, NULL, NULL)", "n", "BOOLEAN", "INT"),
    ("INSERT INTO sa.typed (n, d) VALUES (2, 20240201)", "d", "INT", "DATE"),
    ("INSERT INTO sa.typed (b, n) VALUES (1, 2)", "b", "INT", "BOOLEAN"),
    ("INSERT INTO sa.typed VALUES (2, NULL, NULL, 1700000000, NULL, NULL)", "ts", "INT", "TIMESTAMP"),
    ("INSERT INTO sa.typed BY NAME SELECT current_date() AS m", "m", "DATE", "DECIMAL(18,2)"),
    ("INSERT INTO sa.typed REPLACE WHERE n = 1 SELECT current_date(), NULL, NULL, NULL, NULL, NULL", "n", "DATE",
     "INT"),
    ("INSERT OVERWRITE sa.typed SELECT 1, NULL, NULL, NULL, NULL, 0", "b", "INT", "BOOLEAN"),
])
def test_a_value_spark_would_not_store_is_refused_naming_the_column_and_nothing_is_written(spark, statement, column,
                                                                                             source, target):
    with pytest.raises(AnalysisException) as err:
        spark.sql(statement).collect()
    assert error_class_of(err.value) == CANNOT_SAFELY_CAST
    assert f'Cannot safely cast `{column}` "{source}" to "{target}"' in str(err.value)
    assert "sa.typed" in str(err.value)
    assert [tuple(r) for r in spark.sql("SELECT n, s FROM sa.typed").collect()] == [(1, "one")]


def test_values_databricks_stores_are_written(spark):
    """Numbers of any width, strings (which Databricks promotes: a bad one fails as it is written), dates into
    timestamps, NULL: written, converted to the columns' types."""
    spark.sql("CREATE TABLE sa.written (n INT, d DATE, s STRING, ts TIMESTAMP, m DECIMAL(18,2), b BOOLEAN) "
              "USING DELTA")
    spark.sql("INSERT INTO sa.written VALUES (2L, '2024-03-01', 5, DATE '2024-03-02', 2.5D, 'true')")
    spark.sql("INSERT INTO sa.written (m, n) SELECT 3, '3'")
    assert sorted(tuple(r) for r in spark.table("sa.written").collect()) == [
        (2, date(2024, 3, 1), "5", datetime(2024, 3, 2), Decimal("2.50"), True),
        (3, None, None, None, Decimal("3.00"), None)]
