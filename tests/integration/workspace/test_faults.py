"""Faults: a task that runs out of memory or hangs is stopped, reported and retried; a server killed with SIGKILL in
the middle of a run comes back with the run marked, its Delta table at the last commit, and the job re-runnable."""

from __future__ import annotations

import base64
import json
import os
import re
import signal

import httpx
import psutil
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import JobParameterDefinition, NotebookTask, RunResultState, Task
from databricks.sdk.service.sql import StatementState
from databricks.sdk.service.workspace import ImportFormat, Language
from deltalake import DeltaTable

from odoolake.testing.waiting import wait_until
from odoolake.testing.workspace import task_logs
from odoolake.workspace.db import Database
from odoolake.workspace.engine import host
from odoolake.workspace.engine.errors import SESSION_CHANGED
from odoolake.workspace.engine.fence import FENCE_PROPERTY
from odoolake.workspace.engine.launcher import engine_status
from odoolake.workspace.identity.tokens import TokenService
from odoolake.workspace.jobs.connections import TOKEN_COMMENT
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

from .conftest import free_port, running_server, start_server_process
from .test_front_door import spark_client


def _data_commits(location) -> int:
    """Commits that wrote rows: a write stopped mid-way (its task died with the server) leaves at most one fence,
    a commit of a table property and no data."""
    history = DeltaTable(str(location)).history()
    fences = [c for c in history if FENCE_PROPERTY in c.get("operationParameters", {}).get("properties", "")]
    assert len(fences) <= 1, fences
    return len(history) - len(fences)


def _notebook(w, path: str, body: str) -> None:
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(path, content=base64.b64encode(("# Databricks notebook source\n" + body).encode()).decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)


def test_out_of_memory_and_hanging_tasks_are_stopped_reported_and_retried(tmp_path):
    with running_server(tmp_path / "ws", task_memory_mb=300) as srv:
        w = WorkspaceClient(host=srv.url, token=srv.token)
        _notebook(w, "/Shared/faults/hog", "import time\nhog = []\nfor _ in range(40):\n"
                                           "    hog.append(bytearray(50 * 2**20))\n    time.sleep(0.2)\n")
        _notebook(w, "/Shared/faults/hang", "import time\ntime.sleep(120)\n")
        job = w.jobs.create(name="faults", tasks=[
            Task(task_key="hog", max_retries=1, min_retry_interval_millis=10,
                 notebook_task=NotebookTask(notebook_path="/Shared/faults/hog")),
            Task(task_key="hang", max_retries=1, min_retry_interval_millis=10, retry_on_timeout=True,
                 timeout_seconds=2, notebook_task=NotebookTask(notebook_path="/Shared/faults/hang")),
        ])
        run = w.jobs.run_now(job_id=job.job_id).result()
        tasks = {t.task_key: t for t in run.tasks}
        assert tasks["hog"].state.result_state == RunResultState.FAILED and tasks["hog"].attempt_number == 1
        error = w.jobs.get_run_output(tasks["hog"].run_id).error
        assert "Out of memory" in error and "limit of 300 MiB" in error
        assert tasks["hang"].state.result_state == RunResultState.TIMEDOUT and tasks["hang"].attempt_number == 1
        assert srv.workspace.engine.session().sql("SELECT 1 AS ok").first()["ok"] == 1  # the server is unharmed


SLOW_WRITER = """dbutils.widgets.text("rounds", "400")
spark.sql("CREATE SCHEMA IF NOT EXISTS faults")
for i in range(int(dbutils.widgets.get("rounds"))):
    spark.range(500).selectExpr("id", f"{i} AS round").write.format("delta").mode("append").saveAsTable("faults.log")
"""


def test_sigkill_mid_run_marks_the_run_keeps_committed_data_and_reruns(tmp_path):
    home = tmp_path / "ws"
    home.mkdir()
    token, _ = TokenService(Database(home / "workspace.db")).create("owner@localhost", "faults")
    port = free_port()
    server = start_server_process(home, port)
    try:
        w = WorkspaceClient(host=f"http://127.0.0.1:{port}", token=token)
        _notebook(w, "/Shared/faults/writer", SLOW_WRITER)
        job = w.jobs.create(name="writer", parameters=[JobParameterDefinition(name="rounds", default="400")],
                            tasks=[Task(task_key="write",
                                        notebook_task=NotebookTask(notebook_path="/Shared/faults/writer"))])
        run_id = w.jobs.run_now(job_id=job.job_id).run_id
        location = home / "warehouse" / "faults" / "log"
        wait_until(lambda: (location / "_delta_log").is_dir() and DeltaTable(str(location)).version() >= 3,
                   what="the job to commit a few rounds")
        engine = json.loads(host.status_file(home).read_text())["pid"]  # a process of its own: it outlives the server
        os.kill(server.pid, signal.SIGKILL)  # the server only
        server.wait()
        [pid_file] = list((home / "runs").rglob("task.pid"))
        orphan = int(pid_file.read_text())
        # the task process notices its parent is gone and exits, releasing its table lock
        wait_until(lambda: _gone(orphan), what=f"task process {orphan} to exit after its server")
        # and the engine host, leased by nobody now, exits once its last operation (the task's append) has ended
        wait_until(lambda: _gone(engine), what=f"engine host {engine} to exit after its last operation")
    finally:
        if server.poll() is None:
            server.kill()

    committed = _data_commits(location)
    rows = DeltaTable(str(location)).to_pandas()
    assert len(rows) == 500 * committed and sorted(rows["round"].unique()) == list(range(committed))

    def task_tokens() -> list[str]:
        return [info.token_id for info in TokenService(Database(home / "workspace.db")).list()
                if info.comment == TOKEN_COMMENT]

    assert len(task_tokens()) == 1  # the killed server could not revoke its task's token

    server = start_server_process(home, port)
    try:
        w = WorkspaceClient(host=f"http://127.0.0.1:{port}", token=token)
        run = w.jobs.get_run(run_id)
        assert run.state.life_cycle_state.value == "INTERNAL_ERROR"
        assert "stopped while this run was active" in run.state.state_message
        assert w.jobs.get_run(run_id).tasks[0].state.life_cycle_state.value == "INTERNAL_ERROR"
        assert task_tokens() == []  # revoked by the restarted server, with the task it belonged to
        counted = w.statement_execution.execute_statement(
            statement="SELECT COUNT(*) FROM faults.log", warehouse_id=next(iter(w.warehouses.list())).id,
            wait_timeout="30s")
        assert int(counted.result.data_array[0][0]) == 500 * _data_commits(location)
        again = w.jobs.run_now(job_id=job.job_id, job_parameters={"rounds": "2"}).result()
        assert again.state.result_state == RunResultState.SUCCESS
        assert _data_commits(location) == committed + 2  # the two new rounds, on top of what survived
    finally:
        server.terminate()
        server.wait(timeout=30)


CHILD_HOG = """import subprocess, sys
subprocess.run([sys.executable, "-c", "import time\\nhog = bytearray(700 * 2**20)\\ntime.sleep(120)"], check=True)
"""
DAEMON = """import os, subprocess, time
dbutils.widgets.text("pid_file", "")
child = subprocess.Popen(["sleep", "777"], start_new_session=True)  # its own session: not in the task's group
open(dbutils.widgets.get("pid_file"), "w").write(str(child.pid))
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _wait_for_child(w, run_id: int, pid_file, home) -> None:
    """Wait for the daemon task to write its child's pid; a run that ends first, or a task that never gets there,
    fails the test with the run's state and the task's log."""
    def progress() -> str:
        if pid_file.exists() and pid_file.read_text():
            return "started"
        ended = w.jobs.get_run(run_id).state.life_cycle_state.value in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")
        return "ended" if ended else ""

    def story() -> str:
        return f"run state {w.jobs.get_run(run_id).state}; task log:{task_logs(home / 'runs' / str(run_id))}"

    try:
        outcome = wait_until(progress, what="the task to start its child")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; {story()}") from exc
    assert outcome == "started", f"the run ended before its task started the child: {story()}"


def test_memory_limits_timeouts_and_cancel_reach_every_child_process(tmp_path):
    with running_server(tmp_path / "ws", task_memory_mb=300) as srv:
        w = WorkspaceClient(host=srv.url, token=srv.token)
        _notebook(w, "/Shared/faults/child_hog", CHILD_HOG)
        _notebook(w, "/Shared/faults/daemon", DAEMON)
        hog = w.jobs.submit(run_name="child hog", tasks=[Task(task_key="hog", notebook_task=NotebookTask(
            notebook_path="/Shared/faults/child_hog"))]).result()
        assert hog.state.result_state == RunResultState.FAILED
        error = w.jobs.get_run_output(hog.tasks[0].run_id).error
        assert "Out of memory: the task (with its child processes)" in error and "limit of 300 MiB" in error

        timed = tmp_path / "timed.pid"  # long enough for a loaded machine to start the task and its child
        waiting = w.jobs.submit(run_name="daemon", tasks=[Task(task_key="d", timeout_seconds=15, notebook_task=(
            NotebookTask(notebook_path="/Shared/faults/daemon", base_parameters={"pid_file": str(timed)})))])
        _wait_for_child(w, waiting.run_id, timed, srv.workspace.paths.home)
        run = waiting.result()
        assert run.tasks[0].state.result_state == RunResultState.TIMEDOUT
        assert _gone(int(timed.read_text())), "the daemonized child survived the timeout"

        cancelled = tmp_path / "cancelled.pid"
        waiter = w.jobs.submit(run_name="daemon", tasks=[Task(task_key="d", notebook_task=NotebookTask(
            notebook_path="/Shared/faults/daemon", base_parameters={"pid_file": str(cancelled)}))])
        _wait_for_child(w, waiter.run_id, cancelled, srv.workspace.paths.home)
        w.jobs.cancel_run(waiter.run_id).result()
        assert w.jobs.get_run(waiter.run_id).state.result_state == RunResultState.CANCELED
        assert _gone(int(cancelled.read_text())), "the daemonized child survived the cancel"


def test_after_the_engine_died_spark_connect_starts_a_new_one_and_old_sessions_are_told(tmp_path):
    """The engine host serves every session; when it dies (a crash, the kernel's OOM killer) the next Spark Connect
    connection through the front door starts a new one, as a REST statement would, and finds the catalog as it was
    (not a dropped connection until something else happens to start an engine). A session begun before the restart
    lost its settings with the old engine: its next request is refused by name before anything runs (it would
    otherwise go on silently in the new engine's defaults), and the Statement API says so once, then starts anew."""
    with running_server(tmp_path) as server:
        made = spark_client(server, """
            spark.sql("CREATE SCHEMA IF NOT EXISTS crash")
            spark.createDataFrame([(1, "RIM")], "id int, agency string").write.saveAsTable("crash.kept")
            out["rows"] = spark.table("crash.kept").count()
        """, token=server.token)
        assert made == {"rows": 1}
        w = WorkspaceClient(host=server.url, token=server.token)

        def statement(text: str):
            return w.statement_execution.execute_statement(text, LOCAL_WAREHOUSE_ID, wait_timeout="30s").status

        assert statement("SET spark.sql.session.timeZone = Asia/Manila").state == StatementState.SUCCEEDED
        auth = {"Authorization": f"Bearer {server.token}"}
        opened = httpx.post(f"{server.url}/api/2.0/sql/sessions", headers=auth,
                            json={"warehouse_id": LOCAL_WAREHOUSE_ID}).json()["session_id"]

        def in_session(text: str) -> dict:
            return httpx.post(f"{server.url}/api/2.0/sql/statements", headers=auth, timeout=60, json={
                "statement": text, "warehouse_id": LOCAL_WAREHOUSE_ID, "session_id": opened,
                "wait_timeout": "30s"}).json()

        assert in_session("SET spark.sql.session.timeZone = Asia/Manila")["status"]["state"] == "SUCCEEDED"
        old = server.workspace.engine.session()
        old.sql("SET spark.sql.session.timeZone = Asia/Manila")
        assert old.sql("SELECT current_timezone()").first()[0] == "Asia/Manila"

        engine = psutil.Process(server.workspace.engine.lease().status["pid"])
        engine.kill()
        wait_until(lambda: not engine.is_running() or engine.status() == psutil.STATUS_ZOMBIE,
                   what="the engine host to die")
        assert engine_status(server.workspace.paths.home) is None  # nothing else has started one: the front door will
        # (without a new engine the client retries its connection for minutes: the timeout bounds that)
        again = spark_client(server, """out["rows"] = spark.table("crash.kept").count()""", token=server.token,
                             timeout=120)
        assert again == {"rows": 1}
        assert server.workspace.engine.lease().status["pid"] != engine.pid

        with pytest.raises(Exception, match=re.escape(f"[{SESSION_CHANGED}] The engine restarted")):
            old.sql("SELECT current_timezone()").collect()
        server.workspace.engine.stop_session(old)
        told = statement("SELECT current_timezone() AS tz")
        assert told.state == StatementState.FAILED and SESSION_CHANGED in told.error.message
        fresh = w.statement_execution.execute_statement("SELECT current_timezone() AS tz", LOCAL_WAREHOUSE_ID,
                                                        wait_timeout="30s")
        assert fresh.status.state == StatementState.SUCCEEDED
        assert fresh.result.data_array[0][0] in ("UTC", "Etc/UTC")  # a new session, in the engine's time zone
        told = in_session("SELECT current_timezone()")  # a session the client opened: it ends, and says why
        assert told["status"]["state"] == "FAILED" and SESSION_CHANGED in told["status"]["error"]["message"]
        ended = in_session("SELECT current_timezone()")
        assert ended["error_code"] == "RESOURCE_DOES_NOT_EXIST" and "the engine restarted under it" in ended["message"]
