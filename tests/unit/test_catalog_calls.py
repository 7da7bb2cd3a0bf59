"""Calls a notebook makes on Spark's catalog and cache that the engine (Sail 0.7.2) does not serve: cache and
refresh hints answered as done once the table is known to exist, ``spark.catalog.createTable`` with a schema, and
the catalog's refusals of DROP named as Spark names them, without the engine's private address."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql.types import DecimalType, IntegerType, StringType, StructField, StructType

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.errors import error_class_of


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    home = WorkspacePaths.from_env(tmp_path_factory.mktemp("catalog-calls")).ensure()
    with LocalEngine(home) as engine:
        yield home, engine


@pytest.fixture(scope="module")
def spark(lake):
    _, engine = lake
    session = engine.session()
    session.sql("CREATE SCHEMA IF NOT EXISTS cc")
    session.sql("CREATE TABLE IF NOT EXISTS cc.ledger (id INT, amount DECIMAL(18,2)) USING DELTA")
    return session


def test_create_table_names_are_no_way_around_the_path_rule(lake, spark, tmp_path):
    """The schema a createTable call would make is answered from its fields' names and types: a name that closes
    the type text early must not turn it into a query of files outside the lake (found by a review)."""
    from pyspark.sql.connect import plan
    from pyspark.sql.connect.dataframe import DataFrame

    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.roles import Roles

    home, engine = lake
    Roles(Database(home.home / "workspace.db"), "owner@localhost").set_role("dev@example.com", "developer")
    outside = tmp_path / "outside.json"
    outside.write_text('{"topsecret_key": 1}\n')
    evil = StructType([StructField("a", StructType([StructField(
        f"b:int>) AS a, j.* FROM json.`{outside}` j --", IntegerType())]))])
    dev = engine.session("dev@example.com")
    try:
        made = DataFrame(plan.CreateTable(table_name="cc.never_made", path=None, source=None, description=None,
                                          schema=evil, options={}), session=dev)
        names = made.schema.fieldNames()
        assert names == ["a"] and "topsecret_key" not in str(made.schema)
        assert spark.catalog.tableExists("cc.never_made") is False  # asking the schema makes nothing
    finally:
        engine.stop_session(dev)


@pytest.mark.parametrize("statement", ["CACHE TABLE cc.ledger", "CACHE LAZY TABLE cc.ledger", "UNCACHE TABLE cc.ledger",
                                       "REFRESH TABLE cc.ledger", "ANALYZE TABLE cc.ledger COMPUTE STATISTICS",
                                       "ANALYZE TABLE cc.ledger COMPUTE STATISTICS FOR ALL COLUMNS", "CLEAR CACHE",
                                       "UNCACHE TABLE IF EXISTS cc.nope", "REFRESH 'dbfs:/tmp/x'"])
def test_cache_and_statistics_statements_are_accepted(spark, statement):
    assert spark.sql(statement).collect() == []


@pytest.mark.parametrize("statement", ["CACHE TABLE cc.nope", "REFRESH TABLE cc.nope",
                                       "ANALYZE TABLE cc.nope COMPUTE STATISTICS", "UNCACHE TABLE cc.nope"])
def test_they_name_a_table_that_does_not_exist(spark, statement):
    with pytest.raises(AnalysisException) as err:
        spark.sql(statement).collect()
    assert error_class_of(err.value) == "TABLE_OR_VIEW_NOT_FOUND"


def test_the_catalog_api_cache_calls_and_a_temp_view(spark):
    spark.range(3).createOrReplaceTempView("three")
    spark.sql("CACHE TABLE three")
    spark.catalog.refreshTable("cc.ledger")
    spark.catalog.cacheTable("cc.ledger")
    spark.catalog.uncacheTable("cc.ledger")
    spark.catalog.clearCache()
    assert spark.catalog.isCached("cc.ledger") is False
    with pytest.raises(AnalysisException) as err:
        spark.catalog.refreshTable("cc.nope")
    assert error_class_of(err.value) == "TABLE_OR_VIEW_NOT_FOUND"


def test_create_table_with_a_schema_makes_an_empty_delta_table(spark):
    schema = StructType([StructField("agency", StringType(), False), StructField("n", IntegerType()),
                         StructField("wht", DecimalType(18, 2))])
    made = spark.catalog.createTable("cc.remittances", schema=schema, description="by agency")
    assert made.schema.fieldNames() == ["agency", "n", "wht"]
    assert spark.table("cc.remittances").count() == 0
    spark.sql("INSERT INTO cc.remittances VALUES ('RIM', 1, 2.50)")
    described = {r.col_name: r.data_type for r in spark.sql("DESCRIBE TABLE cc.remittances").collect()}
    assert described["wht"] == "decimal(18,2)" and described["agency"] == "string"
    with pytest.raises(AnalysisException) as again:
        spark.catalog.createTable("cc.remittances", schema=schema)
    assert error_class_of(again.value) == "TABLE_OR_VIEW_ALREADY_EXISTS"
    with pytest.raises(AnalysisException, match="Delta tables"):
        spark.catalog.createTable("cc.other", schema=schema, source="parquet")
    assert spark.table("cc.remittances").collect()[0].agency == "RIM"


def test_drop_refusals_are_named_without_the_engines_address(spark):
    spark.sql("CREATE SCHEMA IF NOT EXISTS cc_full")
    spark.sql("CREATE TABLE IF NOT EXISTS cc_full.t (a INT)")
    for statement, error in (("DROP TABLE cc.nope", "TABLE_OR_VIEW_NOT_FOUND"), ("DROP SCHEMA cc_full", "SCHEMA_NOT_EMPTY"),
                             ("DROP SCHEMA nope_schema", "SCHEMA_NOT_FOUND")):
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement)
        assert error_class_of(err.value) == error, statement
        assert "127.0.0.1" not in str(err.value) and "unity-catalog" not in str(err.value)
    assert spark.table("cc_full.t").count() == 0  # nothing was dropped


def test_history_and_detail_have_deltas_types(spark):
    """As Delta answers them: maps a query can index (``operationMetrics['numOutputRows']``), timestamps, arrays."""
    spark.range(5).selectExpr("id", "'a' AS k").write.partitionBy("k").mode("overwrite").saveAsTable("cc.parts")
    spark.range(3).selectExpr("id", "'b' AS k").write.mode("append").saveAsTable("cc.parts")
    history = spark.sql("DESCRIBE HISTORY cc.parts")
    types = dict(history.dtypes)
    assert (types["timestamp"], types["operationParameters"], types["operationMetrics"], types["isBlindAppend"]) == \
        ("timestamp", "map<string,string>", "map<string,string>", "boolean")
    last = history.orderBy("version", ascending=False).first()
    assert (last.operationMetrics["numOutputRows"], last.operationParameters["mode"]) == ("3", "Append")
    detail = spark.sql("DESCRIBE DETAIL cc.parts")
    assert dict(detail.dtypes)["partitionColumns"] == "array<string>"
    row = detail.first()
    assert row.partitionColumns == ["k"] and row.numFiles == 2 and isinstance(row.properties, dict)
    assert row.lastModified == last.timestamp and row.createdAt <= row.lastModified
    assert row.name == "main.cc.parts"  # the table's name, as Databricks answers (the Delta log holds none)
    location = row.location
    assert spark.sql(f"DESCRIBE DETAIL delta.`{location}`").first().name is None  # a path names no table


@pytest.mark.parametrize(("columns", "says"), [
    ("ts TIMESTAMP, d DATE GENERATED ALWAYS AS (CAST(ts AS DATE))", "Column `d` of main.cc.computed has a GENERATED"),
    ("id BIGINT GENERATED BY DEFAULT AS IDENTITY, v STRING", "Column `id` of main.cc.computed has a GENERATED"),
    ("id INT, status STRING DEFAULT 'open'", "Column `status` of main.cc.computed has a DEFAULT value"),
])
def test_computed_identity_and_default_columns_are_refused_not_dropped(spark, columns, says):
    """Sail created these columns without their clause (a contradicting value was accepted, an INSERT naming the
    other columns failed): refused by name, and nothing is created."""
    with pytest.raises(AnalysisException, match=says) as err:
        spark.sql(f"CREATE TABLE cc.computed ({columns}) USING DELTA")
    assert error_class_of(err.value) == "UNSUPPORTED_FEATURE"
    assert spark.catalog.tableExists("cc.computed") is False


def test_the_words_in_comments_names_and_types_are_no_clause(spark):
    spark.sql("CREATE TABLE cc.words (`default` STRING COMMENT 'DEFAULT or GENERATED', s STRUCT<generated: INT>) "
              "USING DELTA")
    assert spark.table("cc.words").columns == ["default", "s"]


def test_databases_are_listed_by_their_own_names_as_databricks_lists_them(spark):
    """Sail named them ``main.cc``; Databricks (Unity Catalog) gives ``cc`` in catalog ``main``, with its comment."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS cc_notes COMMENT 'ATC notes'")
    listed = {d.name: d for d in spark.catalog.listDatabases()}
    assert {"default", "cc", "cc_notes", "information_schema"} <= set(listed)
    assert all(d.catalog == "main" for d in listed.values())
    assert listed["cc_notes"].description == "ATC notes"
    assert [d.name for d in spark.catalog.listDatabases("cc_no*")] == ["cc_notes"]
    assert [d.name for d in spark.catalog.listDatabases("default|cc_notes")] == ["cc_notes", "default"]
    assert spark.catalog.getDatabase("cc").name == "cc"
    assert spark.catalog.getDatabase("main.cc_notes").description == "ATC notes"
    with pytest.raises(AnalysisException, match="The schema `nowhere` cannot be found") as err:
        spark.catalog.getDatabase("nowhere")
    assert error_class_of(err.value) == "SCHEMA_NOT_FOUND"
    assert spark.catalog.databaseExists("cc") and not spark.catalog.databaseExists("nowhere")


def test_tables_are_listed_in_their_schema_and_managed_as_databricks_lists_them(lake, spark):
    """Sail gave every table the namespace ``[main, cc]`` and the type EXTERNAL; Databricks gives ``[cc]`` and
    MANAGED for a table created without a location. Temporary views stay as Sail lists them."""
    home, _ = lake
    spark.sql("CREATE TABLE IF NOT EXISTS cc.managed_t AS SELECT 1 AS x")
    spark.sql(f"CREATE TABLE IF NOT EXISTS cc.external_t (x INT) USING DELTA LOCATION '{home.dbfs_root}/external_t'")
    spark.sql("CREATE OR REPLACE TEMPORARY VIEW cc_view AS SELECT 1 AS x")
    listed = {t.name: t for t in spark.catalog.listTables("cc")}
    assert (listed["managed_t"].catalog, listed["managed_t"].namespace, listed["managed_t"].tableType) == \
        ("main", ["cc"], "MANAGED")
    assert (listed["external_t"].namespace, listed["external_t"].tableType) == (["cc"], "EXTERNAL")
    assert (listed["cc_view"].namespace, listed["cc_view"].tableType, listed["cc_view"].isTemporary) == \
        ([], "TEMPORARY", True)
    assert [t.name for t in spark.catalog.listTables("cc", "external*")] == ["external_t"]
    table = spark.catalog.getTable("main.cc.managed_t")
    assert (table.name, table.namespace, table.tableType, table.isTemporary) == ("managed_t", ["cc"], "MANAGED", False)
    with pytest.raises(AnalysisException) as err:
        spark.catalog.getTable("cc.no_such_table")
    assert error_class_of(err.value) == "TABLE_OR_VIEW_NOT_FOUND"
    with pytest.raises(AnalysisException):  # an error no rule names keeps the engine's exception class
        spark.catalog.listTables("a.b.c")


def test_persistent_views_are_kept_by_the_catalog_and_read_by_every_path(lake, spark):
    """Sail's catalog provider creates and reads no view ("does not support creating views"): dbt's default
    materialization and BI semantic layers failed. A view's query is kept with its table names qualified by the
    view's schema, and read wherever its name is (SQL, spark.table, views over views, another session)."""
    _, engine = lake
    spark.sql("CREATE SCHEMA IF NOT EXISTS vw")
    spark.sql("CREATE OR REPLACE TABLE vw.bills (id INT, amount DECIMAL(10,2)) USING DELTA")
    spark.sql("INSERT INTO vw.bills VALUES (1, 10.00), (2, 20.00), (3, 30.00)")
    spark.sql("USE vw")
    spark.sql("CREATE VIEW large COMMENT 'bills over 15' AS SELECT * FROM bills WHERE amount > 15")
    spark.sql("CREATE OR REPLACE VIEW vw.totals (n, total) AS SELECT count(*), sum(amount) FROM large")
    spark.sql("USE default")  # the view reads vw.bills whatever schema its reader uses
    assert sorted(r.id for r in spark.sql("SELECT id FROM vw.large").collect()) == [2, 3]
    assert [tuple(r) for r in spark.table("vw.totals").collect()] == [(2, Decimal("50.00"))]
    joined = spark.sql("SELECT b.id FROM vw.bills b JOIN vw.large l ON b.id = l.id ORDER BY 1").collect()
    assert [r.id for r in joined] == [2, 3]
    other = engine.session()  # another session, as a job task or the SQL warehouse
    assert other.sql("SELECT n FROM vw.totals").first().n == 2
    spark.sql("INSERT INTO vw.bills VALUES (4, 40.00)")  # a view, not a copy
    assert spark.table("vw.totals").first().n == 3
    assert [(r.namespace, r.viewName) for r in spark.sql("SHOW VIEWS IN vw").collect() if not r.isTemporary] == \
        [("vw", "large"), ("vw", "totals")]
    assert {(r.name, r.tableType) for r in spark.catalog.listTables("vw") if not r.isTemporary} == \
        {("bills", "MANAGED"), ("large", "VIEW"), ("totals", "VIEW")}
    assert [r.tableName for r in spark.sql("SHOW TABLES IN vw LIKE 't*'").collect() if not r.isTemporary] == ["totals"]
    assert [tuple(r) for r in spark.sql("DESCRIBE vw.totals").collect()] == [("n", "bigint", None),
                                                                           ("total", "decimal(20,2)", None)]
    details = {r.col_name: r.data_type for r in spark.sql("DESCRIBE TABLE EXTENDED vw.large").collect()}
    assert details["Type"] == "VIEW" and details["View Text"] == "SELECT * FROM `vw`.`bills` WHERE amount > 15"
    assert spark.sql("SELECT view_definition FROM information_schema.views WHERE table_name = 'large'").first()[0] \
        == "SELECT * FROM `vw`.`bills` WHERE amount > 15"
    information = spark.sql("SHOW TABLE EXTENDED IN vw LIKE 'large'").first().information
    assert "Type: VIEW" in information and "Comment: bills over 15" in information
    refused = {
        "CREATE VIEW vw.large AS SELECT 1": "TABLE_OR_VIEW_ALREADY_EXISTS",
        "CREATE VIEW vw.bills AS SELECT 1": "TABLE_OR_VIEW_ALREADY_EXISTS",
        "CREATE OR REPLACE VIEW vw.large AS SELECT * FROM vw.totals": "RECURSIVE_VIEW",
        "INSERT INTO vw.large VALUES (9, 9.00)": "EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE",
        "CREATE TABLE vw.totals AS SELECT 1 AS x": "EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE",
        "DROP TABLE vw.large": "WRONG_COMMAND_FOR_OBJECT_TYPE",
        "CREATE VIEW vw.wrong (a) AS SELECT 1, 2": "CREATE_VIEW_COLUMN_ARITY_MISMATCH.TOO_MANY_DATA_COLUMNS",
        "CREATE VIEW vw.nowhere AS SELECT * FROM vw.no_such_table": "TABLE_OR_VIEW_NOT_FOUND",
    }
    spark.sql("USE vw")  # a temporary view hides a persistent view of its name, as Spark resolves one part
    spark.sql("CREATE OR REPLACE TEMP VIEW large AS SELECT 'temporary' AS x")
    assert spark.sql("SELECT * FROM large").first().x == "temporary" and spark.table("vw.large").count() == 3
    spark.sql("DROP VIEW large")  # the temporary one
    assert spark.table("large").count() == 3
    spark.sql("USE default")
    spark.sql("CREATE OR REPLACE TEMP VIEW scratch AS SELECT 1 AS x")
    refused["CREATE VIEW vw.on_temp AS SELECT * FROM scratch"] = "INVALID_TEMP_OBJ_REFERENCE"
    for statement, error_class in refused.items():
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement).collect()
        assert error_class_of(err.value) == error_class, statement
    assert spark.table("vw.large").count() == 3 and spark.table("vw.bills").count() == 4  # nothing changed
    spark.sql("CREATE VIEW IF NOT EXISTS vw.large AS SELECT 1 AS other")  # kept as it was
    assert spark.table("vw.large").columns == ["id", "amount"]
    spark.sql("ALTER VIEW vw.totals RENAME TO vw.sums")
    assert spark.table("vw.sums").first().n == 3
    spark.sql("DROP VIEW vw.sums")
    with pytest.raises(AnalysisException) as err:
        spark.table("vw.sums").collect()
    assert error_class_of(err.value) == "TABLE_OR_VIEW_NOT_FOUND"
    spark.sql("DROP SCHEMA vw CASCADE")
    assert "large" not in {r.viewName for r in spark.sql("SHOW VIEWS IN default").collect()}


def test_alter_view_as_changes_a_views_query_and_keeps_its_comment(lake, spark):
    """``ALTER VIEW v AS query`` reached Sail, which keeps no persistent view: the view kept its old query."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS av")
    spark.sql("CREATE OR REPLACE TABLE av.bills (id INT, amount DECIMAL(10,2)) USING DELTA")
    spark.sql("INSERT INTO av.bills VALUES (1, 10.00), (2, 20.00)")
    spark.sql("CREATE VIEW av.big (bill) COMMENT 'the big ones' AS SELECT id FROM av.bills WHERE amount > 15")
    spark.sql("USE av")
    spark.sql("ALTER VIEW big AS SELECT id, amount FROM bills WHERE amount > 5")  # one-part names: the view's schema
    spark.sql("USE default")
    assert sorted(tuple(r) for r in spark.table("av.big").collect()) == [(1, Decimal("10.00")), (2, Decimal("20.00"))]
    details = {r.col_name: r.data_type for r in spark.sql("DESCRIBE TABLE EXTENDED av.big").collect()}
    assert details["View Text"] == "SELECT id, amount FROM `av`.`bills` WHERE amount > 5"
    assert details["Comment"] == "the big ones"
    assert spark.table("av.big").columns == ["id", "amount"]  # the new query's names, as Spark's ALTER VIEW AS
    spark.sql("CREATE OR REPLACE TEMP VIEW big AS SELECT 1 AS x")
    spark.sql("ALTER VIEW big AS SELECT 2 AS x")  # a one-part name a temporary view holds: the session's view
    assert spark.sql("SELECT x FROM big").first().x == 2 and spark.table("av.big").count() == 2
    spark.sql("DROP VIEW big")
    for statement, error_class in {
        "ALTER VIEW av.bills AS SELECT 1": "EXPECT_VIEW_NOT_TABLE.NO_ALTERNATIVE",
        "ALTER VIEW av.nothing AS SELECT 1": "TABLE_OR_VIEW_NOT_FOUND",
        "ALTER VIEW av.big AS SELECT * FROM av.big": "RECURSIVE_VIEW",
        "ALTER VIEW av.big AS SELECT * FROM av.no_such_table": "TABLE_OR_VIEW_NOT_FOUND",
    }.items():
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement).collect()
        assert error_class_of(err.value) == error_class, statement
    assert spark.table("av.big").count() == 2 and spark.table("av.bills").count() == 2  # nothing changed
    spark.sql("DROP SCHEMA av CASCADE")


def test_merge_reads_a_view_named_in_using(spark):
    """``MERGE INTO t USING view``: the view's name reached Sail, which knows no persistent view (not found)."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS mv")
    spark.sql("CREATE OR REPLACE TABLE mv.t (id INT, v STRING) USING DELTA")
    spark.sql("INSERT INTO mv.t VALUES (1, 'a'), (2, 'b')")
    spark.sql("CREATE OR REPLACE TABLE mv.src (id INT, v STRING) USING DELTA")
    spark.sql("INSERT INTO mv.src VALUES (2, 'B'), (3, 'C'), (4, 'skip')")
    spark.sql("CREATE OR REPLACE VIEW mv.changes AS SELECT * FROM mv.src WHERE v <> 'skip'")
    merged = spark.sql("MERGE INTO mv.t AS t USING mv.changes AS c ON t.id = c.id "
                       "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *").first()
    assert (merged.num_updated_rows, merged.num_inserted_rows) == (1, 1)
    assert sorted(tuple(r) for r in spark.table("mv.t").collect()) == [(1, "a"), (2, "B"), (3, "C")]
    spark.sql("MERGE INTO mv.t USING mv.changes ON mv.t.id = changes.id WHEN MATCHED THEN DELETE")  # no alias
    assert [tuple(r) for r in spark.table("mv.t").collect()] == [(1, "a")]
    spark.sql("DROP SCHEMA mv CASCADE")


def test_replace_table_replaces_an_existing_table_and_names_a_missing_one(spark):
    """Delta's ``REPLACE TABLE`` failed with the engine's "Open source Unity Catalog does not support REPLACE"."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS rt")
    spark.sql("CREATE OR REPLACE TABLE rt.a AS SELECT id FROM range(5)")
    spark.sql("REPLACE TABLE rt.a AS SELECT id * 10 AS tens FROM range(3)")
    assert sorted(r.tens for r in spark.table("rt.a").collect()) == [0, 10, 20]
    spark.sql("REPLACE TABLE rt.a (note STRING) USING DELTA")
    assert spark.table("rt.a").columns == ["note"] and spark.table("rt.a").count() == 0
    assert len(spark.sql("DESCRIBE HISTORY rt.a").collect()) == 3  # one table replaced twice: its history kept
    spark.sql("CREATE OR REPLACE VIEW rt.v AS SELECT 1 AS x")
    for statement, error_class in {"REPLACE TABLE rt.missing AS SELECT 1 AS x": "TABLE_OR_VIEW_NOT_FOUND",
                                   "REPLACE TABLE rt.v AS SELECT 1 AS x": "EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE"}.items():
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement).collect()
        assert error_class_of(err.value) == error_class, statement
    assert not spark.catalog.tableExists("rt.missing") and spark.table("rt.v").first().x == 1
    spark.sql("DROP SCHEMA rt CASCADE")


def test_functions_are_found_listed_by_pattern_and_named_when_missing(spark):
    """Sail refused functionExists, getFunction and a listFunctions pattern (a parse error on ``*``)."""
    spark.udf.register("cc_half", lambda x: x / 2, "double")
    assert spark.catalog.functionExists("abs") and spark.catalog.functionExists("ABS")
    assert spark.catalog.functionExists("cc_half")
    assert not spark.catalog.functionExists("cc_no_such_fn")
    assert [f.name for f in spark.catalog.listFunctions(pattern="cc_h*")] == ["cc_half"]
    assert {f.name for f in spark.catalog.listFunctions(pattern="date_f*|ABS")} == \
        {"abs", "date_format", "date_from_unix_date"}
    assert len(spark.catalog.listFunctions()) > 400
    found = spark.catalog.getFunction("abs")
    assert (found.name, found.isTemporary) == ("abs", True) and "absolute value" in found.description
    with pytest.raises(AnalysisException, match="Cannot resolve routine `cc_no_such_fn`") as err:
        spark.catalog.getFunction("cc_no_such_fn")
    assert error_class_of(err.value) == "UNRESOLVED_ROUTINE"


def test_an_insert_of_the_wrong_number_of_columns_is_named_as_spark_names_it(spark):
    spark.sql("CREATE TABLE IF NOT EXISTS cc.pairs (a INT, b STRING) USING DELTA")
    for rows, reason in ((spark.createDataFrame([(1, "x", 2.0)], "a int, b string, c double"), "TOO_MANY"),
                         (spark.createDataFrame([(1,)], "a int"), "NOT_ENOUGH")):
        with pytest.raises(AnalysisException, match="the table has 2 columns") as err:
            rows.write.insertInto("cc.pairs")
        assert error_class_of(err.value) == f"INSERT_COLUMN_ARITY_MISMATCH.{reason}_DATA_COLUMNS"
    assert spark.table("cc.pairs").count() == 0


def test_tables_of_a_schema_that_does_not_exist_are_schema_not_found_without_the_engines_address(spark):
    for listing in (lambda: spark.sql("SHOW TABLES IN no_such_schema").collect(),
                    lambda: spark.catalog.listTables("no_such_schema")):
        with pytest.raises(AnalysisException, match=r"The schema `main`\.`no_such_schema` cannot be found") as err:
            listing()
        assert error_class_of(err.value) == "SCHEMA_NOT_FOUND"
        assert "127.0.0.1" not in str(err.value) and "http" not in str(err.value)


def test_a_schema_of_more_than_a_page_of_tables_is_listed_whole(lake, spark):
    """Sail's catalog provider asks the catalog for a schema's tables once, without paging: the catalog answered a
    page of 1,000 and the rest of the schema was missing from listTables and SHOW TABLES (and a stage's existence
    checks, ``io.catalog_scope``, took those tables for missing)."""
    from odoolake.workspace.catalog.routes import MAX_PAGE
    from odoolake.workspace.catalog.store import CatalogStore, FullName

    home, _ = lake
    store = CatalogStore(home, "owner@localhost")
    store.create_schema("main", "crowded")
    count = MAX_PAGE + 1
    for i in range(count):
        store.create_table(FullName("main", "crowded", f"t{i:05d}"), None)
    listed = [t for t in spark.catalog.listTables("crowded") if not t.isTemporary]  # the session's views are listed too
    assert len(listed) == count and listed[-1].name == f"t{count - 1:05d}"
    assert spark.sql("SHOW TABLES IN crowded").where("NOT isTemporary").count() == count
    assert spark.catalog.tableExists(f"crowded.t{count - 1:05d}")


def test_show_statements_answer_in_databricks_shape(lake, spark):
    """SHOW TABLES, SHOW TABLE EXTENDED and SHOW VIEWS name a table's schema by its own name (Sail: `main.cc`) and
    answer Databricks' columns (SHOW VIEWS: ``namespace, viewName, isTemporary``; Sail gave listTables' six);
    SHOW TABLE EXTENDED says MANAGED for a table at its managed location, with the catalog's own keys left out."""
    home, _ = lake
    spark.sql("CREATE TABLE IF NOT EXISTS cc.shown AS SELECT 1 AS x")
    spark.sql(f"CREATE TABLE IF NOT EXISTS cc.shown_ext (x INT) USING DELTA LOCATION '{home.dbfs_root}/shown_ext'")
    spark.sql("CREATE OR REPLACE TEMPORARY VIEW shown_view AS SELECT 1 AS x")
    tables = spark.sql("SHOW TABLES IN cc LIKE 'shown*'")
    assert tables.columns == ["database", "tableName", "isTemporary"]
    assert sorted(tuple(r) for r in tables.collect()) == [("", "shown_view", True), ("cc", "shown", False),
                                                          ("cc", "shown_ext", False)]
    views = spark.sql("SHOW VIEWS IN cc LIKE 'shown*'")
    assert views.columns == ["namespace", "viewName", "isTemporary"]
    assert [tuple(r) for r in views.collect()] == [("", "shown_view", True)]
    extended = {r.tableName: r for r in spark.sql("SHOW TABLE EXTENDED IN main.cc LIKE 'shown*'").collect()}
    managed = extended["shown"].information.split("\n")
    assert extended["shown"].database == "cc" and managed[:3] == ["Catalog: main", "Database: cc", "Table: shown"]
    # the owner (dbt's catalog reads it from here) and creation time, then the type, as Databricks writes them
    assert managed[3].startswith("Owner: ") and managed[3].endswith("@localhost")
    assert managed[4].startswith("Created Time: ") and managed[5] == "Type: MANAGED"
    assert "Type: EXTERNAL" in extended["shown_ext"].information.split("\n")
    assert "Table Properties: []" in managed and "table_id" not in extended["shown"].information
    spark.sql("CREATE TABLE IF NOT EXISTS cc.shown_props (x INT) USING DELTA COMMENT 'a, b=c' "
              "TBLPROPERTIES ('user.note' = 'x, y')")
    props = spark.sql("SHOW TABLE EXTENDED IN cc LIKE 'shown_props'").first().information.split("\n")
    # a value holding ", " kept whole; the comment is its own line, not a property (Sail listed it among them)
    assert "Table Properties: [user.note=x, y]" in props and "Comment: a, b=c" in props
    spark.sql("CREATE OR REPLACE GLOBAL TEMPORARY VIEW shown_global AS SELECT 1 AS x")
    assert [tuple(r) for r in spark.sql("SHOW VIEWS IN global_temp LIKE 'shown_global'").collect()] == [
        ("global_temp", "shown_global", True)]
    described = spark.sql("SHOW TABLE EXTENDED IN global_temp LIKE 'shown_global'").first()
    assert described.database == "global_temp" and described.information.startswith("Database: global_temp\n")
    with pytest.raises(AnalysisException) as err:
        spark.sql("SHOW TABLES IN no_such_schema").collect()
    assert error_class_of(err.value) == "SCHEMA_NOT_FOUND"


def test_describe_extended_column_and_show_partitions_answer_as_databricks(lake, spark):
    """DESCRIBE TABLE EXTENDED (and FORMATTED) gives a catalog table's detail from the catalog: `Catalog`, the schema
    by its own name, MANAGED at its managed location, only the table's own properties (Sail: `main.cc`, EXTERNAL and
    its catalog keys). `DESCRIBE t column` answers `info_name, info_value` (Sail refused it); SHOW PARTITIONS (which
    Sail does not parse) answers a column per partition column, a row per partition."""
    spark.sql("CREATE TABLE IF NOT EXISTS cc.parted (id INT COMMENT 'the id', s STRUCT<a: INT, b: STRING>, "
              "p STRING, q INT) USING DELTA PARTITIONED BY (p, q) COMMENT 'split' TBLPROPERTIES ('team' = 'fin')")
    spark.sql("INSERT INTO cc.parted VALUES (1, NULL, 'a', 1), (2, NULL, 'a', 1), (3, NULL, 'b', 2), (4, NULL, NULL, 2)")
    for form in ("DESCRIBE TABLE EXTENDED cc.parted", "DESC FORMATTED main.cc.parted"):
        rows = [tuple(r) for r in spark.sql(form).collect()]
        assert rows[:4] == [("id", "int", "the id"), ("s", "struct<a:int,b:string>", None), ("p", "string", None),
                            ("q", "int", None)]
        detail = {r[0]: r[1] for r in rows[rows.index(("# Detailed Table Information", "", None)) + 1:]}
        assert (detail["Catalog"], detail["Database"], detail["Table"]) == ("main", "cc", "parted")
        assert (detail["Type"], detail["Is_managed_location"], detail["Provider"]) == ("MANAGED", "true", "delta")
        assert detail["Comment"] == "split" and detail["Table Properties"] == "[team=fin]"
        assert "table_id" not in str(rows) and "main.cc" not in str(rows)
        assert detail["Location"].startswith("file:///") and detail["Location"].endswith("/cc/parted")  # as the UC API
    spark.range(2).createOrReplaceTempView("parted_view")
    temporary = {r[0]: r[1] for r in spark.sql("DESCRIBE EXTENDED parted_view").collect()}
    assert temporary["Type"] == "TEMPORARY" and "Catalog" not in temporary

    column = spark.sql("DESCRIBE cc.parted ID")
    assert column.columns == ["info_name", "info_value"]
    assert [tuple(r) for r in column.collect()] == [("col_name", "id"), ("data_type", "int"), ("comment", "the id")]
    extended = [tuple(r) for r in spark.sql("DESCRIBE TABLE EXTENDED cc.parted q").collect()]
    assert extended[:3] == [("col_name", "q"), ("data_type", "int"), ("comment", "NULL")]
    assert [name for name, _ in extended[3:]] == ["min", "max", "num_nulls", "distinct_count", "avg_col_len",
                                                  "max_col_len", "histogram"]
    for column, error_class, says in (("nope", "UNRESOLVED_COLUMN.WITH_SUGGESTION", "`nope` cannot be resolved"),
                                      ("s.b", "UNSUPPORTED_FEATURE", "does not support nested column: s.b")):
        with pytest.raises(AnalysisException) as err:
            spark.sql(f"DESCRIBE cc.parted {column}").collect()
        assert error_class_of(err.value) == error_class and says in str(err.value)
    # names a section header could be mistaken for, and back-quotes that belong to the name
    spark.sql("CREATE TABLE IF NOT EXISTS cc.odd_names (`#x` INT, ```a` INT, after INT COMMENT 'last') USING DELTA")
    assert spark.sql("DESCRIBE cc.odd_names after").collect()[2].info_value == "last"
    assert spark.sql("DESCRIBE cc.odd_names ```a`").collect()[0].info_value == "`a"
    assert spark.sql("DESCRIBE cc.odd_names `#x`").collect()[1].info_value == "int"

    partitions = spark.sql("SHOW PARTITIONS cc.parted")
    assert partitions.columns == ["p", "q"]
    assert [tuple(r) for r in partitions.collect()] == [(None, 2), ("a", 1), ("b", 2)]
    assert [tuple(r) for r in spark.sql("SHOW PARTITIONS cc.parted PARTITION (P = 'b')").collect()] == [("b", 2)]
    assert [tuple(r) for r in spark.sql("SHOW PARTITIONS cc.parted PARTITION (q = 1)").collect()] == [("a", 1)]
    assert [tuple(r) for r in spark.sql("SHOW PARTITIONS cc.parted PARTITION (p = NULL)").collect()] == [(None, 2)]
    refused = (("SHOW PARTITIONS cc.ledger", "DELTA_SHOW_PARTITION_IN_NON_PARTITIONED_TABLE"),
               ("SHOW PARTITIONS cc.parted PARTITION (id = 1)", "PARTITIONS_NOT_FOUND"),
               ("SHOW PARTITIONS cc.nope", "TABLE_OR_VIEW_NOT_FOUND"),
               ("SHOW PARTITIONS cc.parted PARTITION (p = 'a', P = 'b')", "DUPLICATE_KEY"),
               ("DESCRIBE TABLE EXTENDED cc.nope", "TABLE_OR_VIEW_NOT_FOUND"))
    for statement, error_class in refused:
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement).collect()
        assert error_class_of(err.value) == error_class, statement


def test_a_table_partitioned_in_another_order_than_its_columns_is_described_and_written(spark):
    """`PARTITIONED BY (q, p)` of columns `…, p, q`: DESCRIBE (plain too, as Spark describes a partitioned table)
    lists the partition columns in the partitioning's order (Sail: none in a plain DESCRIBE, the columns' order in
    EXTENDED), and every INSERT form writes the table (Sail refused each: "Partition column mismatch")."""
    spark.sql("CREATE TABLE cc.crossed (id INT, note STRING, p INT COMMENT 'period', q STRING) USING DELTA "
              "PARTITIONED BY (q, p)")
    columns = [("id", "int", None), ("note", "string", None), ("p", "int", "period"), ("q", "string", None)]
    section = [("# Partition Information", "", None), ("# col_name", "data_type", "comment"),
               ("q", "string", None), ("p", "int", "period")]
    assert [tuple(r) for r in spark.sql("DESCRIBE cc.crossed").collect()] == columns + section
    extended = [tuple(r) for r in spark.sql("DESCRIBE TABLE EXTENDED cc.crossed").collect()]
    assert extended[:10] == columns + section + [("", "", None), ("# Detailed Table Information", "", None)]
    assert [tuple(r) for r in spark.sql("DESCRIBE cc.ledger").collect()] == [
        ("id", "int", None), ("amount", "decimal(18,2)", None)]  # not partitioned: no section

    inserts = ("INSERT INTO cc.crossed VALUES (1, 'a', 10, 'Q1')",
               "INSERT INTO cc.crossed (id, q, p) VALUES (2, 'Q1', 10)",
               "INSERT INTO TABLE cc.crossed BY NAME SELECT 'Q2' AS q, 3 AS id, 20 AS p, 'c' AS note",
               "INSERT INTO cc.crossed PARTITION (q = 'Q2', p) VALUES (4, 'd', 20)")
    for number, statement in enumerate(inserts, start=1):
        assert [tuple(r) for r in spark.sql(statement).collect()] == [(1, 1)], statement
        assert spark.table("cc.crossed").count() == number, statement
    assert sorted(tuple(r) for r in spark.table("cc.crossed").collect()) == [
        (1, "a", 10, "Q1"), (2, None, 10, "Q1"), (3, "c", 20, "Q2"), (4, "d", 20, "Q2")]
    spark.sql("INSERT OVERWRITE cc.crossed PARTITION (q = 'Q1', p = 10) VALUES (5, 'e')")
    assert sorted(r.id for r in spark.table("cc.crossed").collect()) == [3, 4, 5]
    spark.sql("INSERT OVERWRITE cc.crossed SELECT 6, 'f', 30, 'Q3'")
    assert [tuple(r) for r in spark.table("cc.crossed").collect()] == [(6, "f", 30, "Q3")]
    detail = spark.sql("DESCRIBE DETAIL cc.crossed").first()
    assert detail.partitionColumns == ["q", "p"]  # still partitioned as declared
    with pytest.raises(AnalysisException, match="the table has 4 columns, the data 2") as err:
        spark.sql("INSERT INTO cc.crossed VALUES (7, 'g')")
    assert error_class_of(err.value) == "INSERT_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS"
    assert spark.table("cc.crossed").count() == 1
    # a column list naming every column, in order or in another case (what SQLAlchemy writes), and an OVERWRITE with
    # one; functions kept as written (sqlglot wrote to_char(d, 'yyyy') as a cast to string: '2024-01-10')
    spark.sql("INSERT INTO cc.crossed (id, note, p, q) VALUES (7, to_char(DATE '2024-01-10', 'yyyy'), 70, 'Q7')")
    spark.sql("INSERT INTO cc.crossed (ID, NOTE, P, Q) SELECT 8, 'h', 80, 'Q8'")
    assert sorted(tuple(r) for r in spark.table("cc.crossed").collect()) == [
        (6, "f", 30, "Q3"), (7, "2024", 70, "Q7"), (8, "h", 80, "Q8")]
    spark.sql("INSERT OVERWRITE cc.crossed (q, id, p) SELECT 'Q9', 9, 90")
    assert [tuple(r) for r in spark.table("cc.crossed").collect()] == [(9, None, 90, "Q9")]


def test_an_inserts_query_is_run_as_written(spark):
    """The INSERT forms the rules rewrite (a partial column list, REPLACE WHERE) keep the user's query and condition
    as written: sqlglot, which read them, wrote some functions as others (to_char(d, 'yyyy') as a cast: another
    value; percentile_cont as percentile_approx)."""
    spark.sql("CREATE TABLE cc.as_written (id INT, year STRING, note STRING) USING DELTA")
    spark.sql("INSERT INTO cc.as_written (year, id) SELECT to_char(DATE '2024-01-10', 'yyyy'), 1")
    spark.sql("INSERT INTO cc.as_written REPLACE WHERE year = to_char(DATE '2023-05-01', 'yyyy') "
              "SELECT 2, to_char(DATE '2023-05-01', 'yyyy'), 'b'")
    assert sorted(tuple(r) for r in spark.table("cc.as_written").collect()) == [(1, "2024", None), (2, "2023", "b")]


def test_table_properties_reach_the_log_in_the_form_the_engine_reads_back(lake, spark):
    """CREATE TABLE's TBLPROPERTIES (which Sail kept out of the Delta log) are written to the log, each value in
    the form the engine reads back: `'TRUE'` and `'30 days'`, written as given, made every later write of the table
    fail. So the table behaves as its properties say (append-only refuses a DELETE) and is still writable."""
    home, _ = lake
    spark.sql("CREATE TABLE cc.props (id INT) TBLPROPERTIES ('delta.appendOnly' = 'TRUE', team = 'fin', "
              "DELTA.LOGRETENTIONDURATION = '30 days', 'delta.enableChangeDataFeed' = false)")
    spark.sql("INSERT INTO cc.props VALUES (1)")
    shown = dict(tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.props").collect())
    assert shown == {"delta.appendOnly": "true", "delta.logRetentionDuration": "interval 30 days", "team": "fin"}
    detail = spark.sql("DESCRIBE DETAIL cc.props").first()
    assert detail.properties == shown  # from the Delta log itself
    assert [tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.props ('delta.appendonly')").collect()] == [
        ("delta.appendOnly", "true")]
    assert spark.sql("SHOW TBLPROPERTIES cc.props (nope)").first().value == \
        "Table cc.props does not have property: nope"
    with pytest.raises(Exception, match="append-only"):
        spark.sql("DELETE FROM cc.props WHERE id = 1")
    spark.sql("CREATE TABLE cc.props_as TBLPROPERTIES ('delta.checkpointInterval' = 5) AS SELECT 1 AS x")
    spark.sql("ALTER TABLE cc.props_as SET TBLPROPERTIES (delta.logRetentionDuration = 'INTERVAL 2 WEEKS', "
              "x.y = 1)")
    spark.sql("INSERT INTO cc.props_as VALUES (2)")
    # a table at a location given, without USING, is Delta (Sail made it parquet) and keeps its properties
    spark.sql(f"CREATE TABLE cc.props_at (id INT) LOCATION '{home.dbfs_root}/props_at' TBLPROPERTIES ('z' = '1')")
    assert spark.sql("DESCRIBE DETAIL cc.props_at").first().properties == {"z": "1"}
    # IF NOT EXISTS over an existing table leaves it alone, whatever its properties say
    spark.sql("CREATE TABLE IF NOT EXISTS cc.props (id INT) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    assert spark.sql("SELECT count(*) FROM cc.props_as").first()[0] == 2
    assert dict(tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.props_as").collect()) == {
        "delta.checkpointInterval": "5", "delta.logRetentionDuration": "interval 2 weeks", "x.y": "1"}


@pytest.mark.parametrize(("properties", "error_class", "says"), [
    ("'delta.checkpointInterval' = ' 5 '", "INVALID_TABLE_PROPERTY_VALUE", "a whole number of commits above 0"),
    ("'delta.logRetentionDuration' = 'interval 1.5 hours'", "INVALID_TABLE_PROPERTY_VALUE", "an interval"),
    ("'delta.appendOnly' = 'yes'", "INVALID_TABLE_PROPERTY_VALUE", "true or false"),
    ("'delta.minReaderVersion' = '3'", "UNSUPPORTED_FEATURE", "table feature"),  # delta-rs panicked on it
    ("'delta.enableDeletionVectors' = 'true'", "UNSUPPORTED_FEATURE", "table feature"),
    ("'delta.feature.foo' = 'supported'", "UNSUPPORTED_FEATURE", "table feature"),
    ("'delta.nope' = '1'", "DELTA_UNKNOWN_CONFIGURATION", "Unknown configuration was specified: delta.nope"),
    ("'owner' = 'x'", "UNSUPPORTED_FEATURE.SET_TABLE_PROPERTY", "reserved table property"),
    ("'a' = '1', 'a' = '2'", "DUPLICATE_KEY", "Found duplicate keys 'a'"),
    ("'a' = '1') TBLPROPERTIES ('b' = '2'", "DUPLICATE_CLAUSES", "TBLPROPERTIES"),
    ("'a'", "PARSE_SYNTAX_ERROR", "key = value pairs"),
])
def test_table_properties_a_delta_table_cannot_take_are_refused_before_anything_is_made(spark, properties,
                                                                                         error_class, says):
    for statement in (f"CREATE TABLE cc.refused_props (id INT) TBLPROPERTIES ({properties})",
                      f"CREATE TABLE cc.refused_props TBLPROPERTIES ({properties}) AS SELECT 1 AS id"):
        with pytest.raises(AnalysisException) as err:
            spark.sql(statement)
        assert error_class_of(err.value) == error_class and says in str(err.value), statement
        assert not spark.catalog.tableExists("cc.refused_props")
    spark.sql("CREATE TABLE IF NOT EXISTS cc.altered_props (id INT)")
    if error_class != "DUPLICATE_CLAUSES":
        with pytest.raises(AnalysisException) as err:
            spark.sql(f"ALTER TABLE cc.altered_props SET TBLPROPERTIES ({properties})")
        assert error_class_of(err.value) == error_class and says in str(err.value)
    spark.sql("INSERT INTO cc.altered_props VALUES (1)")  # still writable: nothing was written to its log
    assert spark.sql("SHOW TBLPROPERTIES cc.altered_props").count() == 0


def test_unset_and_replace_leave_a_table_the_properties_its_definition_gives(spark):
    """delta-rs can only add properties: UNSET TBLPROPERTIES failed in the engine ("not yet supported for
    catalog-managed Delta tables"), CREATE OR REPLACE kept the old table's properties beside the new ones, and an
    append-only table could not be replaced at all (the overwrite was refused as removing rows)."""
    spark.sql("CREATE TABLE cc.unset_me (a INT COMMENT 'the a', p STRING) PARTITIONED BY (p) "
              "TBLPROPERTIES ('k' = 'v', 'j' = 'w', 'delta.appendOnly' = 'true')")
    spark.sql("INSERT INTO cc.unset_me VALUES (1, 'x')")
    spark.sql("ALTER TABLE cc.unset_me UNSET TBLPROPERTIES ('k', delta.APPENDONLY)")
    assert [tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.unset_me").collect()] == [("j", "w")]
    spark.sql("DELETE FROM cc.unset_me WHERE a = 1")  # no longer append-only
    with pytest.raises(AnalysisException) as err:
        spark.sql("ALTER TABLE cc.unset_me UNSET TBLPROPERTIES ('nope')")
    assert error_class_of(err.value) == "DELTA_UNSET_NON_EXISTENT_PROPERTY" and "'nope'" in str(err.value)
    for key, error_class in (("comment", "UNSUPPORTED_FEATURE.SET_TABLE_PROPERTY"),
                             ("delta.columnMapping.mode", "UNSUPPORTED_FEATURE"),
                             ("delta.constraints.positive", "UNSUPPORTED_FEATURE")):
        with pytest.raises(AnalysisException) as err:
            spark.sql(f"ALTER TABLE cc.unset_me UNSET TBLPROPERTIES IF EXISTS ('{key}')")
        assert error_class_of(err.value) == error_class, key
    spark.sql("ALTER TABLE cc.unset_me UNSET TBLPROPERTIES IF EXISTS ('nope', 'j')")
    assert spark.sql("SHOW TBLPROPERTIES cc.unset_me").count() == 0
    described = {r[0]: r for r in spark.sql("DESCRIBE TABLE EXTENDED cc.unset_me").collect()}
    assert described["a"].comment == "the a" and "# Partition Information" in described  # the rest kept

    spark.sql("CREATE TABLE cc.replaced TBLPROPERTIES ('k' = 'v', 'delta.appendOnly' = 'true') AS SELECT 1 AS a")
    with pytest.raises(Exception, match="DIVIDE_BY_ZERO"):
        spark.sql("CREATE OR REPLACE TABLE cc.replaced AS SELECT 1 / 0 AS a")
    assert dict(tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.replaced").collect()) == {
        "k": "v", "delta.appendOnly": "true"}  # a failed replace leaves the table as it was
    assert [tuple(r) for r in spark.table("cc.replaced").collect()] == [(1,)]
    spark.sql("CREATE OR REPLACE TABLE cc.replaced TBLPROPERTIES ('k2' = 'v2') AS SELECT 2 AS a")
    assert [tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.replaced").collect()] == [("k2", "v2")]
    spark.sql("CREATE OR REPLACE TABLE cc.replaced (a INT, b STRING) TBLPROPERTIES ('k3' = 'v3')")
    assert [tuple(r) for r in spark.sql("SHOW TBLPROPERTIES cc.replaced").collect()] == [("k3", "v3")]
    assert spark.table("cc.replaced").columns == ["a", "b"] and spark.table("cc.replaced").count() == 0
    # PARTITIONED BY of a CREATE OR REPLACE … AS (it was dropped): the new definition's partitioning, or none
    spark.sql("CREATE OR REPLACE TABLE cc.replaced PARTITIONED BY (p) AS SELECT 1 AS a, 'x' AS p")
    assert spark.sql("DESCRIBE DETAIL cc.replaced").first().partitionColumns == ["p"]
    spark.sql("CREATE OR REPLACE TABLE cc.replaced AS SELECT 1 AS a, 'x' AS p")
    assert spark.sql("DESCRIBE DETAIL cc.replaced").first().partitionColumns == []


def test_a_pipelines_datasets_are_typed_as_unity_catalog_types_them():
    from odoolake.dlt import CHECKPOINT_PREFIX, PIPELINE_ID_PROPERTY
    from odoolake.workspace.catalog.store import FullName, TableInfo

    def info(properties: dict[str, str]) -> TableInfo:
        return TableInfo(name=FullName("main", "dlt", "t"), table_id="1", table_type="MANAGED",
                         data_source_format="DELTA", storage_location="/tmp/t", comment=None, properties=properties,
                         owner=None, created_at=0, updated_at=0)

    assert info({}).kind == "MANAGED" and "pipeline_id" not in info({}).as_api()
    view = info({PIPELINE_ID_PROPERTY: "p1"})
    assert (view.kind, view.as_api()["pipeline_id"], view.as_api()["table_type"]) == ("MATERIALIZED_VIEW", "p1",
                                                                                        "MATERIALIZED_VIEW")
    assert view.as_api(for_engine=True)["table_type"] == "EXTERNAL"  # what the engine is told is unchanged
    assert info({PIPELINE_ID_PROPERTY: "p1", f"{CHECKPOINT_PREFIX}main.raw.events": "3"}).kind == "STREAMING_TABLE"
