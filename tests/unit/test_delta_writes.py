"""Delta's write-time checks, which Sail's writer skips: the schema merge rule on appends and schema-keeping
overwrites, replaceWhere's constraint, and dynamic partition overwrite (refused rather than replace every partition).

The merge cases are Delta's ``SchemaMergingUtils.mergeSchemas`` rules worked by hand (equal types; byte, short and
int with each other but not long; NULL with anything; decimals only with the same precision and scale; nested types
field by field), not read back from ``delta_writes``."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.errors import AnalysisException, ParseException, PySparkException
from pyspark.sql import functions as F

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.delta_writes import (
    DYNAMIC_OVERWRITE,
    FAILED_TO_MERGE_FIELDS,
    REPLACE_WHERE_MISMATCH,
    MergeConflict,
    check_fields,
    option,
    renamed_to_table,
)
from odoolake.workspace.engine.errors import error_class_of


def _field(name: str, kind: object) -> dict:
    return {"name": name, "type": kind, "nullable": True, "metadata": {}}


@pytest.mark.parametrize(("table", "data"), [
    ("integer", "integer"), ("integer", "short"), ("integer", "byte"), ("short", "byte"),
    ("long", "long"), ("string", "void"), ("decimal(18,2)", "decimal(18,2)"),
    ({"type": "array", "elementType": "integer", "containsNull": True},
     {"type": "array", "elementType": "short"}),
    ({"type": "struct", "fields": [_field("a", "integer"), _field("b", "string")]},
     {"type": "struct", "fields": [{"name": "a", "type": "byte"}]}),
])
def test_types_delta_merges(table, data):
    check_fields([_field("c", table)], [{"name": "c", "type": data}])


@pytest.mark.parametrize(("table", "data", "says"), [
    ("integer", "long", "IntegerType and LongType"),
    ("long", "integer", "LongType and IntegerType"),  # no widening into long: Parquet stores them apart
    ("integer", "string", "IntegerType and StringType"),
    ("string", "integer", "StringType and IntegerType"),
    ("integer", "double", "IntegerType and DoubleType"),
    ("double", "float", "DoubleType and FloatType"),
    ("date", "timestamp", "DateType and TimestampType"),
    ("decimal(18,2)", "decimal(10,2)", "incompatible precision 18 and 10"),
    ("decimal(18,2)", "decimal(18,4)", "incompatible scale 2 and 4"),
    ("decimal(18,2)", "decimal(38,6)", "incompatible precision 18 and 38 & scale 2 and 6"),
    ({"type": "map", "keyType": "string", "valueType": "integer"},
     {"type": "map", "keyType": "string", "valueType": "string"}, "IntegerType and StringType"),
    ({"type": "struct", "fields": [_field("a", "integer")]}, {"type": "struct", "fields": [{"name": "a",
                                                                                           "type": "long"}]},
     "Failed to merge fields 'a' and 'a'"),
    ("integer", {"type": "array", "elementType": "integer"}, "IntegerType and array<int>"),
])
def test_types_delta_refuses_name_the_column_and_both_types(table, data, says):
    with pytest.raises(MergeConflict, match=r"^Failed to merge fields 'Amount' and 'amount'\.") as err:
        check_fields([_field("Amount", table)], [{"name": "amount", "type": data}])
    assert says in str(err.value)


@pytest.mark.parametrize(("table", "data"), [("byte", "integer"), ("byte", "short"), ("short", "integer"),
                                             ("void", "double")])
def test_a_merge_that_would_widen_the_column_is_refused(table, data):
    """Delta merges these into the wider type, changing the table's schema (with mergeSchema), which the engine
    cannot do: it wrote NULL for 300 into a TINYINT column."""
    with pytest.raises(MergeConflict, match="wider than the table's") as err:
        check_fields([_field("x", table)], [{"name": "x", "type": data}])
    assert err.value.error_class == "DELTA_METADATA_MISMATCH"


def test_struct_fields_must_match_in_case_and_written_columns_must_differ_beyond_it():
    table = [_field("s", {"type": "struct", "fields": [_field("a", "integer")]})]
    with pytest.raises(MergeConflict, match="The struct field 'A' is 'a' in the table"):
        check_fields(table, [{"name": "s", "type": {"type": "struct", "fields": [{"name": "A", "type": "integer"}]}}])
    with pytest.raises(MergeConflict, match="duplicate column") as err:
        check_fields([_field("id", "integer")], [{"name": "ID", "type": "integer"}, {"name": "id", "type": "integer"}])
    assert err.value.error_class == "DELTA_DUPLICATE_COLUMNS_FOUND"


def test_columns_only_one_side_has_are_not_the_merge_rules_concern():
    check_fields([_field("a", "integer"), _field("b", "string")], [{"name": "a", "type": "integer"},
                                                                    {"name": "new", "type": "double"}])


def test_names_that_differ_only_in_case_are_renamed_to_the_tables():
    table = [_field("id", "integer"), _field("Period", "string")]
    assert renamed_to_table(table, ["ID", "period", "new", "id"]) == {"ID": "id", "period": "Period"}


def test_options_are_read_case_insensitively():
    assert option({"replacewhere": "x = 1"}, "replaceWhere") == "x = 1"
    assert option({"mergeSchema": "true"}, "replaceWhere") is None


# -- through the engine, as any client writes ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    home = WorkspacePaths.from_env(tmp_path_factory.mktemp("delta-writes")).ensure()
    with LocalEngine(home) as engine:
        session = engine.session()
        session.sql("CREATE SCHEMA IF NOT EXISTS dw")
        yield session


def _rows(spark, table: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.table(table).collect())


def _deep(df, levels: int = 60):
    """The same rows through a plan deeper than upb decodes (the proxy then works on the wire)."""
    for _ in range(levels):
        df = df.withColumn("v", F.col("v") + 0)
    return df


@pytest.mark.parametrize(("schema", "row"), [
    ("id string, s string", ("x", "a")),  # Sail wrote NULL
    ("id bigint, s string", (2**40, "a")),  # Sail wrote NULL
    ("id double, s string", (2.9, "a")),  # Sail wrote 2
    ("id int, s int", (1, 5)),  # Sail wrote '5'
])
def test_an_append_of_another_type_is_refused_and_nothing_is_written(spark, schema, row):
    spark.sql("DROP TABLE IF EXISTS dw.typed")
    spark.sql("CREATE TABLE dw.typed (id INT, s STRING) USING DELTA")
    spark.sql("INSERT INTO dw.typed VALUES (1, 'kept')")
    with pytest.raises(AnalysisException, match=r"Failed to merge fields '(id|s)' and '(id|s)'") as err:
        spark.createDataFrame([row], schema).write.mode("append").saveAsTable("dw.typed")
    assert error_class_of(err.value) == FAILED_TO_MERGE_FIELDS
    with pytest.raises(AnalysisException) as v2:
        spark.createDataFrame([row], schema).writeTo("dw.typed").append()
    assert error_class_of(v2.value) == FAILED_TO_MERGE_FIELDS
    assert _rows(spark, "dw.typed") == [(1, "kept")]


def test_appends_delta_accepts_still_work_and_names_are_matched_case_insensitively(spark):
    spark.sql("DROP TABLE IF EXISTS dw.loose")
    spark.sql("CREATE TABLE dw.loose (id INT, Period STRING, v INT) USING DELTA")
    spark.createDataFrame([(1, "2024-01", 1)], "id tinyint, Period string, v smallint").write.mode("append") \
        .saveAsTable("dw.loose")
    spark.sql("SELECT 2 AS id, NULL AS Period, 2 AS v").write.mode("append").saveAsTable("dw.loose")
    spark.createDataFrame([(3, "2024-03", 3)], "ID int, period string, v int").write.mode("append") \
        .saveAsTable("dw.loose")
    _deep(spark.createDataFrame([(4, "2024-04", 4)], "ID int, PERIOD string, v int")).write.mode("append") \
        .saveAsTable("dw.loose")
    assert _rows(spark, "dw.loose") == [(1, "2024-01", 1), (2, None, 2), (3, "2024-03", 3), (4, "2024-04", 4)]
    assert spark.table("dw.loose").columns == ["id", "Period", "v"]
    with pytest.raises(AnalysisException) as err:  # and a deep plan's types are checked too
        _deep(spark.createDataFrame([("x", "2024-05", 5)], "id string, Period string, v int")).write.mode("append") \
            .saveAsTable("dw.loose")
    assert error_class_of(err.value) == FAILED_TO_MERGE_FIELDS


def test_columns_a_merge_adds_are_nullable_and_the_rows_before_read_as_null(spark, tmp_path):
    """Delta adds merged columns nullable; Sail kept a literal's NOT NULL, and every read of the table then failed
    (the rows before hold NULL there)."""
    spark.sql("DROP TABLE IF EXISTS dw.merged")
    spark.createDataFrame([(1, "a")], "id int, s string").write.saveAsTable("dw.merged")
    (spark.createDataFrame([(2, "b")], "id int, s string").withColumn("source", F.lit("crm"))
        .withColumn("tags", F.array(F.lit("x"))).withColumn("n", F.lit(5))
        .write.mode("append").option("mergeSchema", "true").saveAsTable("dw.merged"))
    assert [(f.name, f.nullable) for f in spark.table("dw.merged").schema.fields] == [
        ("id", True), ("s", True), ("source", True), ("tags", True), ("n", True)]
    assert _rows(spark, "dw.merged") == [(1, "a", None, None, None), (2, "b", "crm", ["x"], 5)]
    _deep(spark.createDataFrame([(3, "c")], "id int, s string").withColumn("v", F.lit(7))).write \
        .mode("append").option("mergeSchema", "true").saveAsTable("dw.merged")  # a plan too deep for upb
    assert spark.table("dw.merged").schema["v"].nullable
    assert spark.table("dw.merged").where("v IS NULL").count() == 2
    # the same by path, and on an overwrite that keeps the rows' schema
    path = str(tmp_path / "merged")
    spark.createDataFrame([(1,)], "id int").write.format("delta").save(path)
    spark.range(1).selectExpr("2 AS id", "'p' AS kind").write.format("delta").mode("append") \
        .option("mergeSchema", "true").save(path)
    assert sorted(map(tuple, spark.read.format("delta").load(path).collect())) == [(1, None), (2, "p")]
    assert DeltaTable(path).schema().fields[1].nullable


def test_an_overwrite_keeping_the_schema_is_checked_and_one_replacing_it_is_not(spark):
    spark.sql("DROP TABLE IF EXISTS dw.kept")
    spark.createDataFrame([(1, 1.5)], "id int, amount double").write.saveAsTable("dw.kept")
    with pytest.raises(AnalysisException) as err:
        spark.createDataFrame([(2, "x")], "id int, amount string").write.mode("overwrite").saveAsTable("dw.kept")
    assert error_class_of(err.value) == FAILED_TO_MERGE_FIELDS
    assert _rows(spark, "dw.kept") == [(1, 1.5)]
    spark.createDataFrame([(2, "x")], "id int, amount string").write.mode("overwrite") \
        .option("overwriteSchema", "true").saveAsTable("dw.kept")
    assert _rows(spark, "dw.kept") == [(2, "x")]


def _periods(spark) -> None:
    spark.sql("DROP TABLE IF EXISTS dw.periods")
    spark.sql("CREATE TABLE dw.periods (id INT, period STRING, v INT) USING DELTA PARTITIONED BY (period)")
    spark.sql("INSERT INTO dw.periods VALUES (1, '2024-01', 1), (2, '2024-03', 2), (3, '2024-09', 3)")


BEFORE = [(1, "2024-01", 1), (2, "2024-03", 2), (3, "2024-09", 3)]


def test_rows_outside_replace_where_are_refused_before_anything_is_written(spark):
    _periods(spark)
    outside = spark.createDataFrame([(8, "2024-02", 8), (9, "2024-09", 9)], "id int, period string, v int")
    with pytest.raises(AnalysisException, match=r"partial table overwrite condition or constraint "
                                                r"'period = '2024-02''") as err:
        outside.write.mode("overwrite").option("replaceWhere", "period = '2024-02'").saveAsTable("dw.periods")
    assert error_class_of(err.value) == REPLACE_WHERE_MISMATCH
    with pytest.raises(AnalysisException) as deep:
        _deep(outside).write.mode("overwrite").option("replaceWhere", "period = '2024-02'").saveAsTable("dw.periods")
    assert error_class_of(deep.value) == REPLACE_WHERE_MISMATCH
    with pytest.raises(AnalysisException) as v2:
        outside.writeTo("dw.periods").overwrite(F.expr("period = '2024-09'"))
    assert error_class_of(v2.value) == REPLACE_WHERE_MISMATCH
    no_period = spark.createDataFrame([(7, None, 7)], "id int, period string, v int")  # NULL is outside too
    with pytest.raises(AnalysisException):
        no_period.write.mode("overwrite").option("replaceWhere", "period = '2024-02'").saveAsTable("dw.periods")
    assert _rows(spark, "dw.periods") == BEFORE

    inside = spark.createDataFrame([(8, "2024-03", 8)], "id int, period string, v int")
    inside.write.mode("overwrite").option("replaceWhere", "period = '2024-03'").saveAsTable("dw.periods")
    _deep(spark.createDataFrame([(9, "2024-09", 9)], "id int, period string, v int")).write.mode("overwrite") \
        .option("replacewhere", "period >= '2024-09'").saveAsTable("dw.periods")
    assert _rows(spark, "dw.periods") == [(1, "2024-01", 1), (8, "2024-03", 8), (9, "2024-09", 9)]


def test_a_filtered_input_inside_replace_where_is_written(spark):
    """The check (on the first written column, here the condition's) raised on rows the input's own filter drops:
    the optimizer pushed a filter through it."""
    spark.sql("DROP TABLE IF EXISTS dw.by_period")
    spark.sql("CREATE TABLE dw.by_period AS SELECT * FROM VALUES ('2024-01', 1), ('2024-03', 2) AS t(period, v)")
    mixed = spark.createDataFrame([("2024-03", 8), ("2024-09", 9)], "period string, v int")
    mixed.where("period = '2024-03'").write.mode("overwrite").option("replaceWhere", "period = '2024-03'") \
        .saveAsTable("dw.by_period")
    mixed.where("v = 9").write.mode("overwrite").option("replaceWhere", "period = '2024-09'").saveAsTable("dw.by_period")
    assert _rows(spark, "dw.by_period") == [("2024-01", 1), ("2024-03", 8), ("2024-09", 9)]
    with pytest.raises(AnalysisException) as err:  # still checked: the filter lets a row outside through
        mixed.where("v > 0").write.mode("overwrite").option("replaceWhere", "period = '2024-03'") \
            .saveAsTable("dw.by_period")
    assert error_class_of(err.value) == REPLACE_WHERE_MISMATCH


def test_dynamic_partition_overwrite_replaces_only_the_partitions_the_data_holds(spark):
    """Sail replaced every partition; Delta replaces those the rows fall in (the option, or the session setting)."""
    _periods(spark)
    one_period = spark.createDataFrame([(7, "2024-01", 7)], "id int, period string, v int")
    one_period.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").saveAsTable("dw.periods")
    assert _rows(spark, "dw.periods") == [(2, "2024-03", 2), (3, "2024-09", 3), (7, "2024-01", 7)]
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "DYNAMIC")
    try:
        two = spark.createDataFrame([(8, "2024-03", 8), (9, "2024-10", 9)], "id int, period string, v int")
        two.where("id > 0").write.mode("overwrite").saveAsTable("dw.periods")
        assert _rows(spark, "dw.periods") == [(3, "2024-09", 3), (7, "2024-01", 7), (8, "2024-03", 8),
                                              (9, "2024-10", 9)]
        location = spark.sql("DESCRIBE DETAIL dw.periods").first()["location"]
        two.where("id < 0").write.format("delta").mode("overwrite").save(location)  # no rows: nothing replaced
        assert len(_rows(spark, "dw.periods")) == 4
    finally:
        spark.conf.unset("spark.sql.sources.partitionOverwriteMode")
    spark.createDataFrame([(10, "2024-10", 10)], "id int, period string, v int").writeTo("dw.periods") \
        .overwritePartitions()  # the same, with the DataFrameWriterV2
    assert _rows(spark, "dw.periods") == [(3, "2024-09", 3), (7, "2024-01", 7), (8, "2024-03", 8), (10, "2024-10", 10)]
    with pytest.raises(AnalysisException, match="not supported locally with insertInto") as err:
        one_period.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").insertInto("dw.periods")
    assert error_class_of(err.value) == DYNAMIC_OVERWRITE
    assert len(_rows(spark, "dw.periods")) == 4


def test_partitioned_by_in_create_table_partitions_the_delta_table(spark):
    _periods(spark)
    spark.sql("DROP TABLE IF EXISTS dw.ctas_periods")
    spark.sql("CREATE TABLE dw.ctas_periods USING DELTA PARTITIONED BY (period) AS SELECT 1 AS id, '2024-01' AS "
              "period")
    for table in ("periods", "ctas_periods"):  # read from the Delta log by delta-rs, not through the engine
        location = spark.sql(f"DESCRIBE DETAIL dw.{table}").first()["location"]
        assert DeltaTable(location.removeprefix("file://")).metadata().partition_columns == ["period"]
    assert _rows(spark, "dw.ctas_periods") == [(1, "2024-01")]


def test_syntax_errors_and_unknown_functions_raise_what_spark_raises(spark):
    with pytest.raises(ParseException) as parse:
        spark.sql("selec 1")
    assert error_class_of(parse.value) == "PARSE_SYNTAX_ERROR"
    with pytest.raises(AnalysisException) as routine:
        spark.sql("SELECT no_such_function(1)").collect()
    assert error_class_of(routine.value) == "UNRESOLVED_ROUTINE"
    assert isinstance(parse.value, PySparkException)


def test_a_condition_with_quotes_and_backslashes_is_checked_and_named_as_written(spark):
    spark.sql("DROP TABLE IF EXISTS dw.payees")
    spark.createDataFrame([("O'Brien", 1), ("a\\b", 2)], "name string, n int").write.saveAsTable("dw.payees")
    condition = r"name = 'O\'Brien' OR name = 'a\\b'"
    with pytest.raises(AnalysisException) as err:
        spark.createDataFrame([("Other", 3)], "name string, n int").write.mode("overwrite") \
            .option("replaceWhere", condition).saveAsTable("dw.payees")
    assert f"overwrite condition or constraint '{condition}'." in str(err.value)
    spark.createDataFrame([("O'Brien", 3), ("a\\b", 4)], "name string, n int").write.mode("overwrite") \
        .option("replaceWhere", condition).saveAsTable("dw.payees")
    assert _rows(spark, "dw.payees") == [("O'Brien", 3), ("a\\b", 4)]


def test_a_value_past_a_narrow_columns_type_is_refused_not_written_as_null(spark):
    spark.sql("DROP TABLE IF EXISTS dw.narrow")
    spark.sql("CREATE TABLE dw.narrow (x TINYINT, s STRING) USING DELTA")
    with pytest.raises(AnalysisException, match="wider than the table's") as err:
        spark.createDataFrame([(300, "a")], "x int, s string").write.mode("append").option("mergeSchema", "true") \
            .saveAsTable("dw.narrow")
    assert error_class_of(err.value) == "DELTA_METADATA_MISMATCH"
    spark.createDataFrame([(3, "a")], "x tinyint, s string").write.mode("append").saveAsTable("dw.narrow")
    assert _rows(spark, "dw.narrow") == [(3, "a")]


def test_insert_into_and_insert_overwrite_in_dynamic_mode_are_refused_too(spark):
    _periods(spark)
    one_period = spark.createDataFrame([(7, "2024-01", 7)], "id int, period string, v int")
    with pytest.raises(AnalysisException) as option_given:
        one_period.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").insertInto("dw.periods")
    assert error_class_of(option_given.value) == DYNAMIC_OVERWRITE
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    try:
        with pytest.raises(AnalysisException) as session_set:
            one_period.write.insertInto("dw.periods", overwrite=True)
        assert error_class_of(session_set.value) == DYNAMIC_OVERWRITE
        with pytest.raises(AnalysisException) as new_schema:  # explicitly asked: refused with overwriteSchema too
            one_period.write.mode("overwrite").option("overwriteSchema", "true") \
                .option("partitionOverwriteMode", "dynamic").saveAsTable("dw.periods")
        assert error_class_of(new_schema.value) == DYNAMIC_OVERWRITE
    finally:
        spark.conf.unset("spark.sql.sources.partitionOverwriteMode")
    assert _rows(spark, "dw.periods") == BEFORE


def test_insert_overwrite_in_dynamic_mode_replaces_only_the_partitions_its_rows_hold(spark):
    """How dbt-databricks' insert_overwrite strategy writes a partitioned model: the session in dynamic mode, then
    INSERT OVERWRITE TABLE t PARTITION (p) query. Delta replaces the partitions the rows fall in, and keeps the
    others; a NULL partition is one of them."""
    _periods(spark)
    spark.sql("INSERT INTO dw.periods VALUES (4, NULL, 4)")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    try:
        done = spark.sql("INSERT OVERWRITE TABLE dw.periods PARTITION (period) "
                         "SELECT * FROM VALUES (7, '2024-01', 7), (8, '2024-01', 8), (9, NULL, 9)").collect()
        assert [tuple(r) for r in done] == [(3, 3)]
        assert _rows(spark, "dw.periods") == [(2, "2024-03", 2), (3, "2024-09", 3), (7, "2024-01", 7),
                                              (8, "2024-01", 8), (9, None, 9)]
        spark.createDataFrame([(3, 30, "2024-09")], "id int, v int, period string").createOrReplaceTempView("late")
        spark.sql("INSERT OVERWRITE dw.periods BY NAME SELECT * FROM late")  # by name: the columns in another order
        assert (3, "2024-09", 30) in _rows(spark, "dw.periods") and len(_rows(spark, "dw.periods")) == 5
        spark.sql("INSERT OVERWRITE dw.periods SELECT id, period, v FROM late WHERE false")  # no partition replaced
        assert len(_rows(spark, "dw.periods")) == 5
    finally:
        spark.conf.unset("spark.sql.sources.partitionOverwriteMode")
    spark.sql("INSERT OVERWRITE dw.periods SELECT 1 AS a, '2024-01' AS b, 1 AS c")  # static mode: the whole table
    assert _rows(spark, "dw.periods") == [(1, "2024-01", 1)]


def test_insert_replace_on_replaces_the_rows_whose_columns_match_a_new_row(spark):
    """Databricks' INSERT INTO t AS t REPLACE ON (t.c <=> s.c) (query) AS s, as dbt-databricks writes its
    insert_overwrite strategy for a partitioned model: rows of the partitions the query holds are replaced."""
    _periods(spark)
    spark.sql("INSERT INTO TABLE dw.periods AS t REPLACE ON (t.period <=> s.period) "
              "(SELECT 7 AS a, '2024-03' AS b, 7 AS c UNION ALL SELECT 8, '2024-10', 8) AS s")
    assert _rows(spark, "dw.periods") == [(1, "2024-01", 1), (3, "2024-09", 3), (7, "2024-03", 7), (8, "2024-10", 8)]
    spark.sql("INSERT INTO dw.periods t REPLACE ON (s.period <=> t.period AND t.id <=> s.id) (SELECT 1, '2024-01', 10) s")
    assert _rows(spark, "dw.periods")[0] == (1, "2024-01", 10) and len(_rows(spark, "dw.periods")) == 4


def test_a_replace_where_with_a_comment_in_it_is_checked(spark):
    _periods(spark)
    rows = spark.createDataFrame([(8, "2024-03", 8)], "id int, period string, v int")
    rows.write.mode("overwrite").option("replaceWhere", "period = '2024-03' -- March only").saveAsTable("dw.periods")
    assert _rows(spark, "dw.periods") == [(1, "2024-01", 1), (3, "2024-09", 3), (8, "2024-03", 8)]


def test_insert_replace_where_replaces_the_matching_rows_by_position_and_checks_the_rest(spark):
    """Delta's ``INSERT INTO t REPLACE WHERE cond query`` (dbt-databricks' replace_where strategy): Sail cannot parse
    it; it runs as an overwrite with replaceWhere, the query's columns taken by position as an INSERT takes them."""
    _periods(spark)
    done = spark.sql("INSERT INTO dw.periods REPLACE WHERE period = '2024-03' "
                     "SELECT 20 AS a, '2024-03' AS b, 21 AS c UNION ALL SELECT 22, '2024-03', 23").collect()
    assert [tuple(r) for r in done] == [(2, 2)]
    assert done[0].__fields__ == ["num_affected_rows", "num_inserted_rows"]
    assert _rows(spark, "dw.periods") == [(1, "2024-01", 1), (3, "2024-09", 3), (20, "2024-03", 21),
                                          (22, "2024-03", 23)]
    with pytest.raises(AnalysisException) as err:  # a row outside the condition: nothing written
        spark.sql("INSERT INTO dw.periods REPLACE WHERE period = '2024-09' VALUES (9, '2024-09', 9), (8, '2024-08', 8)")
    assert error_class_of(err.value) == REPLACE_WHERE_MISMATCH
    spark.sql("INSERT INTO dw.periods REPLACE WHERE period >= '2024-09' WITH n AS (SELECT 30 AS id) "
              "SELECT id, '2024-10', id + 1 FROM n")
    assert _rows(spark, "dw.periods") == [(1, "2024-01", 1), (20, "2024-03", 21), (22, "2024-03", 23),
                                          (30, "2024-10", 31)]
    spark.createDataFrame([(40, "2024-01", 41)], "a int, b string, c int").createOrReplaceTempView("january")
    spark.sql("INSERT INTO dw.periods REPLACE WHERE period = '2024-01' TABLE january")  # as dbt-databricks writes it
    assert _rows(spark, "dw.periods") == [(20, "2024-03", 21), (22, "2024-03", 23), (30, "2024-10", 31),
                                          (40, "2024-01", 41)]


def test_replace_where_answers_the_rows_it_inserted_not_those_it_kept(spark):
    """In an unpartitioned table the replaced rows share a file with others, which the engine rewrites and counted
    as written (found by a review: 3 inserted for 1)."""
    spark.sql("DROP TABLE IF EXISTS dw.one_file")
    spark.sql("CREATE TABLE dw.one_file (a INT, b STRING) USING DELTA")
    spark.sql("INSERT INTO dw.one_file VALUES (1, 'x'), (2, 'y'), (3, 'z'), (1, 'w')")  # one file
    done = spark.sql("INSERT INTO dw.one_file REPLACE WHERE a = 1 SELECT 1 AS a, 'new' AS b").collect()
    assert [tuple(r) for r in done] == [(1, 1)]
    assert _rows(spark, "dw.one_file") == [(1, "new"), (2, "y"), (3, "z")]
    nothing = spark.sql("INSERT INTO dw.one_file REPLACE WHERE a = 2 SELECT 2, 'q' WHERE false").collect()
    assert [tuple(r) for r in nothing] == [(0, 0)] and _rows(spark, "dw.one_file") == [(1, "new"), (3, "z")]


def test_rows_replaced_by_sql_get_the_tables_types_as_an_insert_does(spark):
    spark.sql("DROP TABLE IF EXISTS dw.big")
    spark.sql("CREATE TABLE dw.big (id BIGINT, p STRING, f DOUBLE) USING DELTA PARTITIONED BY (p)")
    spark.sql("INSERT INTO dw.big VALUES (1, 'a', 1.0), (2, 'b', 2.0)")
    spark.sql("INSERT INTO dw.big REPLACE WHERE p = 'a' SELECT 5, 'a', 0.1")  # INT and DECIMAL(1,1) literals
    spark.sql("INSERT INTO dw.big BY NAME REPLACE WHERE p = 'b' SELECT 0.5 AS f, 'b' AS p, 6 AS id")
    assert _rows(spark, "dw.big") == [(5, "a", 0.1), (6, "b", 0.5)]
    assert spark.table("dw.big").dtypes == [("id", "bigint"), ("p", "string"), ("f", "double")]


def test_a_dynamic_overwrite_of_rows_that_differ_between_two_reads_is_refused(spark):
    """The rows are read twice (their partitions, then the write): an unseeded rand() or current_timestamp() could
    replace a partition with nothing. Refused by name; the table is unchanged."""
    _periods(spark)
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    try:
        for query in ("SELECT 2, p, 2 FROM VALUES ('2024-01'), ('2024-03') AS v(p) WHERE rand() < 0.5",
                      "SELECT 2, CAST(current_timestamp() AS STRING), 2"):
            with pytest.raises(AnalysisException, match=r"rand\(\)|current_timestamp\(\)") as err:
                spark.sql(f"INSERT OVERWRITE dw.periods {query}")
            assert error_class_of(err.value) == "UNSUPPORTED_FEATURE"
        stamped = spark.createDataFrame([(7, 7)], "id int, v int").withColumn("period", F.expr("string(now())"))
        with pytest.raises(AnalysisException, match=r"now\(\)"):
            stamped.select("id", "period", "v").write.mode("overwrite").saveAsTable("dw.periods")
        seeded = spark.createDataFrame([(7, "2024-01", 7)], "id int, period string, v int").where(F.rand(3) < 2)
        seeded.write.mode("overwrite").saveAsTable("dw.periods")  # PySpark's rand() carries a seed: the same twice
    finally:
        spark.conf.unset("spark.sql.sources.partitionOverwriteMode")
    assert _rows(spark, "dw.periods") == [(2, "2024-03", 2), (3, "2024-09", 3), (7, "2024-01", 7)]


def test_a_replace_where_condition_with_a_subquery_is_refused_before_it_reads_anything(spark, tmp_path):
    """Delta allows no subquery there; through one, a file outside the lake was opened (its existence and keys
    showed in the errors)."""
    _periods(spark)
    outside = tmp_path / "k.json"
    outside.write_text('{"private_key_id": "x"}\n')
    for condition in ("period IN (SELECT period FROM dw.periods)",
                      f"period IN (SELECT private_key_id FROM json.\"{outside}\")"):
        with pytest.raises(AnalysisException, match="has a subquery, which Delta does not allow") as err:
            spark.sql(f"INSERT INTO dw.periods REPLACE WHERE {condition} SELECT 1, '2024-01', 1")
        assert error_class_of(err.value) == "UNSUPPORTED_FEATURE"
    assert _rows(spark, "dw.periods") == BEFORE


def test_partition_values_without_a_plain_literal_are_replaced_too(spark):
    """NaN, and a double next to a NaN partition (a bare 0.5 is a DECIMAL literal, NaN none at all); a BINARY
    partition is refused (Sail matched none of its values, so the old rows stayed beside the new)."""
    spark.sql("DROP TABLE IF EXISTS dw.odd")
    spark.sql("CREATE TABLE dw.odd (id INT, f DOUBLE) USING DELTA PARTITIONED BY (f)")
    spark.sql("INSERT INTO dw.odd VALUES (1, double('NaN')), (2, 0.5), (3, 2.0)")
    spark.sql("DROP TABLE IF EXISTS dw.odd_bytes")
    spark.sql("CREATE TABLE dw.odd_bytes (id INT, b BINARY) USING DELTA PARTITIONED BY (b)")
    spark.sql("INSERT INTO dw.odd_bytes VALUES (1, X'0102')")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    try:
        spark.sql("INSERT OVERWRITE dw.odd SELECT 10, double('NaN')")
        spark.sql("INSERT OVERWRITE dw.odd SELECT 20, 0.5D")
        with pytest.raises(AnalysisException, match="by a BINARY column"):
            spark.sql("INSERT OVERWRITE dw.odd_bytes SELECT 2, X'0102'")
    finally:
        spark.conf.unset("spark.sql.sources.partitionOverwriteMode")
    assert sorted(r["id"] for r in spark.table("dw.odd").collect()) == [3, 10, 20]
    assert [r["id"] for r in spark.table("dw.odd_bytes").collect()] == [1]


def test_an_insert_answers_as_databricks_with_dataframe_arguments_and_keeps_its_errors_classes(spark):
    """An INSERT into a catalog table is run beside Sail (so that stopping it fences the table) and answered with
    Databricks' columns; one naming a DataFrame passed with it (``{df}``) still sees that DataFrame, and a failed one
    raises the exception PySpark raised before (Sail's, with its classes)."""
    from pyspark.errors import PythonException

    spark.sql("CREATE OR REPLACE TABLE dw.inserted (x INT NOT NULL) USING DELTA")
    done = spark.sql("INSERT INTO dw.inserted VALUES (1), (2)").collect()
    assert [tuple(row) for row in done] == [(2, 2)] and done[0].__fields__ == ["num_affected_rows", "num_inserted_rows"]
    frame = spark.createDataFrame([(7,)], "x int")
    assert spark.sql("INSERT INTO dw.inserted SELECT * FROM {frame}", frame=frame).collect()[0][0] == 1
    assert sorted(row.x for row in spark.table("dw.inserted").collect()) == [1, 2, 7]

    @F.udf("int")
    def fails(x):
        raise ValueError("no such period")

    spark.udf.register("fails_on_insert", fails)
    with pytest.raises(PythonException, match="no such period"):
        spark.sql("INSERT INTO dw.inserted SELECT fails_on_insert(1)").collect()
    with pytest.raises(AnalysisException):
        spark.sql("INSERT INTO dw.inserted VALUES (NULL)").collect()
    assert spark.table("dw.inserted").count() == 3


@pytest.mark.parametrize("statement", [
    "UPDATE dw.beside SET x = fails_beside(x)",
    "DELETE FROM dw.beside WHERE fails_beside(x) > 0",
    "MERGE INTO dw.beside USING (SELECT 1 AS x) s ON beside.x = s.x WHEN MATCHED THEN UPDATE SET x = fails_beside(s.x)",
    "INSERT INTO dw.beside REPLACE WHERE p = 'a' SELECT fails_beside(1), 'a'",
    "CREATE OR REPLACE TABLE dw.beside AS SELECT fails_beside(1) AS x, 'a' AS p",
])
def test_statements_run_beside_sail_fail_with_sails_own_exception(spark, statement):
    """DML, REPLACE WHERE and CREATE OR REPLACE … AS are run by the engine host beside the client's call; a failure
    Sail does not classify (a UDF that raises) reaches the client as Sail raised it (PythonException), as a plain
    INSERT's does — not as a bare SparkConnectGrpcException — and the table is untouched."""
    from pyspark.errors import PythonException

    spark.sql("CREATE OR REPLACE TABLE dw.beside (x INT, p STRING) USING DELTA")
    spark.sql("INSERT INTO dw.beside VALUES (1, 'a'), (2, 'b')")

    @F.udf("int")
    def fails(x):
        raise ValueError("no such period")

    spark.udf.register("fails_beside", fails)
    with pytest.raises(PythonException, match="no such period"):
        spark.sql(statement).collect()
    assert _rows(spark, "dw.beside") == [(1, "a"), (2, "b")]
    with pytest.raises(AnalysisException) as unresolved:  # a classified one keeps its Spark error class
        spark.sql(statement.replace("fails_beside(1)", "nope").replace("fails_beside(x)", "nope")
                  .replace("fails_beside(s.x)", "nope")).collect()
    # WITH_SUGGESTION where the statement reads only catalog tables (the proposal is tested in test_engine_errors)
    assert error_class_of(unresolved.value) in ("UNRESOLVED_COLUMN.WITH_SUGGESTION", "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION")


def test_a_table_a_write_makes_has_nullable_columns_as_delta_makes_them(spark, tmp_path_factory):
    """Delta writes a new table's schema (or one an overwrite replaces) with every column nullable; Sail kept the
    input's NOT NULL (constants, counts, range's id, a struct of constants) and refused every later NULL there."""
    spark.range(2).selectExpr("id", "'a' AS `in voice`", "count(*) OVER () AS n", "named_struct('k', 1) AS st",
                              "array(1) AS arr").write.saveAsTable("dw.made_by_save")
    spark.range(2).writeTo("dw.made_by_writeto").create()
    spark.sql("CREATE TABLE dw.made_by_ctas AS SELECT 1 AS x, count(*) AS n FROM range(3); -- counted")
    spark.sql("CREATE TABLE dw.made_by_commented_ctas AS\nSELECT 'a' AS `x`\n-- more columns later")
    spark.sql("CREATE OR REPLACE TABLE dw.made_by_replace AS SELECT 1 AS x")
    spark.sql("CREATE TABLE dw.made_then_replaced (x INT NOT NULL) USING DELTA")
    spark.range(2).write.mode("overwrite").option("overwriteSchema", "true").saveAsTable("dw.made_then_replaced")
    for name in ("dw.made_by_save", "dw.made_by_writeto", "dw.made_by_ctas", "dw.made_by_commented_ctas",
                 "dw.made_by_replace", "dw.made_then_replaced"):
        fields = spark.table(name).schema.fields
        assert [f.name for f in fields if not f.nullable] == [], name
        first = fields[0].name
        spark.sql(f"INSERT INTO {name} (`{first}`) VALUES (NULL)")  # the other columns NULL too
        assert spark.table(name).where(f"`{first}` IS NULL").count() == 1, name
    assert sorted((tuple(r) for r in spark.table("dw.made_by_ctas").collect()), key=str) == [(1, 3), (None, None)]
    spark.sql("CREATE TABLE dw.says_not_null (x INT NOT NULL) USING DELTA")  # a table naming its columns keeps them
    spark.sql("INSERT INTO dw.says_not_null VALUES (1)")
    assert [f.nullable for f in spark.table("dw.says_not_null").schema.fields] == [False]


def test_a_ctas_that_fails_leaves_no_table_behind_and_can_be_run_again(spark):
    """Sail registers a CTAS's table, then writes it: when the write fails (a UDF that raises, here) the name was
    left registered to an empty table, and the corrected re-run was refused as existing."""
    from pyspark.errors import PythonException

    @F.udf("int")
    def fails(x):
        raise ValueError("no such period")

    spark.udf.register("fails_in_ctas", fails)
    with pytest.raises(PythonException, match="no such period"):
        spark.sql("CREATE TABLE dw.failed_ctas AS SELECT fails_in_ctas(id) AS x FROM range(3)").collect()
    assert not spark.catalog.tableExists("dw.failed_ctas")
    spark.sql("CREATE TABLE dw.failed_ctas AS SELECT id AS x FROM range(3)")
    assert _rows(spark, "dw.failed_ctas") == [(0,), (1,), (2,)]


def test_a_ctas_commits_its_rows_as_version_0_and_a_create_with_columns_an_empty_one(spark):
    """On Databricks a CTAS is one commit, version 0, holding its rows. The catalog made an empty Delta table when
    Sail registered the CTAS's table, so its rows came at version 1 and ``VERSION AS OF 0`` answered none. A CREATE
    TABLE with columns still makes its empty version 0, which the first INSERT appends to."""
    spark.sql("CREATE TABLE dw.ctas_v0 AS SELECT id AS x FROM range(3)")
    history = spark.sql("DESCRIBE HISTORY dw.ctas_v0").collect()
    assert [h.version for h in history] == [0] and history[0].operation == "CREATE TABLE"
    assert spark.sql("SELECT count(*) FROM dw.ctas_v0 VERSION AS OF 0").first()[0] == 3
    spark.sql("CREATE TABLE dw.columns_v0 (x BIGINT)")
    spark.sql("INSERT INTO dw.columns_v0 VALUES (1)")
    assert [h.version for h in spark.sql("DESCRIBE HISTORY dw.columns_v0").collect()] == [1, 0]
    assert spark.sql("SELECT count(*) FROM dw.columns_v0 VERSION AS OF 0").first()[0] == 0


def test_a_failed_create_forgets_only_a_table_it_made(tmp_path):
    """The undo of a failed CREATE TABLE notes, once the table's lock is held, whether the name was free: a table
    another call created before then is kept, files and all."""
    from odoolake.workspace.catalog.store import CatalogStore, FullName
    from odoolake.workspace.engine.rewrite import PlanRewriter

    paths = WorkspacePaths.from_env(tmp_path).ensure()
    store = CatalogStore(paths, "tester")
    store.create_schema("main", "dw")
    name = FullName("main", "dw", "t")
    rewriter = PlanRewriter.__new__(PlanRewriter)
    rewriter.catalog = store
    location = str(store.new_table_location(name))

    note, undo = rewriter._undo_of_create(name, location)
    store.create_table(name, None, columns=[{"name": "x", "type_name": "INT", "type_text": "int", "position": 0}])
    note()  # another call's table: registered, with its Delta log
    undo()
    assert store.find(name) is not None and Path(location, "_delta_log").is_dir()

    store.delete_table(name)
    note, undo = rewriter._undo_of_create(name, location)
    note()  # free: this call's CREATE registers it, then fails
    store.create_table(name, None, columns=[{"name": "x", "type_name": "INT", "type_text": "int", "position": 0}])
    undo()
    assert store.find(name) is None and not Path(location).exists()


def test_insert_with_a_partition_clause_writes_as_spark_writes_a_delta_table(spark):
    """``INSERT INTO|OVERWRITE t PARTITION (…)`` (Sail: "PARTITION for write"): the query's columns go, in order, to
    the table's columns other than the static partitions (or to those listed), which take the spec's values; an
    overwrite with a static value replaces that partition's rows only, as Delta's INSERT OVERWRITE does."""
    spark.sql("CREATE TABLE dw.insert_parts (id INT, period STRING, amount INT) PARTITIONED BY (period)")
    spark.sql("INSERT INTO dw.insert_parts VALUES (1, '2026-01', 10), (2, '2026-02', 20)")
    spark.sql("INSERT OVERWRITE TABLE dw.insert_parts PARTITION (period = '2026-01') SELECT 5, 50")
    spark.sql("INSERT INTO dw.insert_parts PARTITION (period = '2026-03') VALUES (7, 70)")
    spark.sql("INSERT INTO dw.insert_parts PARTITION (period = '2026-03') (amount) VALUES (71)")
    spark.sql("INSERT OVERWRITE dw.insert_parts PARTITION (period = '2026-01') (id, amount) VALUES (8, 80), (9, 90)")
    spark.sql("INSERT INTO dw.insert_parts PARTITION (period) SELECT 11, '2026-04', 110")  # dynamic: from the query
    spark.sql("INSERT OVERWRITE dw.insert_parts PARTITION (period = NULL) VALUES (12, 120)")
    assert sorted((tuple(r) for r in spark.table("dw.insert_parts").collect()), key=str) == sorted([
        (2, "2026-02", 20), (7, "2026-03", 70), (None, "2026-03", 71), (8, "2026-01", 80), (9, "2026-01", 90),
        (11, "2026-04", 110), (12, None, 120)], key=str)
    refused = (("INSERT INTO dw.insert_parts PARTITION (id = 1) SELECT '2026-05', 1", "NON_PARTITION_COLUMN"),
               ("INSERT INTO dw.insert_parts PARTITION (period = 'x') (period) VALUES ('y')",
                "STATIC_PARTITION_COLUMN_IN_INSERT_COLUMN_LIST"),
               ("INSERT INTO dw.insert_parts PARTITION (period = 'x') VALUES (1)",
                "INSERT_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS"),
               ("INSERT OVERWRITE dw.insert_parts PARTITION (period = 'x') VALUES (1, 2, 3)",
                "INSERT_COLUMN_ARITY_MISMATCH.TOO_MANY_DATA_COLUMNS"))
    for statement, error_class in refused:
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement)
        assert error_class_of(err.value) == error_class, statement
    assert spark.table("dw.insert_parts").count() == 7  # nothing written by a refused statement
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    try:  # dynamic mode: the partitions the rows hold are replaced, a static value's too, and none for no rows
        spark.sql("INSERT OVERWRITE dw.insert_parts PARTITION (period = '2026-03') SELECT 13, 130")
        spark.sql("INSERT OVERWRITE dw.insert_parts PARTITION (period = '2026-02') SELECT 14, 140 WHERE false")
    finally:
        spark.conf.unset("spark.sql.sources.partitionOverwriteMode")
    assert sorted(tuple(r) for r in spark.sql("SELECT * FROM dw.insert_parts WHERE period = '2026-03'").collect()) == [
        (13, "2026-03", 130)]
    assert spark.table("dw.insert_parts").count() == 6


def test_a_static_partition_value_is_compared_as_the_columns_type(spark):
    """The overwrite's condition compares the column with the value cast to the column's type, as Spark does: with
    the bare literal, Sail cast the column to the literal's type and `PARTITION (p = 1)` deleted `'01'` and `' 1'`
    too. Names given twice are refused, as Spark refuses them."""
    spark.sql("CREATE TABLE dw.typed_parts (a INT, p STRING, b INT) PARTITIONED BY (p)")
    spark.sql("INSERT INTO dw.typed_parts VALUES (1, '1', 10), (2, '01', 20), (3, ' 1', 30), (4, 'x', 40)")
    spark.sql("INSERT OVERWRITE dw.typed_parts PARTITION (p = 1) SELECT 9, 90")
    assert sorted(tuple(r) for r in spark.table("dw.typed_parts").collect()) == [
        (2, "01", 20), (3, " 1", 30), (4, "x", 40), (9, "1", 90)]
    assert [tuple(r) for r in spark.sql("SHOW PARTITIONS dw.typed_parts PARTITION (p = 1)").collect()] == [("1",)]
    for statement, error_class in (
            ("INSERT INTO dw.typed_parts PARTITION (p = 'c') (a, A) SELECT 1, 2", "COLUMN_ALREADY_EXISTS"),
            ("INSERT INTO dw.typed_parts PARTITION (p = 'c', P = 'd') SELECT 1, 2", "DUPLICATE_KEY"),
            ("INSERT INTO dw.typed_parts PARTITION (p = 'c') BY NAME SELECT 1 AS a, 2 AS b", "PARSE_SYNTAX_ERROR")):
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement)
        assert error_class_of(err.value) == error_class, statement
    assert spark.table("dw.typed_parts").count() == 4


def test_an_insert_after_its_ctes_writes_as_spark_reads_it(spark):
    """``WITH c AS (…) INSERT …`` (Sail: a parse error at INSERT): Spark reads the CTEs as the INSERT's query's, so
    they are moved there, joined to the query's own WITH, with a PARTITION clause or a static overwrite too."""
    spark.sql("CREATE TABLE dw.from_ctes (a INT, p INT) PARTITIONED BY (p)")
    spark.sql("WITH c AS (SELECT 1 AS a) INSERT INTO dw.from_ctes SELECT a, 1 FROM c")
    spark.sql("WITH c AS (SELECT 2 AS a) INSERT INTO TABLE dw.from_ctes PARTITION (p = 2) SELECT * FROM c")
    spark.sql("WITH c AS (SELECT 3 AS a) INSERT OVERWRITE dw.from_ctes PARTITION (p = 1) SELECT * FROM c")
    spark.sql("WITH c AS (SELECT 4 AS a) INSERT INTO dw.from_ctes WITH d AS (SELECT 4 AS p) SELECT * FROM c, d")
    assert _rows(spark, "dw.from_ctes") == [(2, 2), (3, 1), (4, 4)]
