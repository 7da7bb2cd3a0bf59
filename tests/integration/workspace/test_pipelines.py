"""The Pipelines API and pipeline_task: a DLT notebook (with `import dlt`) updated through the SDK."""


from datetime import datetime

import pytest
from databricks.sdk.errors import BadRequest, NotFound, NotImplemented
from databricks.sdk.service.catalog import TableType
from databricks.sdk.service.jobs import PipelineTask, RunResultState, Task
from databricks.sdk.service.pipelines import NotebookLibrary, PipelineLibrary
from databricks.sdk.service.workspace import ImportFormat, Language

from odoolake.testing.waiting import wait_until

NOTEBOOK = b"""# Databricks notebook source
import dlt

@dlt.table
@dlt.expect_or_drop("even", "id % 2 = 0")
def numbers():
    return spark.range(10)

@dlt.table
def counted():
    return dlt.read("numbers").groupBy().count()
"""


def wait(w, pipeline_id: str, update_id: str) -> str:
    def finished() -> str | None:
        state = w.pipelines.get_update(pipeline_id, update_id).update.state.value
        return state if state in ("COMPLETED", "FAILED", "CANCELED") else None

    return wait_until(finished, what=f"pipeline update {update_id} to finish")


def test_pipeline_api_and_pipeline_task(w, server):
    w.workspace.upload("/Shared/dlt/numbers", NOTEBOOK, format=ImportFormat.SOURCE, language=Language.PYTHON,
                       overwrite=True)
    created = w.pipelines.create(name="numbers", target="dlt_numbers", libraries=[
        PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/numbers"))])
    pid = created.pipeline_id
    assert any(p.pipeline_id == pid for p in w.pipelines.list_pipelines())
    update = w.pipelines.start_update(pid, full_refresh=True)
    assert wait(w, pid, update.update_id) == "COMPLETED"
    spark = server.workspace.engine.session()
    try:
        assert spark.table("dlt_numbers.counted").first()[0] == 5
        assert spark.table("dlt_numbers.event_log").where("expectation = 'even'").first()["failed_records"] == 5
        described = dict(spark.sql("DESCRIBE TABLE EXTENDED dlt_numbers.counted").select("col_name", "data_type")
                         .collect())
        assert described["Type"] == "MATERIALIZED_VIEW"
    finally:
        server.workspace.engine.stop_session(spark)
    counted = w.tables.get("main.dlt_numbers.counted")  # a pipeline's datasets, as Unity Catalog types them
    assert (counted.table_type, counted.pipeline_id) == (TableType.MATERIALIZED_VIEW, pid)
    assert w.tables.get("main.dlt_numbers.event_log").table_type == TableType.MANAGED  # the pipeline's own log
    summaries = {t.full_name: t.table_type for t in w.tables.list_summaries("main", schema_name_pattern="dlt_numbers")}
    assert summaries["main.dlt_numbers.numbers"] == TableType.MATERIALIZED_VIEW
    job = w.jobs.create(name="with pipeline", tasks=[Task(task_key="p", pipeline_task=PipelineTask(pipeline_id=pid))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.tasks[0].state.state_message
    assert w.pipelines.get(pid).latest_updates[0].state.value == "COMPLETED"
    assert len(list(w.pipelines.list_pipeline_events(pid))) >= 2
    w.pipelines.delete(pid)


def test_a_pipelines_configuration_is_read_with_spark_conf(w, server):
    """Pipeline code reads its parameters with spark.conf.get (Databricks adds configuration to the Spark
    configuration); they reached the notebook only as widgets ("configuration not found")."""
    w.workspace.upload("/Shared/dlt/configured", b"""# Databricks notebook source
import dlt

@dlt.table
def sized():
    return spark.range(int(spark.conf.get("mypipe.rows")))
""", format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    pid = w.pipelines.create(name="configured", target="dlt_configured", configuration={"mypipe.rows": "7"},
                             libraries=[PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/configured"))]
                             ).pipeline_id
    update = w.pipelines.start_update(pid, full_refresh=True)
    assert wait(w, pid, update.update_id) == "COMPLETED"
    spark = server.workspace.engine.session()
    try:
        assert spark.table("dlt_configured.sized").count() == 7
    finally:
        server.workspace.engine.stop_session(spark)
    w.pipelines.delete(pid)


def test_a_pipeline_notebook_reads_its_datasets_by_their_live_names(w, server):
    """``spark.table("LIVE.x")`` and ``FROM LIVE.x`` in SQL read the pipeline's own dataset, whatever the order the
    notebook defines them in (it failed: schema ``LIVE`` not found)."""
    w.workspace.upload("/Shared/dlt/live_names", b"""# Databricks notebook source
import dlt

@dlt.table
def summed():
    return spark.sql("SELECT SUM(id) AS total FROM LIVE.evens")

@dlt.table
def evens():
    return spark.table("LIVE.numbers").where("id % 2 = 0")

@dlt.view
def numbers():
    return spark.range(10)
""", format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    pid = w.pipelines.create(name="live names", target="dlt_live_names", libraries=[
        PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/live_names"))]).pipeline_id
    update = w.pipelines.start_update(pid, full_refresh=True)
    assert wait(w, pid, update.update_id) == "COMPLETED"
    spark = server.workspace.engine.session()
    try:
        assert spark.table("dlt_live_names.summed").first()["total"] == 20
        assert spark.table("dlt_live_names.evens").count() == 5
    finally:
        server.workspace.engine.stop_session(spark)
    w.pipelines.delete(pid)


def test_pipeline_edit_changes_what_the_next_update_writes_and_bad_edits_keep_the_spec(w, server):
    from databricks.sdk.errors import InvalidParameterValue, NotFound, ResourceConflict

    w.workspace.upload("/Shared/dlt/edited", NOTEBOOK, format=ImportFormat.SOURCE, language=Language.PYTHON,
                       overwrite=True)
    library = [PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/edited"))]
    pid = w.pipelines.create(name="before edit", target="dlt_before", libraries=library).pipeline_id
    other = w.pipelines.create(name="another", target="dlt_other", libraries=library).pipeline_id
    w.pipelines.update(pid, name="after edit", target="dlt_after", libraries=library)
    got = w.pipelines.get(pid)
    assert (got.name, got.spec.target) == ("after edit", "dlt_after")
    assert wait(w, pid, w.pipelines.start_update(pid).update_id) == "COMPLETED"
    spark = server.workspace.engine.session()
    try:
        assert spark.table("dlt_after.counted").first()[0] == 5
        assert not spark.catalog.tableExists("dlt_before.counted")
    finally:
        server.workspace.engine.stop_session(spark)
    with pytest.raises(ResourceConflict, match="A pipeline named 'another' already exists"):
        w.pipelines.update(pid, name="another", target="dlt_after", libraries=library)
    with pytest.raises(InvalidParameterValue, match="needs at least one notebook library"):
        w.pipelines.update(pid, name="after edit", target="dlt_after", libraries=[])
    with pytest.raises(NotFound, match="was not found"):
        w.pipelines.update("0000-no-such-pipeline", name="x", target="dlt_x", libraries=library)
    kept = w.pipelines.get(pid)
    assert (kept.name, kept.spec.target, len(kept.spec.libraries)) == ("after edit", "dlt_after", 1)
    w.pipelines.update(pid, name="another", target="dlt_after", libraries=library, allow_duplicate_names=True)
    for p in (pid, other):
        w.pipelines.delete(p)


def test_a_second_update_while_one_runs_is_a_conflict(w, tmp_path):
    from databricks.sdk.errors import ResourceConflict

    release = tmp_path / "release"  # the first update holds until the test creates this file
    w.workspace.upload("/Shared/dlt/held", NOTEBOOK + f"""
import os, time
while not os.path.exists({str(release)!r}):
    time.sleep(0.05)
""".encode(), format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    pid = w.pipelines.create(name="held", target="dlt_held", libraries=[
        PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/held"))]).pipeline_id
    first = w.pipelines.start_update(pid).update_id
    try:
        with pytest.raises(ResourceConflict, match=f"Pipeline {pid} already has an active update"):
            w.pipelines.start_update(pid)
    finally:
        release.touch()
    assert wait(w, pid, first) == "COMPLETED"
    w.pipelines.delete(pid)


SLOW = b"""# Databricks notebook source
import time
import dlt

@dlt.table
def first():
    return spark.range(3)

@dlt.table
def slow():
    if spark.catalog.tableExists(spark.conf.get("mypipe.schema") + ".first"):  # the update's run, not its analysis
        time.sleep(float(spark.conf.get("mypipe.sleep", "0")))
    return dlt.read("first").selectExpr("id * 10 AS id")
"""


def _failure(w, pipeline_id: str, update_id: str) -> str:
    """Why an update failed, as a user reads it: the ERROR event of the update."""
    return next(e.message for e in w.pipelines.list_pipeline_events(pipeline_id, filter="level='ERROR'")
                if e.origin.update_id == update_id)


def _ids(server, table: str) -> list[int]:
    spark = server.workspace.engine.session()
    try:
        return sorted(r["id"] for r in spark.table(table).collect())
    finally:
        server.workspace.engine.stop_session(spark)


def _slow_pipeline(w, name: str, schema: str, sleep: float = 0, catalog: str | None = None) -> str:
    w.workspace.upload("/Shared/dlt/slow", SLOW, format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    return w.pipelines.create(name=name, schema=schema, catalog=catalog,
                              configuration={"mypipe.sleep": str(sleep), "mypipe.schema": schema},
                              libraries=[PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/slow"))]
                              ).pipeline_id


def test_validate_only_and_refresh_selections_do_what_they_say(w, server):
    """validate_only ran a full update, writing every table; refresh_selection and full_refresh_selection were
    ignored (every dataset refreshed)."""
    pid = _slow_pipeline(w, "selections", "dlt_selections")
    update = w.pipelines.start_update(pid, validate_only=True)
    assert wait(w, pid, update.update_id) == "COMPLETED"
    assert w.pipelines.get_update(pid, update.update_id).update.validate_only is True
    spark = server.workspace.engine.session()
    try:
        assert not spark.catalog.tableExists("dlt_selections.first")  # validated, nothing written
    finally:
        server.workspace.engine.stop_session(spark)
    assert wait(w, pid, w.pipelines.start_update(pid).update_id) == "COMPLETED"
    assert _ids(server, "main.dlt_selections.slow") == [0, 10, 20]
    w.pipelines.update(pid, name="selections", schema="dlt_selections",
                       configuration={"mypipe.sleep": "0", "mypipe.schema": "dlt_selections"},
                       libraries=[PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/slow"))])
    selected = w.pipelines.start_update(pid, refresh_selection=["slow"])
    assert wait(w, pid, selected.update_id) == "COMPLETED"
    assert w.pipelines.get_update(pid, selected.update_id).update.refresh_selection == ["slow"]
    bad = w.pipelines.start_update(pid, refresh_selection=["nope"])
    assert wait(w, pid, bad.update_id) == "FAILED"
    assert "selects nope, which this pipeline does not define" in _failure(w, pid, bad.update_id)
    # listing: the documented filters, and pages of max_results
    assert [p.pipeline_id for p in w.pipelines.list_pipelines(filter="name LIKE 'select%'")] == [pid]
    assert pid in [p.pipeline_id for p in w.pipelines.list_pipelines(filter="notebook='/Shared/dlt/slow'")]
    assert not list(w.pipelines.list_pipelines(filter="name LIKE 'selections_'"))
    other = _slow_pipeline(w, "selections' neighbour", "dlt_neighbour")
    page = w.api_client.do("GET", "/api/2.0/pipelines", query={"max_results": 1})
    assert len(page["statuses"]) == 1 and page["next_page_token"]
    assert len(list(w.pipelines.list_pipelines(max_results=1))) == len(list(w.pipelines.list_pipelines())) >= 2
    w.pipelines.delete(other)
    with pytest.raises(BadRequest, match="filtered by name LIKE '<pattern>' or notebook='<path>'"):
        list(w.pipelines.list_pipelines(filter="name = 'x' AND notebook = 'y'"))
    with pytest.raises(BadRequest, match="cannot be combined with refresh_selection"):
        w.pipelines.start_update(pid, full_refresh=True, refresh_selection=["slow"])
    assert [u.update_id for u in w.pipelines.list_updates(pid).updates][:2] == [bad.update_id, selected.update_id]
    # the event log: RFC 3339 timestamps, newest first, filtered and limited as asked
    events = list(w.pipelines.list_pipeline_events(pid))
    stamps = [datetime.fromisoformat(e.timestamp.replace("Z", "+00:00")) for e in events]
    assert stamps == sorted(stamps, reverse=True) and events[0].origin.update_id == bad.update_id
    errors = list(w.pipelines.list_pipeline_events(pid, filter="level='ERROR'"))
    assert [e.origin.update_id for e in errors] == [bad.update_id] and errors[0].error.fatal
    oldest = next(iter(w.pipelines.list_pipeline_events(pid, order_by=["timestamp asc"], max_results=1)))
    assert oldest.event_type == "create_update" and oldest.origin.update_id == update.update_id
    since = events[1].timestamp
    assert all(e.timestamp > since for e in w.pipelines.list_pipeline_events(pid, filter=f"timestamp > '{since}'"))
    page = w.api_client.do("GET", f"/api/2.0/pipelines/{pid}/events", query={"max_results": 2})
    assert len(page["events"]) == 2 and page["next_page_token"]  # a page, as the SDK reads it: it follows the token
    following = w.api_client.do("GET", f"/api/2.0/pipelines/{pid}/events",
                                query={"max_results": 2, "page_token": page["next_page_token"]})
    assert [e["id"] for e in following["events"]] == [e.id for e in events[2:4]]
    with pytest.raises(BadRequest, match="it was given for another filter or order_by; ask for the first page"):
        w.api_client.do("GET", f"/api/2.0/pipelines/{pid}/events", query={  # an offset into other events
            "max_results": 2, "page_token": page["next_page_token"], "filter": "level='ERROR'"})
    assert len(list(w.pipelines.list_pipeline_events(pid, max_results=2))) == len(events)
    assert [e.id for e in w.pipelines.list_pipeline_events(pid, filter=f"id='{events[0].id}'")] == [events[0].id]
    with pytest.raises(BadRequest, match="LIKE 'x'\" is not a term on level, event_type, timestamp or id"):
        list(w.pipelines.list_pipeline_events(pid, filter="name LIKE 'x'"))
    w.pipelines.delete(pid)


def test_stop_cancels_the_running_update_and_nothing_it_started_is_written(w, server):
    pid = _slow_pipeline(w, "stoppable", "dlt_stoppable", sleep=600)
    update = w.pipelines.start_update(pid)
    wait_until(lambda: _exists(server, "dlt_stoppable.first"), what="the update's first table")
    w.pipelines.stop(pid)
    assert wait(w, pid, update.update_id) == "CANCELED"
    assert w.pipelines.get(pid).state.value == "IDLE"
    assert not _exists(server, "dlt_stoppable.slow")
    w.pipelines.delete(pid)


def _exists(server, table: str) -> bool:
    spark = server.workspace.engine.session()
    try:
        return spark.catalog.tableExists(table)
    finally:
        server.workspace.engine.stop_session(spark)


def test_a_pipeline_publishes_to_its_catalog_and_refuses_tables_it_does_not_own(w, server):
    """The catalog was ignored (a missing one accepted, tables in main), and a dataset replaced a hand-made table
    of its name."""
    with pytest.raises(NotImplemented, match="Continuous pipelines are not supported locally"):
        w.pipelines.create(name="always on", schema="dlt_continuous", continuous=True, libraries=[
            PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/slow"))])
    with pytest.raises(NotFound, match="no_such_catalog"):
        _slow_pipeline(w, "no catalog", "dlt_nocat", catalog="no_such_catalog")
    assert not [p for p in w.pipelines.list_pipelines() if p.name == "no catalog"]

    wh = next(iter(w.warehouses.list())).id
    w.statement_execution.execute_statement(statement="CREATE SCHEMA IF NOT EXISTS main.dlt_owned",
                                            warehouse_id=wh, wait_timeout="30s")
    w.statement_execution.execute_statement(statement="CREATE OR REPLACE TABLE main.dlt_owned.first AS SELECT 42 AS id",
                                            warehouse_id=wh, wait_timeout="30s")
    pid = _slow_pipeline(w, "owned", "dlt_owned", catalog="main")
    update = w.pipelines.start_update(pid)
    assert wait(w, pid, update.update_id) == "FAILED"
    assert "main.dlt_owned.first exists and was made outside any pipeline" in _failure(w, pid, update.update_id)
    assert _ids(server, "main.dlt_owned.first") == [42]
    w.pipelines.delete(pid)


def test_a_sql_pipeline_source_is_refused_by_name(w, server):
    """A SQL notebook reached the engine as DDL it cannot parse: a PARSE_SYNTAX_ERROR on valid Databricks SQL."""
    w.workspace.upload("/Shared/dlt/sql_source", b"-- Databricks notebook source\n"
                       b"CREATE OR REFRESH MATERIALIZED VIEW totals AS SELECT 1 AS n\n",
                       format=ImportFormat.SOURCE, language=Language.SQL, overwrite=True)
    pid = w.pipelines.create(name="sql source", schema="dlt_sql", libraries=[
        PipelineLibrary(notebook=NotebookLibrary(path="/Shared/dlt/sql_source"))]).pipeline_id
    update = w.pipelines.start_update(pid)
    assert wait(w, pid, update.update_id) == "FAILED"
    assert "/Shared/dlt/sql_source is a SQL notebook: local pipelines run Python datasets only" in _failure(
        w, pid, update.update_id)
    w.pipelines.delete(pid)


def test_deleting_a_pipeline_drops_the_tables_it_made_unless_told_not_to(w, server):
    """Deleting a pipeline left its tables behind; on Databricks the delete cascades unless cascade=false."""
    kept, dropped = _slow_pipeline(w, "kept", "dlt_kept"), _slow_pipeline(w, "dropped", "dlt_dropped")
    for pid in (kept, dropped):
        assert wait(w, pid, w.pipelines.start_update(pid).update_id) == "COMPLETED"
    wh = next(iter(w.warehouses.list())).id
    w.statement_execution.execute_statement(statement="CREATE TABLE main.dlt_dropped.hand_made AS SELECT 1 AS id",
                                            warehouse_id=wh, wait_timeout="30s")
    w.pipelines.delete(kept, cascade=False)
    w.pipelines.delete(dropped)
    assert _exists(server, "main.dlt_kept.first") and _exists(server, "main.dlt_kept.slow")
    assert not _exists(server, "main.dlt_dropped.first") and not _exists(server, "main.dlt_dropped.slow")
    assert _ids(server, "main.dlt_dropped.hand_made") == [1]  # not the pipeline's: kept


def test_a_resource_whose_key_is_renamed_is_replaced_and_a_removed_file_removed_on_deploy(w, server, tmp_path):
    """Deploy created the renamed pipeline before deleting the old one, and a pipeline's name is unique: refused
    'already exists'. The experiment under the new key adopted the old one's, then deleted it. Files removed from
    the bundle stayed in the workspace."""
    from odoolake.bundles.deploy import deploy, destroy, read_state
    from odoolake.bundles.loader import load_bundle

    text = """bundle: {name: renamed_keys}
resources:
  pipelines:
    __KEY__:
      name: Quality DLT of renamed keys
      target: renamed_keys_dlt
      libraries:
        - notebook: {path: /Shared/no-such-pipeline-notebook}
  experiments:
    __KEY__:
      name: /Shared/renamed-keys-experiment
targets:
  local: {default: true, workspace: {host: __HOST__}}
"""

    def bundle(key: str):
        (tmp_path / "databricks.yml").write_text(text.replace("__KEY__", key).replace("__HOST__", server.url))
        return load_bundle(tmp_path, "local", user="tester@example.ph", env={})

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "gone.py").write_text("# Databricks notebook source\nprint('soon removed')\n")
    (tmp_path / "src" / "gone.yml").write_text("a: 1\n")
    (tmp_path / "src" / "kept.py").write_text("print('a plain file')\n")
    first = bundle("quality_dlt")
    deploy(w, first)
    before = read_state(w, first)
    files = first.config["workspace"]["file_path"]
    assert {o.path.rsplit("/", 1)[1] for o in w.workspace.list(f"{files}/src")} == {"gone", "gone.yml", "kept.py"}
    (tmp_path / "src" / "gone.py").unlink()  # a notebook and a file removed from the bundle: removed there too
    (tmp_path / "src" / "gone.yml").unlink()
    renamed = bundle("quality_pipe")
    actions = [(a.kind, a.resource) for a in deploy(w, renamed).actions]
    assert actions[:2] == [("delete", "pipelines.quality_dlt"), ("delete", "experiments.quality_dlt")]
    state = read_state(w, renamed)
    assert not {"pipelines.quality_dlt", "experiments.quality_dlt"} & set(state)
    assert w.pipelines.get(state["pipelines.quality_pipe"]).name == "Quality DLT of renamed keys"
    with pytest.raises(NotFound):
        w.pipelines.get(before["pipelines.quality_dlt"])
    experiment = w.experiments.get_experiment(state["experiments.quality_pipe"]).experiment
    assert (experiment.experiment_id, experiment.lifecycle_stage) == (before["experiments.quality_dlt"], "active")
    assert {o.path.rsplit("/", 1)[1] for o in w.workspace.list(f"{files}/src")} == {"kept.py"}
    assert sorted(destroy(w, renamed)) == ["experiments.quality_pipe", "pipelines.quality_pipe"]
