"""Stopping a task stops its work: a large append cancelled, timed out or whose task process is killed (SIGKILL)
mid-write never commits, even after the time it would have needed to finish, and a re-run leaves exactly one copy
of its rows. The only commit a stopped write leaves is its table's fence (a property, no data)."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import (
    JobParameterDefinition,
    JobSettings,
    NotebookTask,
    RunLifeCycleState,
    RunResultState,
    Task,
)
from databricks.sdk.service.workspace import ImportFormat, Language
from deltalake import DeltaTable

from odoolake.testing.waiting import wait_until
from odoolake.workspace.catalog.store import FullName
from odoolake.workspace.engine.fence import FENCE_PROPERTY, fence_table
from odoolake.workspace.engine.launcher import engine_status

from .conftest import running_server

BASE_ROWS = 1_000_000
BATCH_ROWS = 2_000
PAUSE = 0.02
# A Python UDF that pauses makes the append slow on purpose: 2000 rows × 20 ms in one partition is 40 s of work (in
# four, Sail ran them side by side once the table's columns were nullable), so the write is certainly under way when
# it is stopped. Sail cannot cut a running Python batch short: the interrupted write keeps working until then, and
# must end without a commit.
APPENDER = f"""dbutils.widgets.text("slow", "true")
dbutils.widgets.text("marker", "")
import time
from pyspark.sql import functions as F
from pyspark.sql.types import LongType
slow = dbutils.widgets.get("slow") == "true"
marker = dbutils.widgets.get("marker")

@F.udf(LongType())
def pace(x):  # runs inside the engine, row by row: the marker proves the write is under way
    if slow:
        open(marker, "a").close()
        time.sleep({PAUSE})
    return x

spark.range(0, {BATCH_ROWS}, 1, 1).select(pace("id").alias("id")).withColumn("batch", F.lit("late")) \\
    .write.format("delta").mode("append").saveAsTable("interrupt.target")
"""
WRITE_SECONDS = BATCH_ROWS * PAUSE
TIMEOUT_SECONDS = 30  # start-up (a few seconds) plus part of the write


def _notebook(w, path: str, body: str) -> None:
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(path, content=base64.b64encode(("# Databricks notebook source\n" + body).encode()).decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)


def _wait_for_append_to_start(w, run_id: int, marker) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if marker.exists():
            return
        assert w.jobs.get_run(run_id).state.life_cycle_state in (RunLifeCycleState.PENDING, RunLifeCycleState.RUNNING,
                                                                 RunLifeCycleState.QUEUED)
        time.sleep(0.1)
    raise AssertionError("the append never started")


def _commits_since(location: str, version: int) -> list[dict]:
    return [entry for entry in DeltaTable(location).history() if entry["version"] > version]


def _assert_only_fences(location: str, version: int) -> int:
    """Every commit after ``version`` is a fence (a table property set, no data added); returns how many."""
    commits = _commits_since(location, version)
    for commit in commits:
        assert commit["operation"] == "SET TBLPROPERTIES" and FENCE_PROPERTY in \
            commit["operationParameters"]["properties"], f"a stopped task committed its write: {commit}"
    assert DeltaTable(location).to_pyarrow_table(columns=["batch"]).column("batch").unique().to_pylist() == ["base"]
    return len(commits)


def _watch_for_a_late_commit(location: str, version: int, until: float) -> None:
    """Fail as soon as a data commit appears; pass once the uninterrupted write would long have finished."""
    while time.monotonic() < until:
        _assert_only_fences(location, version)
        time.sleep(0.5)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stop", ["cancel", "timeout", "kill"])
def test_a_stopped_append_never_commits_and_a_rerun_adds_one_copy(tmp_path, stop):
    with running_server(tmp_path / "ws") as srv:
        w = WorkspaceClient(host=srv.url, token=srv.token)
        spark = srv.workspace.engine.session()
        spark.sql("CREATE SCHEMA IF NOT EXISTS interrupt")
        spark.range(BASE_ROWS).selectExpr("id", "'base' AS batch").write.format("delta").mode("overwrite") \
            .saveAsTable("interrupt.target")
        location = srv.workspace.catalog.table(FullName("main", "interrupt", "target")).storage_location
        before = DeltaTable(location).version()
        _notebook(w, "/Shared/interrupt/append", APPENDER)
        marker = srv.workspace.paths.dbfs_root / "append-under-way"
        job = w.jobs.create(name="append", parameters=[JobParameterDefinition(name="slow", default="true"),
                                                       JobParameterDefinition(name="marker", default=str(marker))],
                            tasks=[
            Task(task_key="append", notebook_task=NotebookTask(notebook_path="/Shared/interrupt/append"),
                 timeout_seconds=TIMEOUT_SECONDS if stop == "timeout" else 0)])
        run_id = w.jobs.run_now(job_id=job.job_id).run_id
        if stop != "timeout":
            _wait_for_append_to_start(w, run_id, marker)
        started = time.monotonic()
        if stop == "cancel":
            w.jobs.cancel_run(run_id)
        elif stop == "kill":  # the task process dies mid-write, as under the kernel's OOM killer
            task_run = w.jobs.get_run(run_id).tasks[0].run_id
            pid = int((srv.workspace.paths.home / "runs" / str(run_id) / str(task_run) / "task.pid").read_text())
            os.kill(pid, signal.SIGKILL)
        run = w.jobs.wait_get_run_job_terminated_or_skipped(run_id, timeout=timedelta(minutes=5))
        expected = {"cancel": RunResultState.CANCELED, "timeout": RunResultState.TIMEDOUT,
                    "kill": RunResultState.FAILED}[stop]
        assert run.tasks[0].state.result_state == expected, run.state.state_message
        assert marker.exists(), "the append had not started when the task was stopped"
        fences = _assert_only_fences(location, before)  # at the run's end …
        assert fences == 1 or (stop == "timeout" and fences == 0), f"{fences} fences"  # one, once it was writing
        _watch_for_a_late_commit(location, before, started + WRITE_SECONDS + 30)  # … and long after
        wait_until(lambda: (engine_status(srv.workspace.paths.home) or {}).get("operations") == 0,
                   what="the engine to have no operation left running")  # asked now (a lease's status is cached)

        w.jobs.update(job.job_id, new_settings=JobSettings(tasks=[Task(  # no timeout for the fast re-run
            task_key="append", notebook_task=NotebookTask(notebook_path="/Shared/interrupt/append"))]))
        rerun = w.jobs.run_now(job_id=job.job_id, job_parameters={"slow": "false"}).result(
            timeout=timedelta(minutes=5))
        assert rerun.state.result_state == RunResultState.SUCCESS
        counts = {r["batch"]: r["n"] for r in spark.sql(
            "SELECT batch, COUNT(*) AS n FROM interrupt.target GROUP BY batch").collect()}
        assert counts == {"base": BASE_ROWS, "late": BATCH_ROWS}  # exactly one copy


@pytest.mark.timeout(300)
def test_a_fence_alone_keeps_a_running_write_from_committing(tmp_path):
    """The fence does not depend on Sail's interrupt: a slow append that is never interrupted, fenced mid-write,
    fails at its own commit and leaves the table's rows as they were."""
    with running_server(tmp_path / "ws") as srv:
        spark = srv.workspace.engine.session()
        spark.sql("CREATE SCHEMA IF NOT EXISTS interrupt")
        spark.range(1000).selectExpr("id", "'base' AS batch").write.format("delta").saveAsTable("interrupt.target")
        location = srv.workspace.catalog.table(FullName("main", "interrupt", "target")).storage_location
        before = DeltaTable(location).version()
        marker = tmp_path / "append-under-way"
        body = APPENDER.replace('dbutils.widgets.get("slow") == "true"', "True").replace(
            'dbutils.widgets.get("marker")', repr(str(marker)))
        body = "\n".join(line for line in body.splitlines() if not line.startswith("dbutils."))
        outcome: dict[str, BaseException | None] = {}

        def append() -> None:
            try:
                exec(body, {"spark": spark})  # the notebook's own code, run by this test's client
                outcome["error"] = None
            except Exception as exc:  # the commit must fail
                outcome["error"] = exc

        writer = threading.Thread(target=append)
        writer.start()
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert time.monotonic() < deadline and writer.is_alive(), "the append never started"
            time.sleep(0.1)
        fence = fence_table(location, "test")
        assert fence is not None and fence.version == before + 1
        writer.join(timeout=WRITE_SECONDS + 120)
        assert not writer.is_alive()
        assert outcome["error"] is not None, "the fenced append committed"
        assert "Metadata changed" in str(outcome["error"])
        assert _assert_only_fences(location, before) == 1
        assert DeltaTable(location).metadata().configuration[FENCE_PROPERTY] == fence.value
        assert fence_table(str(tmp_path / "no-table-here"), "test") is None
