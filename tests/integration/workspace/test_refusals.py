"""What the local workspace refuses, and how: a named error, never a fake success."""

import base64

import httpx
import pytest
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.jobs import PipelineTask, RunResultState, Task
from databricks.sdk.service.sql import Disposition, Format


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=60) as c:
        yield c


def test_unsupported_task_types_are_refused_naming_the_field(http):
    r = http.post("/api/2.2/jobs/create", json={"name": "jar", "tasks": [
        {"task_key": "j", "spark_jar_task": {"main_class_name": "Main"}}]})
    assert r.status_code == 400 and "tasks[0].spark_jar_task" in r.json()["message"]
    r = http.post("/api/2.2/jobs/create", json={"name": "q", "tasks": [
        {"task_key": "q", "sql_task": {"query": {"query_id": "1"}, "warehouse_id": "x"}}]})
    assert r.status_code == 400 and "sql_task.query" in r.json()["message"]
    r = http.post("/api/2.2/jobs/create", json={"name": "cycle", "tasks": [
        {"task_key": "a", "depends_on": [{"task_key": "b"}], "notebook_task": {"notebook_path": "/a"}},
        {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/b"}}]})
    assert r.status_code == 400 and "cycle" in r.json()["message"]


def test_pipeline_task_with_an_unknown_pipeline_fails_with_a_reason(w):
    run = w.jobs.submit(run_name="dlt", tasks=[Task(task_key="p", pipeline_task=PipelineTask(pipeline_id="x"))]).result()
    assert run.state.result_state == RunResultState.FAILED
    assert "pipeline x was not found" in run.tasks[0].state.state_message


def test_export_and_presigned_urls_are_501(http):
    assert http.get("/api/2.2/jobs/runs/export", params={"run_id": 1}).status_code == 501
    assert http.post("/api/2.0/fs/create-download-url", params={"path": "/Volumes/a/b/c/d"}).status_code == 501


def test_clusters_and_warehouses_cannot_be_created(w, http):
    r = http.post("/api/2.1/clusters/create", json={"cluster_name": "x", "spark_version": "15.4.x-scala2.12"})
    assert r.status_code == 400 and "one cluster" in r.json()["message"]
    assert http.post("/api/2.0/sql/warehouses", json={"name": "x"}).status_code == 400
    warehouse = next(iter(w.warehouses.list())).id
    with pytest.raises(BadRequest, match=f"warehouse {warehouse} cannot be edited"):
        w.warehouses.edit(warehouse, cluster_size="Small")
    with pytest.raises(BadRequest, match=f"warehouse {warehouse} cannot be deleted"):
        w.warehouses.delete(warehouse)
    assert next(iter(w.warehouses.list())).id == warehouse  # still there
    with pytest.raises(NotFound, match="Warehouse nosuch does not exist"):
        w.warehouses.delete("nosuch")


def test_inline_arrow_or_csv_and_html_import_are_refused(w, http):
    warehouse = next(iter(w.warehouses.list())).id
    for fmt in (Format.ARROW_STREAM, Format.CSV):  # as on Databricks: only EXTERNAL_LINKS carries them
        with pytest.raises(BadRequest, match=f"format {fmt.value} requires disposition EXTERNAL_LINKS"):
            w.statement_execution.execute_statement(warehouse_id=warehouse, statement="SELECT 1",
                                                    disposition=Disposition.INLINE, format=fmt)
    r = http.post("/api/2.0/workspace/import", json={"path": "/Shared/h", "format": "HTML", "content": ""})
    assert r.status_code == 501


def test_oversized_uploads_are_400_and_write_nothing(w, http):
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    r = http.post("/api/2.0/dbfs/put", json={"path": "/big.bin", "contents": big})
    assert r.status_code == 400 and "contents" in r.json()["message"]
    assert http.get("/api/2.0/dbfs/get-status", params={"path": "/big.bin"}).status_code == 404
    huge = base64.b64encode(b"# Databricks notebook source\n" + b"#" * (11 * 1024 * 1024)).decode()
    r = http.post("/api/2.0/workspace/import", json={"path": "/Shared/huge", "format": "SOURCE",
                                                     "language": "PYTHON", "content": huge})
    assert r.status_code == 400 and "content" in r.json()["message"]
    assert http.get("/api/2.0/workspace/get-status", params={"path": "/Shared/huge"}).status_code == 404


def test_bad_base64_and_unknown_enums_name_the_field(http):
    r = http.post("/api/2.0/dbfs/put", json={"path": "/x", "contents": "%%%not base64"})
    assert r.status_code == 400 and "contents" in r.json()["message"]
    r = http.post("/api/2.0/workspace/import", json={"path": "/Shared/x", "format": "PDF", "content": ""})
    assert r.status_code == 400 and "format" in r.json()["message"]
    r = http.get("/api/2.2/jobs/runs/list", params={"run_type": "NOPE"})  # filtered to nothing, with a 200
    assert r.status_code == 400 and r.json()["message"] == \
        "Invalid run_type 'NOPE': expected one of JOB_RUN, WORKFLOW_RUN, SUBMIT_RUN."
    assert http.get("/api/2.2/jobs/runs/list", params={"run_type": "SUBMIT_RUN"}).status_code == 200
