"""Repairing a run through the official SDK (``w.jobs.repair_run``): failed tasks re-run as part of the same run,
with new task runs beside the ones they follow, the run's result decided again, the repair history kept, and
repairs that would be wrong refused by name."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, PermissionDenied
from databricks.sdk.service.jobs import (
    JobParameterDefinition,
    JobSettings,
    NotebookTask,
    PipelineParams,
    PipelineTask,
    RepairHistoryItemType,
    RunResultState,
    SubmitTask,
    Task,
)
from databricks.sdk.service.jobs import TaskDependency as Dep

from .test_jobs import upload
from .test_roles import _token

FLAKY = ('dbutils.widgets.text("fail", "no")\n'
         'if dbutils.widgets.get("fail") == "yes":\n    raise ValueError("flaky: told to fail")\n'
         'dbutils.notebook.exit("ok")\n')
COUNT = 'dbutils.jobs.taskValues.set(key="n", value=7)\ndbutils.notebook.exit("counted")\n'
REPORT = ('n = dbutils.jobs.taskValues.get(taskKey="count", key="n")\n'
          'dbutils.notebook.exit(f"{n}/{dbutils.widgets.get(\'repairs\')}/{dbutils.widgets.get(\'runs\')}")\n')


def _attempts(run) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in run.tasks:
        out.setdefault(t.task_key, []).append(t)
    return out


@pytest.fixture(scope="module")
def failed_run(w):
    """A run whose flaky task failed twice (one retry), whose count task succeeded and whose report task, which
    needs both, never ran."""
    w.workspace.mkdirs("/Shared/Repair")
    for name, source in (("flaky", FLAKY), ("count", COUNT), ("report", REPORT)):
        upload(w, f"/Shared/Repair/{name}", source)
    job = w.jobs.create(name="repairable", parameters=[JobParameterDefinition(name="fail", default="no")], tasks=[
        Task(task_key="flaky", max_retries=1, min_retry_interval_millis=10, notebook_task=NotebookTask(
            notebook_path="/Shared/Repair/flaky", base_parameters={"fail": "{{job.parameters.fail}}"})),
        Task(task_key="count", notebook_task=NotebookTask(notebook_path="/Shared/Repair/count")),
        Task(task_key="report", depends_on=[Dep(task_key="flaky"), Dep(task_key="count")],
             notebook_task=NotebookTask(notebook_path="/Shared/Repair/report", base_parameters={
                 "repairs": "{{job.repair_count}}", "runs": "{{task.execution_count}}"})),
    ])
    return w.jobs.run_now(job_id=job.job_id, job_parameters={"fail": "yes"}).result()


def test_a_retry_is_a_task_run_of_its_own(w, failed_run):
    assert failed_run.state.result_state == RunResultState.FAILED
    flaky = _attempts(failed_run)["flaky"]
    assert [t.attempt_number for t in flaky] == [0, 1]
    assert flaky[0].run_id != flaky[1].run_id
    assert all(t.state.result_state == RunResultState.FAILED for t in flaky)
    for attempt in flaky:  # each attempt keeps its own output
        assert "flaky: told to fail" in w.jobs.get_run_output(attempt.run_id).error
    report = _attempts(failed_run)["report"][0]
    assert report.state.result_state == RunResultState.UPSTREAM_FAILED
    assert w.jobs.get_run(report.run_id).state.result_state == RunResultState.UPSTREAM_FAILED  # a run, no output


def test_repairs_that_would_be_wrong_are_refused_by_name(server, w, failed_run):
    run_id = failed_run.run_id
    with pytest.raises(BadRequest, match=rf"run {run_id} has no task nope \(its tasks: flaky, count, report\)"):
        w.jobs.repair_run(run_id, rerun_tasks=["nope"])
    with pytest.raises(BadRequest, match="Only one of rerun_tasks or rerun_all_failed_tasks can be used"):
        w.jobs.repair_run(run_id, rerun_tasks=["flaky"], rerun_all_failed_tasks=True)
    with pytest.raises(BadRequest, match="Missing required field: rerun_tasks"):
        w.jobs.repair_run(run_id)
    with pytest.raises(BadRequest, match=rf"Invalid latest_repair_id 5 for run {run_id}: it has not been repaired"):
        w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, latest_repair_id=5)
    with pytest.raises(BadRequest, match="jar_params: not supported by the local runner's repair"):
        w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, jar_params=["x"])
    with pytest.raises(BadRequest, match=r"Invalid job_parameters: nope not defined on the job"):
        w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, job_parameters={"nope": "1"})
    stranger = WorkspaceClient(host=server.url, token=_token(server, "repair-dev@example.ph", "developer"))
    with pytest.raises(PermissionDenied, match=rf"repair-dev@example.ph may not repair run {run_id} of job"):
        stranger.jobs.repair_run(run_id, rerun_all_failed_tasks=True)
    after = w.jobs.get_run(run_id, include_history=True)  # nothing a refused repair tried was kept
    assert len(after.tasks) == len(failed_run.tasks) and after.state.result_state == RunResultState.FAILED
    assert [h.type for h in after.repair_history] == [RepairHistoryItemType.ORIGINAL]


def test_repair_reruns_the_failed_tasks_in_the_same_run_then_follows_the_latest_repair(w, failed_run):
    run_id = failed_run.run_id
    before = _attempts(failed_run)
    waiter = w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, job_parameters={"fail": "no"})
    first_repair = waiter.response.repair_id
    with pytest.raises(BadRequest, match=rf"Run {run_id} is still active"):  # one repair at a time
        w.jobs.repair_run(run_id, rerun_tasks=["count"], latest_repair_id=first_repair)
    repaired = waiter.result()
    assert repaired.run_id == run_id and repaired.state.result_state == RunResultState.SUCCESS
    after = _attempts(repaired)
    assert [(t.run_id, t.start_time, t.end_time) for t in after["count"]] == [
        (before["count"][0].run_id, before["count"][0].start_time, before["count"][0].end_time)]  # not re-run
    assert len(after["flaky"]) == 3 and after["flaky"][-1].state.result_state == RunResultState.SUCCESS
    assert len(after["report"]) == 2
    # count's task value is kept from the run's first pass; the report's second run, in the run's first repair
    assert w.jobs.get_run_output(after["report"][-1].run_id).notebook_output.result == "7/1/2"
    assert w.jobs.get_run_output(after["flaky"][-1].run_id).notebook_output.result == "ok"

    history = w.jobs.get_run(run_id, include_history=True).repair_history
    assert [h.type for h in history] == [RepairHistoryItemType.ORIGINAL, RepairHistoryItemType.REPAIR]
    assert history[0].state.result_state == RunResultState.FAILED
    assert sorted(history[0].task_run_ids) == sorted(t.run_id for ts in before.values() for t in ts)
    assert history[1].id == first_repair and history[1].state.result_state == RunResultState.SUCCESS
    assert sorted(history[1].task_run_ids) == sorted([after["flaky"][-1].run_id, after["report"][-1].run_id])

    with pytest.raises(BadRequest, match="The latest repair ID needs to be provided in order to create a new "
                                         rf"repair: run {run_id} was last repaired by repair {first_repair}"):
        w.jobs.repair_run(run_id, rerun_tasks=["count"])
    with pytest.raises(BadRequest, match=rf"Run {run_id} has no failed tasks to repair"):
        w.jobs.repair_run(run_id, rerun_all_failed_tasks=True, latest_repair_id=first_repair)
    second = w.jobs.repair_run(run_id, rerun_tasks=["count"], rerun_dependent_tasks=True,
                               latest_repair_id=first_repair)
    again = _attempts(second.result())
    assert (len(again["flaky"]), len(again["count"]), len(again["report"])) == (3, 2, 3)
    assert w.jobs.get_run_output(again["report"][-1].run_id).notebook_output.result == "7/2/3"
    history = w.jobs.get_run(run_id, include_history=True).repair_history
    assert [h.id for h in history[1:]] == [first_repair, second.response.repair_id]
    assert history[1].state.result_state == RunResultState.SUCCESS and history[1].end_time


def test_a_one_time_run_is_repaired_with_its_own_tasks_and_new_notebook_params(w, failed_run):
    run = w.jobs.submit(run_name="one-time", tasks=[SubmitTask(task_key="flaky", notebook_task=NotebookTask(
        notebook_path="/Shared/Repair/flaky", base_parameters={"fail": "yes"}))]).result()
    assert run.state.result_state == RunResultState.FAILED
    with pytest.raises(BadRequest, match=rf"run {run.run_id} is a one-time run \(runs/submit\), which has no job "):
        w.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, job_parameters={"fail": "no"})
    repaired = w.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True, notebook_params={"fail": "no"}).result()
    assert repaired.state.result_state == RunResultState.SUCCESS
    assert w.jobs.get_run_output(repaired.run_id).notebook_output.result == "ok"  # the latest attempt's output


ECHO = ('import time\ndbutils.widgets.text("a", "")\ndbutils.widgets.text("b", "")\ndbutils.widgets.text("sleep", "0")\n'
        'time.sleep(int(dbutils.widgets.get("sleep")))\n'
        'if dbutils.widgets.get("a") == "bad":\n    raise ValueError("a is bad")\n'
        'dbutils.notebook.exit(dbutils.widgets.get("a") + "/" + dbutils.widgets.get("b"))\n')


def test_a_repair_keeps_the_parameters_it_does_not_give_and_waits_for_room_in_the_job(w, failed_run):
    upload(w, "/Shared/Repair/echo", ECHO)
    params = [JobParameterDefinition(name=n, default=f"{n.upper()}0") for n in ("a", "b", "sleep")]
    echo = Task(task_key="echo", notebook_task=NotebookTask(notebook_path="/Shared/Repair/echo", base_parameters={
        "a": "{{job.parameters.a}}", "b": "{{job.parameters.b}}", "sleep": "{{job.parameters.sleep}}"}))
    job_id = w.jobs.create(name="echo", parameters=params, max_concurrent_runs=1, tasks=[echo]).job_id
    failed = w.jobs.run_now(job_id=job_id, job_parameters={"a": "bad", "b": "B1", "sleep": "0"}).result()
    assert failed.state.result_state == RunResultState.FAILED
    busy = w.jobs.run_now(job_id=job_id, job_parameters={"sleep": "60"})
    with pytest.raises(BadRequest, match=rf"Job {job_id} has 1 active run\(s\) \({busy.run_id}\), its "
                                         rf"max_concurrent_runs of 1: repair run {failed.run_id} once they end"):
        w.jobs.repair_run(failed.run_id, rerun_all_failed_tasks=True, job_parameters={"a": "A2"})
    w.jobs.cancel_run(busy.run_id).result()
    repaired = w.jobs.repair_run(failed.run_id, rerun_all_failed_tasks=True, job_parameters={"a": "A2"}).result()
    assert w.jobs.get_run_output(repaired.run_id).notebook_output.result == "A2/B1"  # b as the run had it
    assert {p.name: p.value for p in repaired.job_parameters} == {"a": "A2", "b": "B1", "sleep": "0"}

    w.jobs.update(job_id, new_settings=JobSettings(tasks=[  # the job now makes echo wait for a new task
        Task(task_key="first", notebook_task=NotebookTask(notebook_path="/Shared/Repair/count")),
        Task(task_key="echo", depends_on=[Dep(task_key="first")], notebook_task=echo.notebook_task)]))
    latest = w.jobs.get_run(failed.run_id, include_history=True).repair_history[-1].id
    with pytest.raises(BadRequest, match=rf"Task echo now depends on first, which run {failed.run_id} does not have"):
        w.jobs.repair_run(failed.run_id, rerun_tasks=["echo"], latest_repair_id=latest)


def test_a_pipeline_task_is_repaired_with_the_pipeline_params_given(w):
    run = w.jobs.submit(run_name="no pipeline", tasks=[SubmitTask(task_key="p", pipeline_task=PipelineTask(
        pipeline_id="no-such-pipeline"))]).result()
    assert run.state.result_state == RunResultState.FAILED
    repaired = w.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True,
                                 pipeline_params=PipelineParams(full_refresh=True)).result()
    first, again = repaired.tasks
    assert (first.pipeline_task.full_refresh, again.pipeline_task.full_refresh) == (None, True)
    assert "no-such-pipeline was not found" in again.state.state_message
