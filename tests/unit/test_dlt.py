"""The DLT-compatible module: dependency order from reads, expectations (warn/drop/fail), event log, refresh."""

import pytest

from odoolake import dlt
from odoolake.dlt import ExpectationFailed, PipelineDefinitionError, run_pipeline


def definitions(spark, fail_on_negative: bool = False):
    def define():
        # the aggregate is defined before its source: order comes from dlt.read, not from the file
        @dlt.table(name="totals")
        @dlt.expect_all({"has_agency": "agency IS NOT NULL"})
        def totals():
            from pyspark.sql import functions as F

            return dlt.read("clean").groupBy("agency").agg(F.sum("amount").alias("amount"))

        @dlt.table
        @dlt.expect_or_drop("positive", "amount > 0")
        @dlt.expect("has_agency", "agency IS NOT NULL")
        def clean():
            return dlt.read("raw")

        @dlt.view
        def raw():
            return spark.createDataFrame([("RIM", 10.0), ("RIM", -2.0), (None, 5.0), ("BOM", None)],
                                         "agency string, amount double")

        if fail_on_negative:
            @dlt.table
            @dlt.expect_or_fail("no_negatives", "amount >= 0")
            def strict():
                return dlt.read("raw")

    return define


def test_datasets_run_in_read_order_with_expectations_and_event_log(spark):
    results = run_pipeline(spark, definitions(spark), target="dlt_test", pipeline_id="p1")
    assert [r.name for r in results] == ["raw", "clean", "totals"]
    clean = next(r for r in results if r.name == "clean")
    metrics = {m["name"]: m for m in clean.expectations}
    assert metrics["positive"]["failed_records"] == 2  # -2.0 and null amount
    assert metrics["has_agency"]["failed_records"] == 1  # warned, kept
    assert clean.rows == 2
    assert sorted(r["agency"] or "-" for r in spark.table("dlt_test.clean").collect()) == ["-", "RIM"]
    log = spark.table("dlt_test.event_log").where("pipeline_id = 'p1' AND dataset = 'clean'").collect()
    assert {r["expectation"]: r["failed_records"] for r in log} == {"positive": 2, "has_agency": 1}


def test_expect_or_fail_stops_before_writing(spark):
    with pytest.raises(ExpectationFailed, match=r"no_negatives.*2 row"):  # -2.0, and null (a null result fails)
        run_pipeline(spark, definitions(spark, fail_on_negative=True), target="dlt_fail")
    assert not spark.catalog.tableExists("dlt_fail.strict")


def test_full_refresh_and_cycles(spark):
    run_pipeline(spark, definitions(spark), target="dlt_refresh")
    results = run_pipeline(spark, definitions(spark), target="dlt_refresh", full_refresh=True)
    assert next(r for r in results if r.name == "totals").rows == 2

    def cyclic():
        @dlt.table
        def a():
            return dlt.read("b")

        @dlt.table
        def b():
            return dlt.read("a")

    with pytest.raises(PipelineDefinitionError, match="cycle: a -> b -> a"):
        run_pipeline(spark, cyclic, target="dlt_cycle")


def test_import_dlt_alias_is_opt_in():
    import sys

    dlt.install_alias()
    assert sys.modules["dlt"] is dlt


def _stream_definitions():
    def define():
        @dlt.table(name="bills_stream")
        @dlt.expect_or_drop("positive", "amount > 0")
        def bills_stream():
            return dlt.read_stream("dlt_src.bills")

    return define


def _append(spark, rows):
    spark.createDataFrame(rows, "id long, amount double").write.format("delta").mode("append").saveAsTable("dlt_src.bills")


def test_streaming_table_reads_only_what_was_appended(spark):
    from odoolake.delta_log import NonAppendChange

    spark.sql("CREATE SCHEMA IF NOT EXISTS dlt_src")
    spark.createDataFrame([(1, 10.0), (2, -1.0)], "id long, amount double").write.format("delta") \
        .mode("overwrite").saveAsTable("dlt_src.bills")
    first = run_pipeline(spark, _stream_definitions(), target="dlt_stream")
    assert first[0].kind == "streaming_table" and first[0].rows == 1
    _append(spark, [(3, 5.0), (4, -7.0)])
    spark.sql("OPTIMIZE dlt_src.bills")  # compaction rewrites files without changing data: not re-read
    second = run_pipeline(spark, _stream_definitions(), target="dlt_stream")
    assert second[0].rows == 1
    assert {m["name"]: (m["passed_records"], m["failed_records"]) for m in second[0].expectations} == {"positive": (1, 1)}
    assert sorted(r["id"] for r in spark.table("dlt_stream.bills_stream").collect()) == [1, 3]
    assert run_pipeline(spark, _stream_definitions(), target="dlt_stream")[0].rows == 0  # nothing new

    spark.sql("DELETE FROM dlt_src.bills WHERE id = 1")
    with pytest.raises(NonAppendChange, match=r"dlt_src.bills changed in place at version \d+ \(DELETE\).*full refresh"):
        run_pipeline(spark, _stream_definitions(), target="dlt_stream")
    assert sorted(r["id"] for r in spark.table("dlt_stream.bills_stream").collect()) == [1, 3]  # untouched
    rebuilt = run_pipeline(spark, _stream_definitions(), target="dlt_stream", full_refresh=True)
    assert rebuilt[0].rows == 1 and [r["id"] for r in spark.table("dlt_stream.bills_stream").collect()] == [3]


def test_a_materialized_view_is_recomputed_whole_on_each_update(spark):
    source = {"rows": [("RIM", 10.0), ("BOM", 4.0)]}

    def define():
        @dlt.materialized_view(name="agency_totals", comment="per agency")
        def totals():
            from pyspark.sql import functions as F

            return dlt.read("payments").groupBy("agency").agg(F.sum("amount").alias("amount"))

        @dlt.table
        def payments():
            return spark.createDataFrame(source["rows"], "agency string, amount double")

    first = run_pipeline(spark, define, target="dlt_mv")
    assert [(r.name, r.kind) for r in first] == [("payments", "table"), ("agency_totals", "materialized_view")]
    source["rows"] = [("RIM", 1.0)]
    run_pipeline(spark, define, target="dlt_mv")
    assert [(r["agency"], r["amount"]) for r in spark.table("dlt_mv.agency_totals").collect()] == [("RIM", 1.0)]


def _live_definitions(spark):
    """Datasets that read each other by their LIVE names, each defined before what it reads."""
    live = dlt.LiveSession(spark)

    def define():
        @dlt.table
        def by_agency():  # SQL naming a table and a view of the pipeline, one LIVE-qualified, one bare
            return live.sql("SELECT c.agency, SUM(c.amount) AS amount, MAX(r.n) AS n "
                            "FROM LIVE.clean_bills c JOIN (SELECT COUNT(*) AS n FROM raw_bills) r GROUP BY c.agency")

        @dlt.table
        def clean_bills():
            return live.read.format("delta").table("LIVE.raw_bills").where("amount > 0")

        @dlt.table
        def counted():
            return live.table("live.`clean_bills`").groupBy().count()

        @dlt.view
        def raw_bills():
            return spark.createDataFrame([("RIM", 10.0), ("RIM", -2.0), ("BOM", 4.0)], "agency string, amount double")

    return define


def test_live_names_read_the_pipelines_own_datasets_in_dependency_order(spark):
    results = run_pipeline(spark, _live_definitions(spark), target="dlt_live")
    assert [r.name for r in results] == ["raw_bills", "clean_bills", "by_agency", "counted"]
    rows = {r["agency"]: (r["amount"], r["n"]) for r in spark.table("dlt_live.by_agency").collect()}
    assert rows == {"RIM": (10.0, 3), "BOM": (4.0, 3)}
    assert spark.table("dlt_live.counted").first()["count"] == 2


def test_live_names_are_refused_by_name_outside_a_dataset_or_the_pipeline(spark):
    live = dlt.LiveSession(spark)

    def unknown():
        @dlt.table
        def reads_a_typo():
            return live.table("LIVE.no_such_dataset")

    with pytest.raises(PipelineDefinitionError, match=r"LIVE\.no_such_dataset is not a dataset of this pipeline "
                                                       r"\(defined: reads_a_typo\)"):
        run_pipeline(spark, unknown, target="dlt_live_bad")

    def top_level():
        @dlt.table
        def early():
            return spark.range(1)

        live.sql("SELECT * FROM LIVE.early")

    with pytest.raises(PipelineDefinitionError, match=r"LIVE\.early is read while the pipeline's datasets are being "
                                                       r"defined"):
        run_pipeline(spark, top_level, target="dlt_live_bad")
    assert not spark.catalog.tableExists("dlt_live_bad.reads_a_typo")


def test_a_live_session_leaves_other_names_and_calls_to_the_session(spark):
    live = dlt.LiveSession(spark)
    spark.sql("CREATE SCHEMA IF NOT EXISTS dlt_live_other")
    spark.createDataFrame([(1,)], "id long").write.format("delta").mode("overwrite").saveAsTable("dlt_live_other.t")

    def define():
        @dlt.table
        def copy():  # a two-part name outside LIVE is a catalog table, not a dataset
            return live.sql("SELECT id FROM dlt_live_other.t").unionByName(live.table("dlt_live_other.t"))

    results = run_pipeline(spark, define, target="dlt_live_other")
    assert results[0].rows == 2
    assert live.conf.get("spark.sql.session.timeZone") == spark.conf.get("spark.sql.session.timeZone")
    assert live.sql("SELECT 1 AS one").first()["one"] == 1  # no dataset named: the text goes as written


def _two_tables(spark, source: dict):
    def define():
        @dlt.table(comment="the raw rows", table_properties={"quality": "bronze"})
        def first():
            return spark.createDataFrame(source["first"], "id long")

        @dlt.table
        def second():
            return dlt.read("first").selectExpr(source.get("second", "id * 10 AS id"))

    return define


def _ids(spark, table: str) -> list[int]:
    return sorted(r["id"] for r in spark.table(table).collect())


def test_an_update_replaces_only_tables_its_pipeline_owns(spark):
    """A pipeline overwrote any table of its datasets' names: a hand-made one, or another pipeline's."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS dlt_owned")
    spark.sql("CREATE OR REPLACE TABLE dlt_owned.first USING DELTA AS SELECT 42 AS id")
    with pytest.raises(PipelineDefinitionError, match=r"Table dlt_owned.first exists and was made outside any "
                                                      r"pipeline: this pipeline does not replace it"):
        run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_owned", pipeline_id="p-a")
    assert _ids(spark, "dlt_owned.first") == [42]  # kept
    assert not spark.catalog.tableExists("dlt_owned.second")  # refused in the analysis: nothing was written
    from odoolake.dlt import UpdateScope

    with pytest.raises(PipelineDefinitionError, match="made outside any pipeline"):  # validate_only says so too
        run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_owned", pipeline_id="p-a",
                     scope=UpdateScope(validate_only=True))
    spark.sql("DROP TABLE dlt_owned.first")
    run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_owned", pipeline_id="p-a")
    run_pipeline(spark, _two_tables(spark, {"first": [(2,)]}), target="dlt_owned", pipeline_id="p-a")  # its own
    assert _ids(spark, "dlt_owned.first") == [2]
    with pytest.raises(PipelineDefinitionError, match="was made by pipeline p-a"):
        run_pipeline(spark, _two_tables(spark, {"first": [(3,)]}), target="dlt_owned", pipeline_id="p-b")
    assert _ids(spark, "dlt_owned.first") == [2]
    with pytest.raises(PipelineDefinitionError, match="was made by pipeline p-a"):  # nor drops it for a full refresh
        run_pipeline(spark, _two_tables(spark, {"first": [(3,)]}), target="dlt_owned", pipeline_id="p-b",
                     full_refresh=True)
    assert _ids(spark, "dlt_owned.first") == [2]


def test_a_table_the_pipeline_wrote_before_tables_were_marked_is_still_its_own(spark):
    run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_legacy", pipeline_id="p-old")
    spark.sql("ALTER TABLE dlt_legacy.first UNSET TBLPROPERTIES ('pipelines.pipelineId')")  # as older versions left it
    run_pipeline(spark, _two_tables(spark, {"first": [(5,)]}), target="dlt_legacy", pipeline_id="p-old")
    assert _ids(spark, "dlt_legacy.first") == [5]
    spark.sql("ALTER TABLE dlt_legacy.first UNSET TBLPROPERTIES ('pipelines.pipelineId')")
    with pytest.raises(PipelineDefinitionError, match="made outside any pipeline"):  # another pipeline never wrote it
        run_pipeline(spark, _two_tables(spark, {"first": [(6,)]}), target="dlt_legacy", pipeline_id="p-new")


def test_tables_carry_their_comment_and_properties(spark):
    run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_props", pipeline_id="p-props")
    props = {r["key"]: r["value"] for r in spark.sql("SHOW TBLPROPERTIES dlt_props.first").collect()}
    assert props["quality"] == "bronze" and props["pipelines.pipelineId"] == "p-props"
    detail = spark.sql("DESCRIBE DETAIL dlt_props.first").first()
    assert detail["description"] == "the raw rows"


def test_nothing_is_written_until_every_dataset_is_analysed(spark):
    """An analysis error in a later dataset failed the update after earlier tables were rewritten."""
    run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_analysis", pipeline_id="p-an")
    with pytest.raises(PipelineDefinitionError, match=r"Dataset second: .*no_such_col"):
        run_pipeline(spark, _two_tables(spark, {"first": [(9,)], "second": "no_such_col AS id"}),
                     target="dlt_analysis", pipeline_id="p-an")
    assert _ids(spark, "dlt_analysis.first") == [1]

    def aggregate_expectation():
        @dlt.table
        @dlt.expect("not_a_row_condition", "count(*) > 0")
        def counted():
            return spark.createDataFrame([(1,)], "id long")

    with pytest.raises(PipelineDefinitionError, match="Expectation 'not_a_row_condition' of dataset counted is not "
                                                      "a condition on one row"):
        run_pipeline(spark, aggregate_expectation, target="dlt_analysis", pipeline_id="p-an")


def test_a_validate_only_update_writes_nothing(spark):
    from odoolake.dlt import UpdateScope

    results = run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_validate",
                           pipeline_id="p-v", scope=UpdateScope(validate_only=True))
    assert [r.name for r in results] == ["first", "second"]
    assert not spark.catalog.tableExists("dlt_validate.first")
    assert not spark.catalog.tableExists("dlt_validate.event_log")


def test_a_selection_refreshes_only_the_datasets_it_names(spark):
    from odoolake.dlt import UpdateScope

    run_pipeline(spark, _two_tables(spark, {"first": [(1,)]}), target="dlt_select", pipeline_id="p-s")
    results = run_pipeline(spark, _two_tables(spark, {"first": [(2,)]}), target="dlt_select", pipeline_id="p-s",
                           scope=UpdateScope(refresh=frozenset({"SECOND"})))  # names in any case
    assert [r.name for r in results] == ["second"]
    assert _ids(spark, "dlt_select.first") == [1]  # not selected: kept, and read as it is
    assert _ids(spark, "dlt_select.second") == [10]
    run_pipeline(spark, _two_tables(spark, {"first": [(3,)]}), target="dlt_select", pipeline_id="p-s",
                 scope=UpdateScope(reset=frozenset({"first"})), update_id="reset-first")
    assert _ids(spark, "dlt_select.first") == [3] and _ids(spark, "dlt_select.second") == [10]
    logged = spark.table("dlt_select.event_log").where("update_id = 'reset-first'").collect()
    assert {(r["dataset"], r["full_refresh"]) for r in logged} == {("first", True)}  # the reset one says so
    with pytest.raises(PipelineDefinitionError, match=r"selects nope, which this pipeline does not define "
                                                      r"\(defined: first, second\)"):
        run_pipeline(spark, _two_tables(spark, {"first": [(4,)]}), target="dlt_select", pipeline_id="p-s",
                     scope=UpdateScope(refresh=frozenset({"nope"})))
    with pytest.raises(PipelineDefinitionError, match="Dataset first is not selected for this update and has no "
                                                      "table yet"):
        run_pipeline(spark, _two_tables(spark, {"first": [(4,)]}), target="dlt_select_new", pipeline_id="p-s2",
                     scope=UpdateScope(refresh=frozenset({"second"})))


def test_a_stopped_update_still_records_its_expectation_metrics_under_the_api_update_id(spark):
    with pytest.raises(ExpectationFailed):
        run_pipeline(spark, definitions(spark, fail_on_negative=True), target="dlt_fail_log", pipeline_id="p-f",
                     update_id="api-update-1")
    log = spark.table("dlt_fail_log.event_log").where("update_id = 'api-update-1' AND dataset = 'strict'").collect()
    assert [(r["expectation"], r["failed_records"]) for r in log] == [("no_negatives", 2)]


def test_what_local_pipelines_cannot_do_is_refused_by_name():
    with pytest.raises(PipelineDefinitionError, match=r"@dlt.table\(cluster_by=…\) is not supported by local "
                                                      r"pipelines: liquid clustering"):
        dlt.table(cluster_by=["id"])
    with pytest.raises(PipelineDefinitionError, match=r"@dlt.table\(temporary=…\)"):
        dlt.table(temporary=True)
    with pytest.raises(TypeError, match="comentt"):
        dlt.table(comentt="a typo")  # type: ignore[call-arg]
    with pytest.raises(PipelineDefinitionError, match=r"dlt\.apply_changes is not supported by local pipelines: "
                                                      r"change-data-capture"):
        dlt.apply_changes(target="t", source="s", keys=["id"], sequence_by="ts")
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        dlt.no_such_thing  # noqa: B018
    dlt.reset()
    with pytest.raises(PipelineDefinitionError, match="cannot be named 'event_log' locally"):
        @dlt.table(name="event_log")
        def metrics():
            return None


def test_a_stream_of_a_dataset_recomputed_on_every_update_is_refused_before_anything_is_written(spark):
    """It worked once, then every update failed with "changed in place" (the pipeline itself rewrote the source)."""
    def define():
        @dlt.table
        def base():
            return spark.range(3)

        @dlt.table
        def follower():
            return dlt.read_stream("base")

    with pytest.raises(PipelineDefinitionError, match="follower reads base as a stream, but base is recomputed whole "
                                                      "on every update"):
        run_pipeline(spark, define, target="dlt_stream_of_mv", pipeline_id="p-mv")
    assert not spark.catalog.tableExists("dlt_stream_of_mv.base")

    spark.sql("CREATE SCHEMA IF NOT EXISTS dlt_src2")
    spark.range(2).write.format("delta").mode("overwrite").saveAsTable("dlt_src2.events")

    def chained():  # a streaming table over a streaming table is fine
        @dlt.table
        def landed():
            return dlt.read_stream("dlt_src2.events")

        @dlt.table
        def copied():
            return dlt.read_stream("landed")

    run_pipeline(spark, chained, target="dlt_stream_chain", pipeline_id="p-chain")
    assert _ids(spark, "dlt_stream_chain.copied") == [0, 1]


def test_datasets_that_do_not_read_a_failed_one_are_still_refreshed(spark):
    """The first failure stopped the update: an independent table defined after it kept last update's rows."""
    source = {"n": 1}

    def define():
        @dlt.table
        @dlt.expect_or_fail("small", "id < 5")
        def strict():
            return spark.range(source["n"])

        @dlt.table
        def reads_strict():
            return dlt.read("strict")

        @dlt.table
        def independent():
            return spark.range(source["n"] + 100, source["n"] + 101)

    run_pipeline(spark, define, target="dlt_partial", pipeline_id="p-part")
    source["n"] = 10
    with pytest.raises(ExpectationFailed, match="'small' on strict failed for 5 row"):
        run_pipeline(spark, define, target="dlt_partial", pipeline_id="p-part")
    assert _ids(spark, "dlt_partial.independent") == [110]  # refreshed
    assert _ids(spark, "dlt_partial.strict") == [0] and _ids(spark, "dlt_partial.reads_strict") == [0]  # kept


def test_a_dataset_read_by_its_name_in_the_pipelines_schema_is_the_datasets_and_a_stream_of_a_table_streams(spark):
    """``main.<schema>.x`` was a plain table read (stale rows from the last update, or not found on the first);
    ``spark.readStream.table`` of a catalog table re-read the whole table on every update."""
    live = dlt.LiveSession(spark)
    source = {"n": 3}
    spark.sql("CREATE SCHEMA IF NOT EXISTS dlt_src3")
    spark.range(2).write.format("delta").mode("overwrite").saveAsTable("dlt_src3.events")

    def define():
        @dlt.table
        def down():
            return live.table("main.dlt_fq.up").selectExpr("count(*) AS id")

        @dlt.table
        def down_sql():
            return live.sql("SELECT count(*) AS id FROM dlt_fq.up")

        @dlt.table
        def up():
            return spark.range(source["n"])

        @dlt.table
        def followed():
            return live.readStream.table("dlt_src3.events")

    first = run_pipeline(spark, define, target="dlt_fq", pipeline_id="p-fq")
    assert [r.name for r in first][:2] == ["up", "down"]
    assert _ids(spark, "dlt_fq.down") == [3] and _ids(spark, "dlt_fq.down_sql") == [3]
    source["n"] = 7
    spark.range(5, 6).write.format("delta").mode("append").saveAsTable("dlt_src3.events")
    second = run_pipeline(spark, define, target="dlt_fq", pipeline_id="p-fq")
    assert _ids(spark, "dlt_fq.down") == [7]  # this update's up, not the last one's
    followed = next(r for r in second if r.name == "followed")
    assert followed.kind == "streaming_table" and followed.rows == 1  # only the appended row
    assert _ids(spark, "dlt_fq.followed") == [0, 1, 5]


def test_an_expectation_name_is_unique_per_dataset():
    dlt.reset()
    with pytest.raises(PipelineDefinitionError, match="Expectation 'same' is declared twice on twice"):
        @dlt.table
        @dlt.expect("same", "id > 0")
        @dlt.expect_or_drop("same", "id < 9")
        def twice():
            return None
    dlt.reset()
    with pytest.raises(PipelineDefinitionError, match="'same' is declared twice"):
        @dlt.expect_all({"same": "id > 0"})
        @dlt.table
        @dlt.expect("same", "id < 9")
        def above_and_below():
            return None
    dlt.reset()
