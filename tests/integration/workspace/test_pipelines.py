"""The Pipelines API and pipeline_task: a DLT notebook (with `import dlt`) updated through the SDK."""


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
    finally:
        server.workspace.engine.stop_session(spark)
    job = w.jobs.create(name="with pipeline", tasks=[Task(task_key="p", pipeline_task=PipelineTask(pipeline_id=pid))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.tasks[0].state.state_message
    assert w.pipelines.get(pid).latest_updates[0].state.value == "COMPLETED"
    assert len(list(w.pipelines.list_pipeline_events(pid))) >= 2
    w.pipelines.delete(pid)
