"""Where the embedded engine (Sail 0.7.2) answers otherwise than Spark or Databricks, pinned as it answers, each a
**partial** row of docs/compatibility.md ("Engine answers that differ from Spark"). The expected Spark answers are
in each assertion's comment. If one of these fails because the engine now answers as Spark does, the limit is
gone: update the row (found by the client audits of 2026-12-04)."""

from __future__ import annotations

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.errors import error_class_of


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    engine = LocalEngine(WorkspacePaths.from_env(tmp_path_factory.mktemp("limits-home")).ensure())
    session = engine.session()
    session.sql("CREATE SCHEMA IF NOT EXISTS limits")
    yield session
    engine.close()


def _one(spark, sql: str) -> tuple:
    return tuple(spark.sql(sql).first())


def test_functions_and_types_the_engine_answers_otherwise(spark):
    df = spark.createDataFrame([(1.0,), (None,), (float("nan"),)], "c double")
    assert [r[0] for r in df.select(F.isnan("c")).collect()] == [False, None, True]  # Spark: isnan(NULL) is false
    ints, doubles = spark.createDataFrame([(1,)], "x int"), spark.createDataFrame([(2.5,)], "x double")
    union = ints.union(doubles)
    assert union.schema.simpleString() == "struct<x:int>"  # Spark: double (the data is 1.0 and 2.5 here too)
    assert sorted(r.x for r in union.collect()) == [1.0, 2.5]
    # Spark: 2 (a value of the column, in its type); the array form answers an array
    assert _one(spark, "SELECT percentile_approx(x, 0.5), typeof(percentile_approx(x, 0.5)) "
                       "FROM VALUES (1), (2), (3), (4) AS v(x)") == (2.5, "double")
    with pytest.raises(PySparkException) as err:
        spark.sql("SELECT percentile_approx(x, array(0.5, 0.25)) FROM VALUES (1), (2) AS v(x)").collect()
    assert error_class_of(err.value) == "WRONG_NUM_ARGS.WITHOUT_SUGGESTION"
    # Spark: '1.0E10', '1.0E-5' (Java's format for a double as text)
    assert _one(spark, "SELECT cast(1e10d AS string), cast(1e-5d AS string), cast(1.5d AS string)") == \
        ("10000000000.0", "0.00001", "1.5")
    # Spark: timestamp (midnight in the session's time zone)
    assert _one(spark, "SELECT typeof(date_trunc('MONTH', DATE'2026-03-15'))") == ("timestamp_ntz",)
    assert _one(spark, "SELECT typeof(datediff(DATE'2026-01-02', DATE'2026-01-01'))") == ("bigint",)  # Spark: int
    # Spark: `(x IS NOT NULL)`, `current_database()`
    assert spark.sql("SELECT x IS NOT NULL, current_database() FROM VALUES (1) AS v(x)").columns == \
        ["is_not_null", "current_schema()"]
    # Spark: `sum(x)`, `upper(s)` (function names lower-cased), `CAST(x AS STRING)`
    assert spark.sql("SELECT SUM(x), UPPER(s) FROM VALUES (1, 'a') AS v(x, s) GROUP BY s").columns == \
        ["SUM(x)", "UPPER(s)"]
    assert spark.sql("SELECT CAST(x AS STRING) FROM VALUES (1) AS v(x)").columns == ["x"]


def test_varchar_and_char_columns_are_strings_without_their_length(spark):
    spark.sql("CREATE OR REPLACE TABLE limits.sized (s VARCHAR(5), c CHAR(3)) USING DELTA")
    spark.sql("INSERT INTO limits.sized VALUES ('abcdefghij', 'a')")  # Databricks: EXCEED_LIMIT_LENGTH (54006)
    assert _one(spark, "SELECT s, c, typeof(s) FROM limits.sized") == ("abcdefghij", "a", "string")  # no padding


@pytest.mark.parametrize("sql", [
    """SELECT raw:a FROM VALUES ('{"a": 1}') AS v(raw)""",  # Databricks' JSON path: use get_json_object(raw, '$.a')
    "SELECT * FROM range(10) TABLESAMPLE (5 ROWS)",  # use LIMIT, or TABLESAMPLE (n PERCENT)
    "DESCRIBE CATALOG main",  # use SHOW SCHEMAS
])
def test_statements_the_engine_cannot_run(spark, sql):
    with pytest.raises(PySparkException):
        spark.sql(sql).collect()


def test_sample_draws_the_same_numbers_in_every_file(spark):
    """Spark seeds each partition apart (the seed plus the partition's index); the engine draws the same sequence in
    each file, so a table of 10 equal files samples 10 copies of one draw: with replacement every count is a
    multiple of 10 (Spark: about 500 ± 22 here, any number)."""
    spark.range(1000).repartition(10).write.mode("overwrite").saveAsTable("limits.ten_files")
    table = spark.table("limits.ten_files")
    assert spark.sql("DESCRIBE DETAIL limits.ten_files").first().numFiles == 10
    assert all(table.sample(True, 0.5, seed=seed).count() % 10 == 0 for seed in range(1, 6))


def test_clustering_and_constraints_added_later(spark):
    """Liquid clustering: a CTAS's CLUSTER BY runs unclustered (clusteringColumns empty); CLUSTER BY in a column
    list and ALTER TABLE … CLUSTER BY fail. Constraints added to an existing table (ALTER COLUMN SET NOT NULL, ADD
    CONSTRAINT) fail; NOT NULL in CREATE TABLE is kept and enforced (tests/unit/test_delta_writes.py)."""
    spark.sql("CREATE OR REPLACE TABLE limits.clustered CLUSTER BY (a) AS SELECT 1 AS a, 'x' AS b")
    assert spark.sql("DESCRIBE DETAIL limits.clustered").first().clusteringColumns == []  # Databricks: ['a']
    for text in ("CREATE TABLE limits.clustered_cols (a INT) CLUSTER BY (a)",
                 "ALTER TABLE limits.clustered CLUSTER BY (b)",
                 "ALTER TABLE limits.clustered ALTER COLUMN a SET NOT NULL",
                 "ALTER TABLE limits.clustered ADD CONSTRAINT positive CHECK (a > 0)"):
        with pytest.raises(PySparkException):
            spark.sql(text).collect()
    assert spark.table("limits.clustered").collect()[0].a == 1
