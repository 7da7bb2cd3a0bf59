"""The seed's job through the official SDK: create the three-task BIR job, run it, read outputs."""

import httpx
import pytest
from databricks.sdk.service.jobs import (
    JobParameterDefinition,
    JobSettings,
    NotebookTask,
    RunIf,
    RunLifeCycleState,
    RunResultState,
    Task,
)
from databricks.sdk.service.jobs import TaskDependency as Dep
from databricks.sdk.service.workspace import ImportFormat, Language

from odoolake.testing.waiting import wait_until

NB = "# Databricks notebook source\n"


def upload(w, path: str, source: str) -> None:
    w.workspace.upload(path, (NB + source).encode(), format=ImportFormat.SOURCE, language=Language.PYTHON,
                       overwrite=True)


@pytest.fixture(scope="module")
def notebooks(w):
    w.workspace.mkdirs("/Shared/ETL")
    upload(w, "/Shared/ETL/first", 'dbutils.widgets.text("month", "none")\n'
           'm = dbutils.widgets.get("month")\nprint("month is", m)\n'
           'spark.createDataFrame([(m,)], "month string").write.format("delta").mode("overwrite")'
           '.saveAsTable("default.job_probe")\n'
           'dbutils.jobs.taskValues.set(key="month", value=m)\ndbutils.notebook.exit(m)\n')
    upload(w, "/Shared/ETL/second", 'v = dbutils.jobs.taskValues.get(taskKey="first", key="month")\n'
           'n = spark.table("default.job_probe").where(f"month = \'{v}\'").count()\ndbutils.notebook.exit(str(n))\n')
    upload(w, "/Shared/ETL/boom", "raise ValueError('boom from the notebook')\n")
    return "/Shared/ETL"


def test_bir_month_end_job_runs_to_success(w, notebooks):
    job = w.jobs.create(
        name="BIR Month-End ETL",
        parameters=[JobParameterDefinition(name="month", default="2026-01")],
        tasks=[
            Task(task_key="first", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first",
                                                              base_parameters={"month": "{{job.parameters.month}}"})),
            Task(task_key="second", depends_on=[Dep(task_key="first")],
                 notebook_task=NotebookTask(notebook_path="/Shared/ETL/second")),
        ],
    )
    run = w.jobs.run_now(job_id=job.job_id, job_parameters={"month": "2026-10"}).result()
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    outputs = {t.task_key: w.jobs.get_run_output(t.run_id) for t in run.tasks}
    assert outputs["first"].notebook_output.result == "2026-10"
    assert "month is 2026-10" in outputs["first"].logs
    assert outputs["second"].notebook_output.result == "1"
    assert any(j.job_id == job.job_id for j in w.jobs.list())
    assert [r.run_id for r in w.jobs.list_runs(job_id=job.job_id)] == [run.run_id]


def test_failure_is_reported_retried_and_downstream_upstream_failed(w, notebooks):
    job = w.jobs.create(name="fails", tasks=[
        Task(task_key="boom", max_retries=1, min_retry_interval_millis=10,
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/boom")),
        Task(task_key="after", depends_on=[Dep(task_key="boom")],
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="cleanup", depends_on=[Dep(task_key="boom")], run_if=RunIf.ALL_DONE,
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
    ])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    tasks = {t.task_key: t for t in run.tasks}
    assert tasks["boom"].attempt_number == 1
    assert tasks["after"].state.result_state == RunResultState.UPSTREAM_FAILED
    assert tasks["cleanup"].state.result_state == RunResultState.SUCCESS
    out = w.jobs.get_run_output(tasks["boom"].run_id)
    assert "ValueError: boom from the notebook" in out.error
    assert "Traceback" in out.error_trace
    frames = [line for line in out.error_trace.splitlines() if line.startswith('  File "')]
    assert "boom" in frames[0] and not [f for f in frames if "task_process.py" in f or "/notebooks/" in f], frames
    with pytest.raises(Exception, match="multiple tasks"):
        w.jobs.get_run_output(run.run_id)
    skipped = w.jobs.get_run_output(tasks["after"].run_id)  # never ran, so it has no output: its metadata alone
    assert skipped.metadata.run_id == tasks["after"].run_id and skipped.metadata.job_id == job.job_id
    assert skipped.error is None and skipped.notebook_output is None


def test_timeout_and_cancel_stop_the_task_process(w, server):
    upload(w, "/Shared/ETL/slow", "import time\ntime.sleep(60)\n")
    job = w.jobs.create(name="slow", tasks=[Task(task_key="slow", timeout_seconds=3,
                                                 notebook_task=NotebookTask(notebook_path="/Shared/ETL/slow"))])
    run = w.jobs.run_now(job_id=job.job_id).result()  # 60 s of sleep, stopped at 3 s
    assert run.state.result_state == RunResultState.TIMEDOUT
    assert "timed out after 3 seconds" in run.tasks[0].state.state_message
    waiter = w.jobs.run_now(job_id=job.job_id)
    wait_until(lambda: w.jobs.get_run(waiter.run_id).tasks[0].state.life_cycle_state == RunLifeCycleState.RUNNING,
               what="the task to start running")
    w.jobs.cancel_run(waiter.run_id).result()
    assert w.jobs.get_run(waiter.run_id).state.result_state == RunResultState.CANCELED


def test_submit_missing_notebook_fails_with_a_clear_message(w):
    run = w.jobs.submit(run_name="one-off", tasks=[
        Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/does/not/exist"))]).result()
    assert run.state.result_state == RunResultState.FAILED
    assert "doesn't exist" in run.tasks[0].state.state_message


def test_a_retried_run_now_or_submit_with_its_idempotency_token_starts_one_run(w, notebooks):
    """Databricks guarantees one run per idempotency token: a client retrying a timed-out run-now (the month-end
    job) gets the run it started, not a second posting."""
    from databricks.sdk.errors import InvalidParameterValue

    job = w.jobs.create(name="once", tasks=[Task(task_key="a", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/first"))])
    first = w.jobs.run_now(job.job_id, idempotency_token="month-end-2026-11")
    again = w.jobs.run_now(job.job_id, idempotency_token="month-end-2026-11")
    assert again.run_id == first.run_id and again.response.number_in_job == first.response.number_in_job
    other = w.jobs.run_now(job.job_id, idempotency_token="month-end-2026-12")
    assert other.run_id != first.run_id
    assert len(list(w.jobs.list_runs(job_id=job.job_id))) == 2
    tasks = [Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))]
    submitted = w.jobs.submit(run_name="one-off", tasks=tasks, idempotency_token="one-off-1")
    assert w.jobs.submit(run_name="one-off", tasks=tasks, idempotency_token="one-off-1").run_id == submitted.run_id
    with pytest.raises(InvalidParameterValue, match="idempotency_token: expected a string of 1 to 64 characters"):
        w.jobs.run_now(job.job_id, idempotency_token="x" * 65)
    assert len(list(w.jobs.list_runs(job_id=job.job_id))) == 2  # nothing started by the refused call
    for run_id in (first.run_id, other.run_id, submitted.run_id):
        w.jobs.wait_get_run_job_terminated_or_skipped(run_id)


def test_update_reset_delete(w, notebooks):
    job = w.jobs.create(name="to-edit", tasks=[Task(task_key="a", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/first"))])
    from databricks.sdk.service.jobs import JobSettings

    w.jobs.update(job.job_id, new_settings=JobSettings(name="edited", max_concurrent_runs=3))
    got = w.jobs.get(job.job_id)
    assert got.settings.name == "edited" and got.settings.max_concurrent_runs == 3 and len(got.settings.tasks) == 1
    w.jobs.reset(job.job_id, new_settings=JobSettings(name="reset", tasks=[
        Task(task_key="b", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))]))
    assert [t.task_key for t in w.jobs.get(job.job_id).settings.tasks] == ["b"]
    # tasks of an update are merged into the job's by key, so a new task may depend on one the job has (refused:
    # the update's own list was checked alone); a dependency on no task of the merged job is still refused
    w.jobs.update(job.job_id, new_settings=JobSettings(tasks=[Task(
        task_key="c", depends_on=[Dep(task_key="b")], notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))]))
    assert [(t.task_key, [d.task_key for d in t.depends_on or []]) for t in w.jobs.get(job.job_id).settings.tasks] == \
        [("b", []), ("c", ["b"])]
    from databricks.sdk.errors import InvalidParameterValue

    with pytest.raises(InvalidParameterValue, match="unknown task 'nope'"):
        w.jobs.update(job.job_id, new_settings=JobSettings(tasks=[Task(
            task_key="d", depends_on=[Dep(task_key="nope")],
            notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))]))
    assert len(w.jobs.get(job.job_id).settings.tasks) == 2
    w.jobs.delete(job.job_id)
    from databricks.sdk.errors import ResourceDoesNotExist

    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get(job.job_id)


def test_n8n_style_run_now_over_plain_http(w, server, notebooks):
    job = w.jobs.create(name="n8n", tasks=[Task(task_key="a", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/first"))])
    r = httpx.post(f"{server.url}/api/2.1/jobs/run-now", json={"job_id": job.job_id},
                   headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200 and r.json()["run_id"]
    run_id = r.json()["run_id"]

    def terminated() -> dict | None:
        state = httpx.get(f"{server.url}/api/2.1/jobs/runs/get", params={"run_id": run_id},
                          headers={"Authorization": f"Bearer {server.token}"}).json()["state"]
        return state if state["life_cycle_state"] == "TERMINATED" else None

    assert wait_until(terminated, what=f"run {run_id} to terminate")["result_state"] == "SUCCESS"


def test_python_sql_condition_and_wheel_tasks(w, server):
    import io

    from databricks.sdk.service.jobs import ConditionTask, ConditionTaskOp, PythonWheelTask, SparkPythonTask, SqlTask
    from databricks.sdk.service.jobs import SqlTaskFile as SqlFile

    script = ("import sys\nfrom pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\n"
              "print('args', sys.argv[1:], spark.range(3).count())\n")
    w.workspace.upload("/Shared/py/job.py", script.encode(), format=ImportFormat.AUTO, overwrite=True)
    w.workspace.upload("/Shared/py/q.sql", b"SELECT 1 AS one; SELECT CAST(:n AS INT) * 2 AS doubled",
                       format=ImportFormat.AUTO, overwrite=True)
    w.dbfs.upload("/scripts/dbfs_job.py", io.BytesIO(b"print('from dbfs')\n"), overwrite=True)
    job = w.jobs.create(name="types", tasks=[
        Task(task_key="py", spark_python_task=SparkPythonTask(python_file="/Shared/py/job.py",
                                                              parameters=["--month", "{{job.run_id}}"])),
        Task(task_key="dbfs_py", spark_python_task=SparkPythonTask(python_file="dbfs:/scripts/dbfs_job.py")),
        Task(task_key="sql", sql_task=SqlTask(warehouse_id="local0000000000", file=SqlFile(path="/Shared/py/q.sql"),
                                              parameters={"n": "21"})),
        Task(task_key="check", depends_on=[Dep(task_key="py")],
             condition_task=ConditionTask(op=ConditionTaskOp.GREATER_THAN, left="{{job.run_id}}", right="0")),
        Task(task_key="if_true", depends_on=[Dep(task_key="check", outcome="true")],
             python_wheel_task=PythonWheelTask(package_name="odoolake", entry_point="odoolake",
                                               parameters=["--help"])),
        Task(task_key="if_false", depends_on=[Dep(task_key="check", outcome="false")],
             spark_python_task=SparkPythonTask(python_file="/Shared/py/job.py")),
    ])
    run = w.jobs.run_now(job_id=job.job_id).result()
    tasks = {t.task_key: t for t in run.tasks}
    assert run.state.result_state == RunResultState.SUCCESS, {k: t.state.state_message for k, t in tasks.items()}
    py_logs = w.jobs.get_run_output(tasks["py"].run_id).logs
    assert f"args ['--month', '{run.run_id}'] 3" in py_logs
    assert "from dbfs" in w.jobs.get_run_output(tasks["dbfs_py"].run_id).logs
    assert "42" in w.jobs.get_run_output(tasks["sql"].run_id).logs
    assert tasks["check"].condition_task.outcome == "true"
    assert "Usage" in w.jobs.get_run_output(tasks["if_true"].run_id).logs
    assert tasks["if_false"].state.result_state == RunResultState.EXCLUDED

    # run-now's python_params replace the parameters of every Python task: files and wheels (which this one refuses)
    again = w.jobs.run_now(job_id=job.job_id, python_params=["--month", "2026-07"]).result()
    tasks = {t.task_key: t for t in again.tasks}
    assert "args ['--month', '2026-07'] 3" in w.jobs.get_run_output(tasks["py"].run_id).logs
    assert tasks["py"].state.result_state == RunResultState.SUCCESS
    assert "No such option: --month" in w.jobs.get_run_output(tasks["if_true"].run_id).logs
    assert again.state.state_message == "Task if_true failed with message: SystemExit: 2"


def test_max_concurrent_runs_skips_or_queues(w, server, tmp_path):
    from databricks.sdk.service.jobs import QueueSettings

    release = tmp_path / "release"  # the first run holds its slot until the test creates this file
    upload(w, "/Shared/ETL/pause", 'dbutils.widgets.text("release", "")\nimport os, time\n'
           'while not os.path.exists(dbutils.widgets.get("release")):\n    time.sleep(0.05)\n')
    tasks = [Task(task_key="p", notebook_task=NotebookTask(notebook_path="/Shared/ETL/pause",
                                                           base_parameters={"release": str(release)}))]
    job = w.jobs.create(name="one-at-a-time", max_concurrent_runs=1, queue=QueueSettings(enabled=False), tasks=tasks)
    first = w.jobs.run_now(job_id=job.job_id)
    skipped = w.jobs.run_now(job_id=job.job_id).result()
    assert skipped.state.result_state == RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    queued = w.jobs.run_now(job_id=job.job_id, queue=QueueSettings(enabled=True))
    assert w.jobs.get_run(queued.run_id).state.life_cycle_state == RunLifeCycleState.QUEUED
    # the SDK speaks Jobs API 2.2, whose jobs queue by default; 2.1's do not
    by_default = w.jobs.create(name="queued by default", tasks=tasks)
    assert w.jobs.get(by_default.job_id).settings.queue.enabled is True
    legacy = w.api_client.do("POST", "/api/2.1/jobs/create", body={"name": "2.1 job", "tasks": [t.as_dict()
                                                                                             for t in tasks]})
    assert w.jobs.get(legacy["job_id"]).settings.queue is None
    default_first = w.jobs.run_now(job_id=by_default.job_id)
    default_second = w.jobs.run_now(job_id=by_default.job_id)
    waiting = w.jobs.get_run(default_second.run_id)
    assert waiting.state.life_cycle_state == RunLifeCycleState.QUEUED
    assert waiting.state.queue_reason == "Queued due to reaching maximum concurrent runs of 1."
    assert waiting.status.queue_details.code.value == "MAX_CONCURRENT_RUNS_REACHED"
    w.jobs.cancel_all_runs(all_queued_runs=True)  # no job named: every queued run
    for waiting in (queued, default_second):
        wait_until(lambda r=waiting: w.jobs.get_run(r.run_id).state.result_state == RunResultState.CANCELED,
                   what="the queued run to be cancelled")
    release.touch()
    assert first.result().state.result_state == RunResultState.SUCCESS
    assert default_first.result().state.result_state == RunResultState.SUCCESS
    never = w.jobs.create(name="never", max_concurrent_runs=0, tasks=tasks)  # 0 skips every run, queued or not
    assert w.jobs.run_now(job_id=never.job_id).result().state.result_state == \
        RunResultState.MAXIMUM_CONCURRENT_RUNS_REACHED
    for j in (job.job_id, by_default.job_id, legacy["job_id"], never.job_id):
        w.jobs.delete(j)


def test_run_magic_and_notebook_run_find_workspace_notebooks_in_a_job(w):
    upload(w, "/Shared/lib/rates", "WC158 = '0.01'\n")
    upload(w, "/Shared/lib/square", 'dbutils.widgets.text("n", "0")\n'
           'dbutils.notebook.exit(str(int(dbutils.widgets.get("n")) ** 2))\n')
    w.workspace.mkdirs("/Users/analyst")
    upload(w, "/Users/analyst/uses_lib", "# MAGIC %run /Shared/lib/rates\n\n# COMMAND ----------\n\n"
           "print('rate', WC158, 'square', dbutils.notebook.run('/Shared/lib/square', 60, {'n': '7'}))\n")
    run = w.jobs.submit(run_name="lib", tasks=[Task(task_key="t", notebook_task=NotebookTask(
        notebook_path="/Users/analyst/uses_lib"))]).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.tasks[0].state.state_message
    assert "rate 0.01 square 49" in w.jobs.get_run_output(run.tasks[0].run_id).logs


def test_fields_to_remove_paging_and_the_2_0_routes(w, server, notebooks):
    auth = {"Authorization": f"Bearer {server.token}"}
    job = w.jobs.create(name="surface", timeout_seconds=600, tasks=[
        Task(task_key="a", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="b", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))])
    w.jobs.update(job.job_id, fields_to_remove=["timeout_seconds", "tasks/b"])
    got = w.jobs.get(job.job_id).settings
    assert [t.task_key for t in got.tasks] == ["a"] and not got.timeout_seconds and got.name == "surface"
    w.jobs.create(name="another", tasks=[Task(task_key="a", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/first"))])
    page = httpx.get(f"{server.url}/api/2.1/jobs/list", params={"limit": 1}, headers=auth).json()
    assert len(page["jobs"]) == 1 and page["has_more"] and page["next_page_token"]
    second = httpx.get(f"{server.url}/api/2.1/jobs/list", params={"limit": 1, "page_token": page["next_page_token"]},
                       headers=auth).json()
    assert second["jobs"][0]["job_id"] != page["jobs"][0]["job_id"] and second["prev_page_token"]
    every = [j.job_id for j in w.jobs.list(limit=1)]  # the SDK follows the page tokens
    assert job.job_id in every and len(every) == len(set(every)) >= 2
    old = httpx.get(f"{server.url}/api/2.0/jobs/get", params={"job_id": job.job_id}, headers=auth)
    assert old.status_code == 200 and old.json()["settings"]["name"] == "surface"
    # Jobs API 2.0 without a limit lists every job (the legacy CLI's `jobs list`); with one, it pages as 2.1 does.
    for n in range(21):
        w.jobs.create(name=f"many-{n}", tasks=[Task(task_key="a", notebook_task=NotebookTask(
            notebook_path="/Shared/ETL/first"))])
    everything = httpx.get(f"{server.url}/api/2.0/jobs/list", headers=auth).json()
    assert sorted(j["job_id"] for j in everything["jobs"]) == sorted(j.job_id for j in w.jobs.list())
    assert len(everything["jobs"]) > 22 and not everything["has_more"]
    assert len(httpx.get(f"{server.url}/api/2.0/jobs/list", params={"limit": 5}, headers=auth).json()["jobs"]) == 5
    assert len(httpx.get(f"{server.url}/api/2.1/jobs/list", headers=auth).json()["jobs"]) == 20


def test_run_now_only_and_notebook_params_then_runs_paging_filters_cancel_all_and_delete(w, notebooks):
    from databricks.sdk.errors import InvalidParameterValue, ResourceDoesNotExist

    upload(w, "/Shared/ETL/sleep", "import time\ntime.sleep(180)\n")
    job = w.jobs.create(name="params", tasks=[
        Task(task_key="a", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="b", depends_on=[Dep(task_key="a")], notebook_task=NotebookTask(notebook_path="/Shared/ETL/boom"))])
    run = w.jobs.run_now(job.job_id, only=["a"], notebook_params={"month": "2026-07"}).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    assert [t.task_key for t in run.tasks] == ["a"]  # b, which fails, was left out
    assert w.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result == "2026-07"
    with pytest.raises(InvalidParameterValue, match="unknown task"):
        w.jobs.run_now(job.job_id, only=["nope"])
    second = w.jobs.run_now(job.job_id, only=["a"]).result()
    assert w.jobs.get_run_output(second.tasks[0].run_id).notebook_output.result == "none"  # the widget's default

    runs = [r.run_id for r in w.jobs.list_runs(job_id=job.job_id, limit=1)]  # one run a page
    assert runs == [second.run_id, run.run_id]
    assert not list(w.jobs.list_runs(job_id=job.job_id, active_only=True))
    assert len(list(w.jobs.list_runs(job_id=job.job_id, completed_only=True))) == 2
    w.jobs.delete_run(run.run_id)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(run.run_id)
    assert [r.run_id for r in w.jobs.list_runs(job_id=job.job_id)] == [second.run_id]

    sleeper = w.jobs.create(name="sleeper", max_concurrent_runs=2, tasks=[
        Task(task_key="s", notebook_task=NotebookTask(notebook_path="/Shared/ETL/sleep"))])
    started = [w.jobs.run_now(sleeper.job_id).run_id for _ in range(2)]
    try:  # the runner's workers are every test's: the sleepers are cancelled whatever happens here
        wait_until(lambda: all(w.jobs.get_run(r).state.life_cycle_state == RunLifeCycleState.RUNNING
                               for r in started), what="both sleeping runs to run")
        assert {r.run_id for r in w.jobs.list_runs(job_id=sleeper.job_id, active_only=True)} == set(started)
        with pytest.raises(Exception, match="still active"):
            w.jobs.delete_run(started[0])
    finally:
        w.jobs.cancel_all_runs(job_id=sleeper.job_id)
    ended = [w.jobs.wait_get_run_job_terminated_or_skipped(r) for r in started]
    assert {e.state.result_state for e in ended} == {RunResultState.CANCELED}


def test_dynamic_values_reach_a_task_as_databricks_fills_them(w, server, notebooks):
    import json
    from datetime import UTC, datetime

    from databricks.sdk.service.jobs import SubmitTask

    upload(w, "/Shared/ETL/setv", 'dbutils.jobs.taskValues.set(key="v", value=42)\n')
    keys = ("rid", "jr", "v", "d", "name", "weekday", "year", "count", "a_run", "ws", "literal", "dashed", "rd_ref")
    upload(w, "/Shared/ETL/echo", "import json\n"
           f'dbutils.notebook.exit(json.dumps({{k: dbutils.widgets.get(k) for k in {keys!r}}}))\n')
    job = w.jobs.create(name="dynamic", parameters=[
        JobParameterDefinition(name="run-date", default="2026-01-01"),
        JobParameterDefinition(name="rd", default="{{job.start_time.iso_date}}")], tasks=[
        Task(task_key="a", notebook_task=NotebookTask(notebook_path="/Shared/ETL/setv")),
        Task(task_key="b", depends_on=[Dep(task_key="a")], notebook_task=NotebookTask(
            notebook_path="/Shared/ETL/echo", base_parameters={
                "rid": "{{task.run_id}}", "jr": "{{job.run_id}}", "v": "{{tasks.a.values.v}}",
                "d": "{{job.start_time.iso_date}}", "name": "{{task.name}} of {{job.name}}",
                "weekday": "{{job.start_time.is_weekday}}", "year": "{{job.start_time.year}}",
                "count": "{{task.execution_count}}", "a_run": "{{tasks.a.run_id}}", "ws": "{{workspace.id}}",
                "literal": "{{my.value}}", "dashed": "{{job.parameters.`run-date`}}",
                "rd_ref": "at {{job.parameters.rd}}"}))])
    run = w.jobs.run_now(job.job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    b = next(t for t in run.tasks if t.task_key == "b")
    a = next(t for t in run.tasks if t.task_key == "a")
    seen = json.loads(w.jobs.get_run_output(b.run_id).notebook_output.result)
    started = datetime.fromtimestamp(run.start_time / 1000, UTC)
    assert seen == {"rid": str(b.run_id), "jr": str(run.run_id), "v": "42", "d": started.date().isoformat(),
                    "name": "b of dynamic", "weekday": str(started.isoweekday() <= 5).lower(),
                    "year": str(started.year), "count": "1", "a_run": str(a.run_id),
                    "ws": server.workspace.workspace_id, "literal": "{{my.value}}", "dashed": "2026-01-01",
                    "rd_ref": f"at {started.date().isoformat()}"}  # a parameter's default is a reference too
    bad = w.jobs.submit(run_name="bad ref", tasks=[SubmitTask(task_key="t", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/echo", base_parameters={"rid": "{{job.start_time.fortnight}}"}))]).result()
    assert "Unknown dynamic value reference {{job.start_time.fortnight}}" in bad.tasks[0].state.state_message


def test_a_job_parameter_overrides_the_task_parameter_of_the_same_name(w, notebooks):
    """"Job parameters take precedence over task parameters" (Databricks' parameter pushdown): the task's value was
    used, and a value given at run-now was silently dropped."""
    from databricks.sdk.service.jobs import JobParameterDefinition

    upload(w, "/Shared/ETL/env", 'dbutils.notebook.exit(dbutils.widgets.get("env"))\n')
    job = w.jobs.create(name="pushdown", parameters=[JobParameterDefinition(name="env", default="job-default")],
                        tasks=[Task(task_key="t", notebook_task=NotebookTask(
                            notebook_path="/Shared/ETL/env", base_parameters={"env": "task-param"}))])

    def seen(**parameters) -> str:
        run = w.jobs.run_now(job.job_id, **parameters).result()
        return w.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result

    assert seen() == "job-default"
    assert seen(job_parameters={"env": "prod"}) == "prod"


def test_every_run_if_condition_decides_as_databricks_does(w, notebooks):
    """One upstream task succeeds and one fails; each condition's outcome is Databricks' documented one."""
    expected = {RunIf.ALL_SUCCESS: RunResultState.UPSTREAM_FAILED, RunIf.AT_LEAST_ONE_SUCCESS: RunResultState.SUCCESS,
                RunIf.NONE_FAILED: RunResultState.UPSTREAM_FAILED, RunIf.ALL_DONE: RunResultState.SUCCESS,
                RunIf.AT_LEAST_ONE_FAILED: RunResultState.SUCCESS, RunIf.ALL_FAILED: RunResultState.EXCLUDED}
    upstream = [Dep(task_key="ok"), Dep(task_key="boom")]
    job = w.jobs.create(name="run-if", tasks=[
        Task(task_key="ok", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="boom", notebook_task=NotebookTask(notebook_path="/Shared/ETL/boom")),
        *[Task(task_key=cond.value.lower(), depends_on=upstream, run_if=cond,
               notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")) for cond in expected]])
    run = w.jobs.run_now(job.job_id).result()
    states = {t.task_key: t.state.result_state for t in run.tasks}
    assert {cond: states[cond.value.lower()] for cond in expected} == expected


def test_a_cancel_that_arrives_while_the_task_process_starts_stops_it(w, server, tmp_path, monkeypatch):
    """cancel() kills the task process it finds; one still starting was not there yet, and used to sleep on."""
    import subprocess
    from pathlib import Path

    marker = tmp_path / "slept"
    upload(w, "/Shared/ETL/late", f"import time\ntime.sleep(60)\nopen({str(marker)!r}, 'w').close()\n")
    job = w.jobs.create(name="cancelled while starting", tasks=[
        Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/ETL/late"))])
    runner, real_popen = server.workspace.runner, subprocess.Popen

    def popen_after_a_cancel(argv, **kwargs):
        if "odoolake.workspace.jobs.task_process" in argv:  # this test's task process, not anything else started
            run_id = int(Path(argv[-1]).parent.parent.name)  # runs/<run id>/<task run id>/task.json
            runner.cancel(run_id)  # the cancel lands between the run's start and its process's registration
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen_after_a_cancel)
    run_id = w.jobs.run_now(job.job_id).run_id
    ended = w.jobs.wait_get_run_job_terminated_or_skipped(run_id)
    assert ended.state.result_state == RunResultState.CANCELED
    assert not marker.exists()  # its process was killed, not left to sleep and finish


def test_run_job_task_runs_the_other_job_with_its_parameters_and_ends_as_it_ends(w, notebooks, tmp_path):
    from databricks.sdk.errors import InvalidParameterValue
    from databricks.sdk.service.jobs import RunJobTask, TriggerType

    marker = tmp_path / "marked"  # written by a task that must not run

    worker = w.jobs.create(name="worker", parameters=[JobParameterDefinition(name="month", default="none")],
                           tasks=[Task(task_key="first", notebook_task=NotebookTask(
                               notebook_path="/Shared/ETL/first", base_parameters={"month": "{{job.parameters.month}}"}))])
    orchestrator = w.jobs.create(
        name="orchestrator", parameters=[JobParameterDefinition(name="month", default="2026-07")],
        tasks=[Task(task_key="run_worker", run_job_task=RunJobTask(
            job_id=worker.job_id, job_parameters={"month": "{{job.parameters.month}}"}))])
    run = w.jobs.run_now(job_id=orchestrator.job_id, job_parameters={"month": "2026-09"}).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    child = w.jobs.get_run(output.run_job_output.run_id)  # the run the task started, named in its output
    assert child.job_id == worker.job_id and child.trigger == TriggerType.RUN_JOB_TASK
    assert child.state.result_state == RunResultState.SUCCESS
    assert w.jobs.get_run_output(child.tasks[0].run_id).notebook_output.result == "2026-09"  # the parameter reached it

    failing = w.jobs.create(name="failing", tasks=[Task(task_key="boom", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/boom"))])
    calls_failing = w.jobs.create(name="calls failing", tasks=[Task(task_key="run_failing", run_job_task=RunJobTask(
        job_id=failing.job_id))])
    run = w.jobs.run_now(job_id=calls_failing.job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    failed_child = w.jobs.get_run_output(run.tasks[0].run_id).run_job_output.run_id
    message = run.tasks[0].state.state_message
    assert f"Run {failed_child} of job {failing.job_id} ended FAILED" in message and "boom from the notebook" in message

    unknown = w.jobs.create(name="calls nothing", tasks=[Task(task_key="t", run_job_task=RunJobTask(job_id=987654))])
    run = w.jobs.run_now(job_id=unknown.job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    assert "Could not run job 987654" in run.tasks[0].state.state_message

    myself = w.jobs.create(name="calls itself", tasks=[Task(task_key="t", run_job_task=RunJobTask(job_id=worker.job_id))])
    w.jobs.reset(myself.job_id, new_settings=JobSettings(name="calls itself", tasks=[
        Task(task_key="t", run_job_task=RunJobTask(job_id=myself.job_id))]))
    with pytest.raises(InvalidParameterValue, match=rf"jobs in a circle \({myself.job_id} → {myself.job_id}\)"):
        w.jobs.run_now(job_id=myself.job_id)
    assert list(w.jobs.list_runs(job_id=myself.job_id)) == []  # refused before anything ran

    # A circle through another job is refused at run-now too, before the task ahead of it runs.
    upload(w, "/Shared/ETL/mark", f"open({str(marker)!r}, 'w').write('ran')\n")
    second = w.jobs.create(name="second of a circle", tasks=[Task(task_key="t", run_job_task=RunJobTask(
        job_id=worker.job_id))])
    first = w.jobs.create(name="first of a circle", tasks=[
        Task(task_key="mark", notebook_task=NotebookTask(notebook_path="/Shared/ETL/mark")),
        Task(task_key="t", depends_on=[Dep(task_key="mark")], run_job_task=RunJobTask(job_id=second.job_id))])
    w.jobs.reset(second.job_id, new_settings=JobSettings(name="second of a circle", tasks=[
        Task(task_key="t", run_job_task=RunJobTask(job_id=first.job_id))]))
    circle = rf"\({first.job_id} → {second.job_id} → {first.job_id}\)"
    with pytest.raises(InvalidParameterValue, match=circle):
        w.jobs.run_now(job_id=first.job_id)
    with pytest.raises(InvalidParameterValue, match=rf"\({second.job_id} → {first.job_id} → {second.job_id}\)"):
        w.jobs.run_now(job_id=second.job_id)
    assert not marker.exists() and list(w.jobs.list_runs(job_id=first.job_id)) == []
    # Another job reaching the circle is refused as well: its run could never end.
    outside = w.jobs.create(name="reaches the circle", tasks=[Task(task_key="t", run_job_task=RunJobTask(
        job_id=first.job_id))])
    with pytest.raises(InvalidParameterValue, match=circle):
        w.jobs.run_now(job_id=outside.job_id)
    # A job edited into a circle while a run of it is under way: the run_job_task that would enter it fails.
    release = tmp_path / "release"
    upload(w, "/Shared/ETL/hold", f"import os, time\nwhile not os.path.exists({str(release)!r}):\n"
           "    time.sleep(0.05)\n")
    inner = w.jobs.create(name="inner", tasks=[Task(task_key="t", run_job_task=RunJobTask(job_id=worker.job_id))])
    outer = w.jobs.create(name="outer", tasks=[
        Task(task_key="hold", notebook_task=NotebookTask(notebook_path="/Shared/ETL/hold")),
        Task(task_key="t", depends_on=[Dep(task_key="hold")], run_job_task=RunJobTask(job_id=inner.job_id))])
    waiter = w.jobs.run_now(job_id=outer.job_id)
    w.jobs.reset(inner.job_id, new_settings=JobSettings(name="inner", tasks=[
        Task(task_key="t", run_job_task=RunJobTask(job_id=outer.job_id))]))
    release.write_text("go")
    run = waiter.result()
    failed = next(t for t in run.tasks if t.task_key == "t")
    assert run.state.result_state == RunResultState.FAILED and failed.state.result_state == RunResultState.FAILED
    assert (f"Could not run job {inner.job_id}: Job {inner.job_id} cannot run: its run_job_tasks would trigger jobs "
            f"in a circle ({inner.job_id} → {outer.job_id} → {inner.job_id})") in failed.state.state_message
    assert list(w.jobs.list_runs(job_id=inner.job_id)) == []

    # A job run twice along separate branches is no circle.
    twice = w.jobs.create(name="runs worker twice", tasks=[
        Task(task_key="a", run_job_task=RunJobTask(job_id=worker.job_id)),
        Task(task_key="b", depends_on=[Dep(task_key="a")], run_job_task=RunJobTask(job_id=worker.job_id))])
    assert w.jobs.run_now(job_id=twice.job_id).result().state.result_state == RunResultState.SUCCESS


def test_cancelling_a_run_job_task_cancels_the_run_it_started(w, server):
    from databricks.sdk.service.jobs import RunJobTask

    upload(w, "/Shared/ETL/slow", "import time\ntime.sleep(60)\n")
    slow = w.jobs.create(name="slow child", tasks=[Task(task_key="slow", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/slow"))])
    parent = w.jobs.create(name="waits for slow", tasks=[Task(task_key="t", run_job_task=RunJobTask(
        job_id=slow.job_id))])
    waiting = w.jobs.run_now(job_id=parent.job_id)
    wait_until(lambda: any(r.state.life_cycle_state == RunLifeCycleState.RUNNING and r.tasks and
                           r.tasks[0].state.life_cycle_state == RunLifeCycleState.RUNNING
                           for r in w.jobs.list_runs(job_id=slow.job_id, expand_tasks=True)),
               what="the child run's task to start")
    w.jobs.cancel_run(waiting.run_id).result()
    assert w.jobs.get_run(waiting.run_id).state.result_state == RunResultState.CANCELED
    child = next(iter(w.jobs.list_runs(job_id=slow.job_id)))
    wait_until(lambda: w.jobs.get_run(child.run_id).state.life_cycle_state == RunLifeCycleState.TERMINATED,
               what="the child run to end")
    assert w.jobs.get_run(child.run_id).state.result_state == RunResultState.CANCELED


def test_runs_waiting_on_run_job_tasks_never_hold_every_worker(w, server, tmp_path):
    """Two runs wait in run_job_tasks while a run of the next job they trigger (one at a time, queued) is pending:
    with the waiting runs holding both workers that pending run never started and the queued ones waited for it
    forever (found by a review). A waiting run gives its worker up."""
    from databricks.sdk.service.jobs import QueueSettings, RunJobTask

    released = tmp_path / "release"
    upload(w, "/Shared/ETL/held", f"import os, time\nwhile not os.path.exists({str(released)!r}):\n"
                                  "    time.sleep(0.1)\n")
    upload(w, "/Shared/ETL/quick", "print('quick')\n")
    held = w.jobs.create(name="held", max_concurrent_runs=5, tasks=[Task(task_key="h", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/held"))])
    one_at_a_time = w.jobs.create(name="one at a time", max_concurrent_runs=1, queue=QueueSettings(enabled=True),
                                  tasks=[Task(task_key="q", notebook_task=NotebookTask(notebook_path="/Shared/ETL/quick"))])
    both = w.jobs.create(name="both", max_concurrent_runs=5, tasks=[
        Task(task_key="first", run_job_task=RunJobTask(job_id=held.job_id)),
        Task(task_key="then", depends_on=[Dep(task_key="first")], run_job_task=RunJobTask(job_id=one_at_a_time.job_id))])
    parents = [w.jobs.run_now(job_id=both.job_id).run_id for _ in range(2)]  # as many as the workers
    wait_until(lambda: sum(r.state.life_cycle_state == RunLifeCycleState.RUNNING
                           for r in w.jobs.list_runs(job_id=held.job_id)) == 2, what="both held runs to run")
    pending = w.jobs.run_now(job_id=one_at_a_time.job_id).run_id
    released.write_text("go")
    for run_id in [*parents, pending]:
        wait_until(lambda run_id=run_id: w.jobs.get_run(run_id).state.life_cycle_state == RunLifeCycleState.TERMINATED,
                   what=f"run {run_id} to end", timeout=240)
        assert w.jobs.get_run(run_id).state.result_state == RunResultState.SUCCESS


def test_leaf_tasks_decide_the_runs_result_and_a_branch_not_taken_stays_excluded(w, notebooks):
    """A failed middle task with a succeeding cleanup leaf made the run FAILED (Databricks: SUCCESS_WITH_FAILURES),
    and the tasks after the first of a branch not taken ran."""
    from databricks.sdk.service.jobs import ConditionTask, ConditionTaskOp

    job = w.jobs.create(name="leaves and branches", tasks=[
        Task(task_key="boom", notebook_task=NotebookTask(notebook_path="/Shared/ETL/boom")),
        Task(task_key="cleanup", depends_on=[Dep(task_key="boom")], run_if=RunIf.ALL_DONE,
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="check", condition_task=ConditionTask(op=ConditionTaskOp.EQUAL_TO, left="a", right="b")),
        Task(task_key="if_true", depends_on=[Dep(task_key="check", outcome="true")],
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="after_if_true", depends_on=[Dep(task_key="if_true")],
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/boom")),
    ])
    run = w.jobs.run_now(job_id=job.job_id).result()
    states = {t.task_key: t.state.result_state for t in run.tasks}
    assert states["boom"] == RunResultState.FAILED and states["cleanup"] == RunResultState.SUCCESS
    assert states["if_true"] == RunResultState.EXCLUDED and states["after_if_true"] == RunResultState.EXCLUDED
    assert run.state.result_state == RunResultState.SUCCESS_WITH_FAILURES
    assert [j.job_id for j in w.jobs.list(name="LEAVES AND BRANCHES")] == [job.job_id]  # exact name, any case
    with pytest.raises(Exception, match=r"depends_on\[0\]\.outcome.*'boom' is not a condition_task"):
        w.jobs.create(name="bad outcome", tasks=[
            Task(task_key="boom", notebook_task=NotebookTask(notebook_path="/Shared/ETL/boom")),
            Task(task_key="x", depends_on=[Dep(task_key="boom", outcome="true")],
                 notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))])
    w.jobs.delete(job.job_id)


def test_a_job_timeout_names_the_jobs_timeout(w, server):
    upload(w, "/Shared/ETL/slow_job", "import time\ntime.sleep(60)\n")
    job = w.jobs.create(name="job timeout", timeout_seconds=3, tasks=[
        Task(task_key="slow", notebook_task=NotebookTask(notebook_path="/Shared/ETL/slow_job"))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.TIMEDOUT
    assert "the job's timeout_seconds (3 s) passed while this task ran" in run.tasks[0].state.state_message
    w.jobs.delete(job.job_id)


def test_job_parameters_reach_sql_file_tasks_and_run_now_sql_params_win(w, server):
    """Job parameters were not pushed down to SQL file tasks (':p was not provided'), and run-now's sql_params were
    dropped."""
    from databricks.sdk.service.jobs import SqlTask
    from databricks.sdk.service.jobs import SqlTaskFile as SqlFile

    w.workspace.upload("/Shared/py/pushdown.sql", b"SELECT CAST(:n AS INT) * 2 AS doubled",
                       format=ImportFormat.AUTO, overwrite=True)
    job = w.jobs.create(name="sql pushdown", parameters=[JobParameterDefinition(name="n", default="5"),
                                                         JobParameterDefinition(name="month", default="2026-07")],
                        tasks=[Task(task_key="sql", sql_task=SqlTask(
                            warehouse_id="local0000000000", file=SqlFile(path="/Shared/py/pushdown.sql"),
                            parameters={"n": "21"}))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    assert "10" in w.jobs.get_run_output(run.tasks[0].run_id).logs  # the job's n over the task's
    again = w.jobs.run_now(job_id=job.job_id, sql_params={"n": "50"}).result()
    assert "100" in w.jobs.get_run_output(again.tasks[0].run_id).logs
    w.jobs.delete(job.job_id)


def test_a_jobs_api_2_0_single_task_job_and_submit_run_as_one_task(w, server, notebooks):
    """The legacy CLI's single-task format (top-level notebook_task) was stored and then 'has no tasks to run';
    2.0 runs/submit in it was 'Missing required field: tasks'."""
    auth = {"Authorization": f"Bearer {server.token}"}
    cluster = next(iter(w.clusters.list())).cluster_id
    made = httpx.post(f"{server.url}/api/2.0/jobs/create", headers=auth, json={
        "name": "legacy month", "existing_cluster_id": cluster, "max_retries": 1,
        "notebook_task": {"notebook_path": "/Shared/ETL/first", "base_parameters": {"month": "2026-07"}}})
    assert made.status_code == 200, made.text
    settings = w.jobs.get(made.json()["job_id"]).settings
    assert [(t.task_key, t.notebook_task.notebook_path, t.max_retries) for t in settings.tasks] == [
        ("legacy_month", "/Shared/ETL/first", 1)]
    run = w.jobs.run_now(job_id=made.json()["job_id"]).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    assert w.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result == "2026-07"
    submitted = httpx.post(f"{server.url}/api/2.0/jobs/runs/submit", headers=auth, json={
        "run_name": "legacy once", "existing_cluster_id": cluster,
        "notebook_task": {"notebook_path": "/Shared/ETL/first"}})
    assert submitted.status_code == 200, submitted.text
    once = w.jobs.wait_get_run_job_terminated_or_skipped(submitted.json()["run_id"])
    assert once.state.result_state == RunResultState.SUCCESS and once.tasks[0].task_key == "legacy_once"
    w.jobs.delete(made.json()["job_id"])


def test_a_tasks_cluster_spark_conf_and_env_vars_reach_it(w, server):
    """A job cluster's spark_conf and spark_env_vars were accepted and ignored."""
    from databricks.sdk.service.compute import ClusterSpec
    from databricks.sdk.service.jobs import JobCluster

    scope = "cluster-env"
    if scope not in [s.name for s in w.secrets.list_scopes()]:
        w.secrets.create_scope(scope)
    w.secrets.put_secret(scope, "token", string_value="s3cr3t-value")
    upload(w, "/Shared/ETL/cluster_probe", "import os, json\n"
           'dbutils.notebook.exit(json.dumps({"conf": spark.conf.get("odoolake.probe.month"), '
           '"env": os.environ.get("PROBE_REGION"), "secret_len": len(os.environ.get("PROBE_TOKEN", ""))}))\n')
    spec = ClusterSpec(spark_version="15.4.x-scala2.12", num_workers=1, node_type_id="local",
                       spark_conf={"odoolake.probe.month": "{{job.start_time.year}}-07"},
                       spark_env_vars={"PROBE_REGION": "ph-manila", "PROBE_TOKEN": "{{secrets/cluster-env/token}}"})
    job = w.jobs.create(name="cluster settings", job_clusters=[JobCluster(job_cluster_key="c", new_cluster=spec)],
                        tasks=[Task(task_key="t", job_cluster_key="c",
                                    notebook_task=NotebookTask(notebook_path="/Shared/ETL/cluster_probe"))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    import json
    from datetime import UTC, datetime

    seen = json.loads(w.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result)
    year = datetime.fromtimestamp(run.start_time / 1000, UTC).year
    assert seen == {"conf": f"{year}-07", "env": "ph-manila", "secret_len": len("s3cr3t-value")}
    w.jobs.delete(job.job_id)


def test_a_library_the_workspace_lacks_fails_the_task_naming_it(w, notebooks):
    """A task's libraries were ignored: its code then failed with a bare ModuleNotFoundError."""
    from databricks.sdk.service.compute import Library, PythonPyPiLibrary

    job = w.jobs.create(name="needs emoji", tasks=[Task(
        task_key="t", libraries=[Library(pypi=PythonPyPiLibrary(package="emoji==2.12.1"))],
        notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    assert "library emoji==2.12.1 is not in the local workspace's Python environment" in run.state.state_message
    with pytest.raises(Exception, match=r"tasks\[0\]\.environment_key.*'nope' is not one of the job's environments"):
        w.jobs.create(name="bad env", tasks=[Task(task_key="t", environment_key="nope",
                                                  notebook_task=NotebookTask(notebook_path="/Shared/ETL/first"))])
    w.jobs.delete(job.job_id)


RENDEZVOUS = """import pathlib, time
dbutils.widgets.text("me", "")
dbutils.widgets.text("other", "")
folder = pathlib.Path(dbutils.widgets.get("folder"))
(folder / dbutils.widgets.get("me")).touch()
deadline = time.monotonic() + 60
while not (folder / dbutils.widgets.get("other")).exists():
    if time.monotonic() > deadline:
        raise TimeoutError("the other task never started: tasks ran one at a time")
    time.sleep(0.05)
"""


def test_independent_tasks_run_at_the_same_time_and_their_dependents_wait_for_both(w, notebooks, tmp_path):
    upload(w, "/Shared/ETL/rendezvous", RENDEZVOUS)
    folder = str(tmp_path)

    def meet(key: str, other: str) -> Task:
        return Task(task_key=key, timeout_seconds=90, notebook_task=NotebookTask(
            notebook_path="/Shared/ETL/rendezvous", base_parameters={"folder": folder, "me": key, "other": other}))

    job = w.jobs.create(name="parallel", tasks=[
        meet("forms", "features"), meet("features", "forms"),
        Task(task_key="publish", depends_on=[Dep(task_key="forms"), Dep(task_key="features")],
             notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
    ])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.state.state_message
    tasks = {t.task_key: t for t in run.tasks}
    assert tasks["forms"].start_time < tasks["features"].end_time
    assert tasks["features"].start_time < tasks["forms"].end_time
    assert tasks["publish"].start_time >= max(tasks["forms"].end_time, tasks["features"].end_time)


def test_queued_runs_never_hold_the_workers_their_run_job_tasks_need(w, notebooks):
    """Two workers: queued runs of a job took them both while they waited, so the first run's run_job_task could
    never start its child run, and every job of the workspace stopped."""
    from datetime import timedelta

    from databricks.sdk.service.jobs import QueueSettings, RunJobTask

    child = w.jobs.create(name="queued child", tasks=[Task(task_key="c", notebook_task=NotebookTask(
        notebook_path="/Shared/ETL/first"))]).job_id
    parent = w.jobs.create(name="queued parent", max_concurrent_runs=1, queue=QueueSettings(enabled=True), tasks=[
        Task(task_key="pre", notebook_task=NotebookTask(notebook_path="/Shared/ETL/first")),
        Task(task_key="rj", depends_on=[Dep(task_key="pre")], run_job_task=RunJobTask(job_id=child))]).job_id
    waiters = [w.jobs.run_now(job_id=parent) for _ in range(3)]
    for waiter in waiters:
        assert waiter.result(timeout=timedelta(minutes=4)).state.result_state == RunResultState.SUCCESS


def test_nothing_starts_or_retries_once_the_jobs_timeout_has_passed(w, notebooks):
    upload(w, "/Shared/ETL/slow", "import time\ntime.sleep(60)\n")
    slow = NotebookTask(notebook_path="/Shared/ETL/slow")
    job = w.jobs.create(name="timed out wide", timeout_seconds=4, tasks=[
        Task(task_key="retried", notebook_task=slow, retry_on_timeout=True, max_retries=3),
        *[Task(task_key=f"p{i}", notebook_task=slow) for i in range(4)],  # one of them waits for a free place
        Task(task_key="after", depends_on=[Dep(task_key="retried")], run_if=RunIf.ALL_DONE, notebook_task=slow)])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.TIMEDOUT
    keys = [t.task_key for t in run.tasks]
    assert keys.count("retried") == 1  # no retry after the job's deadline
    never = [t for t in run.tasks if "before this task started" in (t.state.state_message or "")]
    assert {t.task_key for t in never} >= {"after"} and len(never) >= 2
    assert all(t.state.result_state == RunResultState.TIMEDOUT for t in never)
