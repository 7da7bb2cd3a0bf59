"""What ``bundle run`` prints while it waits: a line per state change of the run's tasks, the queue's reason while
the run is queued (its tasks say only PENDING), and the tasks that ended first first."""

from __future__ import annotations

from databricks.sdk.service.jobs import Run, RunLifeCycleState, RunResultState, RunState, RunTask

from odoolake.cli import bundle


def _task(key: str, life: str, result: str | None = None, end: int = 0) -> RunTask:
    return RunTask(task_key=key, run_id=hash(key) % 1000, start_time=1, end_time=end,
                   state=RunState(life_cycle_state=RunLifeCycleState(life),
                                  result_state=RunResultState(result) if result else None))


def test_a_queued_run_says_why_and_tasks_are_listed_in_the_order_they_ended(monkeypatch):
    printed: list[str] = []
    monkeypatch.setattr(bundle.console, "print", lambda text: printed.append(str(text)))
    progress = bundle._RunProgress(quiet=False)
    reason = "Queued due to reaching maximum concurrent runs of 1."
    queued = Run(run_id=7, run_page_url="http://x/7",
                 state=RunState(life_cycle_state=RunLifeCycleState.QUEUED, state_message=reason),
                 tasks=[_task("prepare", "PENDING"), _task("report", "PENDING")])
    progress(queued)
    progress(queued)  # said once
    running = Run(run_id=7, state=RunState(life_cycle_state=RunLifeCycleState.RUNNING),
                  tasks=[_task("prepare", "RUNNING"), _task("report", "PENDING")])
    progress(running)
    ended = Run(run_id=7, state=RunState(life_cycle_state=RunLifeCycleState.TERMINATED),
                tasks=[_task("report", "TERMINATED", "UPSTREAM_FAILED", end=20),
                       _task("prepare", "TERMINATED", "FAILED", end=10)])
    progress(ended)
    assert [line.split() for line in printed] == [
        ["Run", "7:", "http://x/7"], ["queued:", *reason.split()], ["prepare", "PENDING"], ["report", "PENDING"],
        ["prepare", "RUNNING"], ["prepare", "FAILED"], ["report", "UPSTREAM_FAILED"]]
