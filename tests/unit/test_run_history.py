"""A job's run history: active runs found without reading every run, pages read only as far as they go, and runs
that ended more than RUN_HISTORY_DAYS ago forgotten with their logs (Databricks keeps 60 days)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from odoolake.config import WorkspacePaths
from odoolake.workspace.db import MIGRATIONS, Database
from odoolake.workspace.jobs.runner import HISTORY_SWEEP_SECONDS, RUN_HISTORY_DAYS, JobRunner
from odoolake.workspace.jobs.store import JobsStore

DAY_MS = 86_400_000
NOW_MS = 1_800_000_000_000


def run(run_id: int, state: str, end_days_ago: float | None = None, job_id: int = 7) -> dict:
    body = {"run_id": run_id, "job_id": job_id, "state": {"life_cycle_state": state}, "tasks": [],
            "start_time": NOW_MS - 100 * DAY_MS}
    if end_days_ago is not None:
        body["end_time"] = int(NOW_MS - end_days_ago * DAY_MS)
    return body


def test_active_runs_and_pages_come_from_the_database_not_from_every_run(tmp_path):
    store = JobsStore(Database(tmp_path / "workspace.db"))
    for run_id in range(1, 41):
        store.save_run(run(run_id, "TERMINATED", end_days_ago=1))
    store.save_run(run(41, "RUNNING"))
    store.save_run(run(42, "QUEUED"))
    store.save_run(run(43, "PENDING", job_id=8))
    assert [r["run_id"] for r in store.runs(7, active=True)] == [42, 41]
    assert [r["run_id"] for r in store.runs(active=True)] == [43, 42, 41]
    assert [r["run_id"] for r in store.runs(7, active=False, limit=3)] == [40, 39, 38]
    store.save_run(run(41, "TERMINATED", end_days_ago=0))  # it ended: no longer active
    assert [r["run_id"] for r in store.runs(7, active=True)] == [42]


def test_runs_of_a_database_from_before_keep_their_active_state(tmp_path):
    path = tmp_path / "workspace.db"
    old = Database(path, MIGRATIONS[:10])
    with old.transaction() as conn:
        for body in (run(1, "RUNNING"), run(2, "TERMINATED", end_days_ago=1), run(3, "WAITING_FOR_RETRY")):
            conn.execute("INSERT INTO runs(run_id, job_id, body, created_time) VALUES (?, ?, ?, 0)",
                         (body["run_id"], 7, json.dumps(body)))
    assert [r["run_id"] for r in JobsStore(Database(path)).runs(active=True)] == [3, 1]


def test_runs_that_ended_more_than_the_history_ago_are_forgotten_with_their_logs(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    store = JobsStore(Database(paths.home / "workspace.db"))
    made = {1: run(1, "TERMINATED", end_days_ago=RUN_HISTORY_DAYS + 1), 2: run(2, "INTERNAL_ERROR", RUN_HISTORY_DAYS + 5),
            3: run(3, "TERMINATED", end_days_ago=RUN_HISTORY_DAYS - 1), 4: run(4, "RUNNING")}
    for run_id, body in made.items():
        store.save_run(body)
        (paths.home / "runs" / str(run_id) / "1").mkdir(parents=True)
        store.save_output(run_id * 10, run_id, {"notebook_output": {"result": "x"}})
    runner = JobRunner(store, tree=None, paths=paths, connections=None)  # type: ignore[arg-type]
    try:
        assert runner.forget_old_runs(NOW_MS) == 2
    finally:
        runner.stop()
    assert [r["run_id"] for r in store.runs()] == [4, 3]
    assert sorted(p.name for p in (paths.home / "runs").iterdir()) == ["3", "4"]
    assert store.output(10) is None and store.output(30) is not None


def test_the_history_is_swept_when_the_server_starts_and_then_once_an_hour_as_runs_are_queued(tmp_path, monkeypatch):
    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    store = JobsStore(Database(paths.home / "workspace.db"))
    store.save_run(run(1, "TERMINATED", end_days_ago=RUN_HISTORY_DAYS + 400))  # long enough before the real now
    revoked = []
    connections = SimpleNamespace(revoke_leftovers=lambda: revoked.append(True))
    runner = JobRunner(store, tree=None, paths=paths, connections=connections)  # type: ignore[arg-type]
    try:
        runner.recover()  # at start: the old run is gone before anything is queued
        assert store.runs() == [] and revoked == [True]

        submitted: list[str] = []
        monkeypatch.setattr(runner, "_start", lambda fn, *args: submitted.append(fn.__name__))
        runner.enqueue(2)
        assert submitted == ["_execute_in_slot"]  # swept at start: not again within the hour
        monkeypatch.setattr(runner, "_swept", runner._swept - HISTORY_SWEEP_SECONDS - 1)
        runner.enqueue(3)
        runner.enqueue(4)
        assert submitted == ["_execute_in_slot", "forget_old_runs", "_execute_in_slot", "_execute_in_slot"]
    finally:
        runner.stop()


def test_a_task_runs_run_is_found_by_its_index_also_for_runs_saved_before_it(tmp_path):
    path = tmp_path / "workspace.db"
    old = Database(path, MIGRATIONS[:12])
    before = {**run(1, "TERMINATED", end_days_ago=1), "tasks": [{"run_id": 11, "task_key": "a"}]}
    with old.transaction() as conn:
        conn.execute("INSERT INTO runs(run_id, job_id, body, created_time) VALUES (?, ?, ?, 0)",
                     (1, 7, json.dumps(before)))
    store = JobsStore(Database(path))
    assert store.run_of_task(11)["run_id"] == 1  # filled by the migration
    store.save_run({**run(2, "RUNNING"), "tasks": [{"run_id": 21, "task_key": "a"}, {"run_id": 22, "task_key": "b"}]})
    assert store.run_of_task(22)["run_id"] == 2 and store.run_of_task(2) is None
    store.delete_run(2)
    assert store.run_of_task(21) is None and store.run_of_task(11)["run_id"] == 1


def test_a_run_cancelled_while_queued_is_ended_and_announced_once_by_racing_callers(tmp_path, monkeypatch):
    """cancel() and the run's own wait for its queue turn both end a queued run that was cancelled; each read the
    run as still queued before the other saved it, and the job's on_failure went out twice."""
    import threading
    import time

    paths = WorkspacePaths.from_env(tmp_path / "home").ensure()
    store = JobsStore(Database(paths.home / "workspace.db"))
    store.save_run(run(42, "QUEUED"))
    runner = JobRunner(store, tree=None, paths=paths, connections=None)  # type: ignore[arg-type]
    announced: list[str] = []
    monkeypatch.setattr(runner, "announce_end", lambda r: announced.append(r["state"]["result_state"]))
    save = store.save_run
    monkeypatch.setattr(store, "save_run", lambda body: (time.sleep(0.2), save(body)))  # the window both read in
    both = threading.Barrier(2)

    def end() -> None:
        both.wait()
        runner._finish_cancelled(42)

    threads = [threading.Thread(target=end) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert announced == ["CANCELED"]
    assert store.run(42)["state"]["result_state"] == "CANCELED"
    runner.cancel(42)  # a cancel of a run already ended changes nothing
    assert announced == ["CANCELED"]
