"""The embedded engine: catalogs, registry, Delta statements, guards."""

import pytest

from odoolake.errors import DeltaCommandError, SchemaGuardError


def test_two_and_three_part_names_and_restart(lake_engine, spark):
    df = spark.createDataFrame([("RIM", 1.5)], "agency string, wht double")
    spark.sql("CREATE SCHEMA IF NOT EXISTS t_gold")
    df.write.format("delta").mode("overwrite").saveAsTable("t_gold.tx")
    assert spark.sql("SELECT SUM(wht) FROM t_gold.tx").first()[0] == 1.5
    assert spark.sql("SELECT COUNT(*) FROM main.t_gold.tx").first()[0] == 1
    other = lake_engine.session()  # a new session (as after a restart) sees the table from the registry
    try:
        assert other.sql("SELECT COUNT(*) FROM hive_metastore.t_gold.tx").first()[0] == 1
    finally:
        lake_engine.stop_session(other)


def test_delta_statements_served_by_delta_rs(spark):
    df = spark.createDataFrame([(1, "a")], "id long, s string")
    df.write.format("delta").mode("overwrite").saveAsTable("default.maint")
    df.write.format("delta").mode("append").saveAsTable("default.maint")
    assert spark.sql("DESCRIBE HISTORY default.maint").count() == 2
    spark.sql("OPTIMIZE default.maint ZORDER BY (id)").collect()
    detail = spark.sql("DESCRIBE DETAIL default.maint").first()
    assert detail["numFiles"] == 1 and detail["format"] == "delta"
    spark.sql("RESTORE TABLE default.maint TO VERSION AS OF 0").collect()
    assert spark.table("default.maint").count() == 1
    with pytest.raises(DeltaCommandError, match="168-hour minimum"):
        spark.sql("VACUUM default.maint RETAIN 0 HOURS")
    assert spark.sql("VACUUM default.maint RETAIN 168 HOURS").count() == 0


def test_not_null_append_that_would_drop_columns_is_refused(spark):
    from pyspark.sql import functions as F

    spark.range(3).write.format("delta").mode("overwrite").saveAsTable("default.nn")
    with pytest.raises(SchemaGuardError, match="silently drop the new column"):
        spark.range(3).withColumn("x", F.lit(1)).write.format("delta").mode("append") \
            .option("mergeSchema", "true").saveAsTable("default.nn")
    assert spark.table("default.nn").columns == ["id"]
    spark.sql("ALTER TABLE default.nn ADD COLUMNS (x int)")
    spark.range(3).withColumn("x", F.lit(1)).write.format("delta").mode("append").saveAsTable("default.nn")
    assert spark.table("default.nn").where("x = 1").count() == 3


def test_dbfs_paths_cannot_escape_the_root(tmp_path):
    from odoolake.config import WorkspacePaths

    paths = WorkspacePaths.from_env(tmp_path)
    assert paths.dbfs_to_local("dbfs:/raw/odoo/x.jsonl") == paths.dbfs_root / "raw/odoo/x.jsonl"
    assert paths.dbfs_to_local("/dbfs/raw") == paths.dbfs_root / "raw"
    with pytest.raises(ValueError, match="escapes the DBFS root"):
        paths.dbfs_to_local("dbfs:/raw/../../etc/passwd")
    with pytest.raises(ValueError, match="not a DBFS path"):
        paths.dbfs_to_local("s3://bucket/x")


def test_unsupported_features_are_named(spark, tmp_path):
    from odoolake.errors import EngineError

    with pytest.raises(EngineError, match="Auto Loader"):
        spark.readStream.format("cloudFiles").load(str(tmp_path))
    with pytest.raises(EngineError, match="Structured Streaming sinks"):
        spark.readStream.format("rate").load().writeStream.format("delta").start(str(tmp_path / "s"))
    with pytest.raises(EngineError, match="Change Data Feed"):
        spark.read.format("delta").option("readChangeFeed", "true").load(str(tmp_path))
    with pytest.raises(DeltaCommandError, match="OPTIMIZE … WHERE"):
        spark.sql("OPTIMIZE default.maint WHERE id > 0")
    with pytest.raises(EngineError, match="Delta only"):
        spark.range(1).write.format("parquet").saveAsTable("default.pq")


def test_secrets_come_from_the_environment(monkeypatch, tmp_path):
    from odoolake.config import WorkspacePaths
    from odoolake.errors import OdoolakeError
    from odoolake.workspace.notebooks.dbutils import DBUtils

    dbutils = DBUtils(WorkspacePaths.from_env(tmp_path), {}, {}, "t", lambda *a: "")
    monkeypatch.setenv("ODOOLAKE_SECRET_ODOO_API_KEY", "s3cret")
    assert dbutils.secrets.get("odoo", "api-key") == "s3cret"
    with pytest.raises(OdoolakeError, match="ODOOLAKE_SECRET_ODOO_MISSING"):
        dbutils.secrets.get("odoo", "missing")


def test_cli_sessions_use_the_spark_connect_server_named_in_the_environment(lake_engine, monkeypatch, tmp_path):
    """ODOOLAKE_SPARK_REMOTE sends every CLI command to another Spark Connect server (here the fixture's own
    server, named through ``localhost`` so that the address can only have come from the variable)."""
    from odoolake.cli.common import lake_session
    from odoolake.config import WorkspacePaths

    remote = lake_engine.remote_url.replace("127.0.0.1", "localhost")
    assert remote != lake_engine.remote_url
    monkeypatch.setenv("ODOOLAKE_SPARK_REMOTE", remote)
    with lake_session(WorkspacePaths.from_env(tmp_path / "home")) as spark:
        assert spark._odoolake_engine.remote_url == remote
        assert spark.sql("SELECT 41 + 1 AS answer").first()["answer"] == 42
