"""Which tasks a repair re-runs, how its history reads, and which attempt of a task clients take as its latest."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.jobs import lifecycle, repairs


def _task(key: str, result: str, deps: tuple[str, ...] = (), run_id: int = 0) -> dict:
    task = {"task_key": key, "run_id": run_id or hash(key) % 10_000, "depends_on": [{"task_key": d} for d in deps]}
    lifecycle.set_result(task, result, skipped=result == "EXCLUDED")
    return task


def _run(*tasks: dict) -> dict:
    run = {"run_id": 7, "start_time": 1000, "end_time": 2000, "tasks": list(tasks)}
    lifecycle.set_result(run, "FAILED")
    return run


# a -> b -> c, a -> d; e on its own; f is a cleanup branch that was not taken
CHAIN = _run(_task("a", "SUCCESS"), _task("b", "FAILED", ("a",)), _task("c", "UPSTREAM_FAILED", ("b",)),
             _task("d", "SUCCESS", ("a",)), _task("e", "SUCCESS"), _task("f", "EXCLUDED", ("b",)))


def test_all_failed_tasks_are_those_that_did_not_succeed_and_excluded_ones_count_as_successful():
    assert repairs.tasks_to_rerun(CHAIN, None, True, False) == ["b", "c"]


def test_dependent_tasks_are_followed_to_the_end_of_the_graph():
    assert repairs.tasks_to_rerun(CHAIN, ["a"], False, True) == ["a", "b", "c", "d", "f"]
    assert repairs.tasks_to_rerun(CHAIN, ["a"], False, False) == ["a"]


def test_a_tasks_latest_attempt_decides_whether_it_failed():
    retried = _run(_task("a", "FAILED", run_id=1), _task("a", "SUCCESS", run_id=2), _task("b", "FAILED", ("a",)))
    assert lifecycle.latest_attempts(retried)["a"]["run_id"] == 2
    assert repairs.tasks_to_rerun(retried, None, True, False) == ["b"]


def test_wrong_selections_are_refused_by_name():
    with pytest.raises(InvalidParameterValue, match=r"run 7 has no task zz \(its tasks: a, b, c, d, e, f\)"):
        repairs.tasks_to_rerun(CHAIN, ["zz"], False, False)
    with pytest.raises(InvalidParameterValue, match="expected a list of task keys"):
        repairs.tasks_to_rerun(CHAIN, [3], False, False)  # type: ignore[list-item]
    succeeded = _run(_task("a", "SUCCESS"), _task("x", "EXCLUDED"))
    with pytest.raises(InvalidParameterValue, match="Run 7 has no failed tasks to repair"):
        repairs.tasks_to_rerun(succeeded, None, True, False)


def test_the_history_keeps_how_each_pass_ended_and_repairs_follow_the_latest():
    run = _run(_task("a", "FAILED", run_id=11))
    assert [i["type"] for i in repairs.repair_history(run)] == ["ORIGINAL"]
    repairs.check_latest_repair(run, None)
    repairs.open_repair(run, 500, [12], now_ms=3000)
    lifecycle.set_active(run, "RUNNING")
    history = repairs.repair_history(run)
    assert history[0] == {"type": "ORIGINAL", "start_time": 1000, "end_time": 2000, "task_run_ids": [11],
                          "state": history[0]["state"], "status": history[0]["status"]}
    assert history[0]["state"]["result_state"] == "FAILED"
    assert history[1]["id"] == 500 and history[1]["state"]["life_cycle_state"] == "RUNNING"
    assert "end_time" not in history[1]  # still running
    with pytest.raises(InvalidParameterValue, match="The latest repair ID needs to be provided"):
        repairs.check_latest_repair(run, None)
    with pytest.raises(InvalidParameterValue, match="Invalid latest_repair_id 499 for run 7: its latest repair is 500"):
        repairs.check_latest_repair(run, 499)
    repairs.check_latest_repair(run, 500)


def test_clients_take_the_last_started_attempt_of_each_task_whatever_the_list_order():
    def t(key: str, start: int | None, run_id: int) -> SimpleNamespace:
        return SimpleNamespace(task_key=key, start_time=start, run_id=run_id)

    latest = lifecycle.latest_task_runs([t("a", 300, 3), t("b", None, 9), t("a", 100, 1), t("a", 200, 2)])
    assert sorted((x.task_key, x.run_id) for x in latest) == [("a", 3), ("b", 9)]
