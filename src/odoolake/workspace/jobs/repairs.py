"""The rules of repairing a run (``jobs/runs/repair``): which tasks re-run, the repair ids, the run's history.

A repair re-runs some tasks of an ended run as part of that run: each re-run task gets a task run of its own,
added after the attempts it follows, and the run's result is decided again from every task's latest attempt.
``repair_history`` (``runs/get?include_history=true``) lists the original run and each repair with the task runs
it ran, as Databricks does.
"""

from __future__ import annotations

from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.jobs import lifecycle

# a task whose latest attempt ended in one of these is not re-run by rerun_all_failed_tasks (an excluded task counts
# as successful, as on Databricks)
DONE_WELL = (*lifecycle.SUCCEEDED, "EXCLUDED")
HISTORY = "_repair_history"  # where a run keeps its repair history: the original run first, then each repair


def check_latest_repair(run: dict, latest_repair_id: int | None) -> None:
    """Repairs of one run follow each other: the second and later name the latest repair, so that two clients
    repairing the same run at once cannot both succeed unseen."""
    latest = latest_repair_id_of(run)
    if latest is not None and latest_repair_id is None:
        raise InvalidParameterValue(f"The latest repair ID needs to be provided in order to create a new repair: "
                                    f"run {run['run_id']} was last repaired by repair {latest} (latest_repair_id).")
    if latest_repair_id is not None and latest_repair_id != latest:
        now = f"its latest repair is {latest}" if latest is not None else "it has not been repaired"
        raise InvalidParameterValue(f"Invalid latest_repair_id {latest_repair_id} for run {run['run_id']}: {now}.")


def repair_count(run: dict) -> int:
    """How many times the run was repaired (``{{job.repair_count}}``)."""
    return sum(1 for item in run.get(HISTORY) or [] if item["type"] == "REPAIR")


def latest_repair_id_of(run: dict) -> int | None:
    repairs = [item["id"] for item in run.get(HISTORY) or [] if item["type"] == "REPAIR"]
    return repairs[-1] if repairs else None


def tasks_to_rerun(run: dict, rerun_tasks: list[str] | None, rerun_all_failed_tasks: bool,
                   rerun_dependent_tasks: bool) -> list[str]:
    """The keys of the tasks a repair re-runs, in the run's order: those named, or every task whose latest attempt
    did not succeed, and with ``rerun_dependent_tasks`` every task downstream of them."""
    latest = lifecycle.latest_attempts(run)
    if rerun_tasks and rerun_all_failed_tasks:
        raise InvalidParameterValue("Only one of rerun_tasks or rerun_all_failed_tasks can be used.")
    if rerun_tasks:
        if not all(isinstance(k, str) for k in rerun_tasks):
            raise InvalidParameterValue(f"Invalid rerun_tasks: expected a list of task keys, got {rerun_tasks!r}.")
        unknown = [k for k in rerun_tasks if k not in latest]
        if unknown:
            raise InvalidParameterValue(f"Invalid rerun_tasks: run {run['run_id']} has no task {', '.join(unknown)} "
                                        f"(its tasks: {', '.join(latest)}).")
        chosen = set(rerun_tasks)
    elif rerun_all_failed_tasks:
        chosen = {k for k, t in latest.items() if t["state"].get("result_state") not in DONE_WELL}
        if not chosen:
            raise InvalidParameterValue(f"Run {run['run_id']} has no failed tasks to repair: name the tasks to run "
                                        f"again in rerun_tasks.")
    else:
        raise InvalidParameterValue("Missing required field: rerun_tasks (or rerun_all_failed_tasks: true).")
    if rerun_dependent_tasks:
        grew = True
        while grew:
            downstream = {k for k, t in latest.items()
                          if k not in chosen and any(d["task_key"] in chosen for d in t.get("depends_on") or [])}
            chosen |= downstream
            grew = bool(downstream)
    return [k for k in latest if k in chosen]


def open_repair(run: dict, repair_id: int, task_run_ids: list[int], now_ms: int) -> None:
    """Record a repair in the run's history; the item before it (the original run, or the previous repair) keeps
    the times and result it ended with."""
    history = run.setdefault(HISTORY, [_item(run, "ORIGINAL", [t["run_id"] for t in run.get("tasks", [])])])
    history[-1].update(_ended(run))
    history.append({"type": "REPAIR", "id": repair_id, "start_time": now_ms, "task_run_ids": task_run_ids})


def record_task_run(run: dict, task_run_id: int) -> None:
    """A task run made while a repair runs (a retry of one of its tasks) belongs to that repair's history item."""
    history = run.get(HISTORY)
    if history:
        history[-1]["task_run_ids"].append(task_run_id)


def repair_history(run: dict) -> list[dict]:
    """The run's history as ``runs/get?include_history=true`` answers it: the latest item shows the run as it
    stands now."""
    history = [dict(item) for item in run.get(HISTORY) or []]
    if not history:
        return [_item(run, "ORIGINAL", [t["run_id"] for t in run.get("tasks", [])]) | _ended(run)]
    history[-1].update(_ended(run))
    return history


def _item(run: dict, kind: str, task_run_ids: list[int]) -> dict:
    return {"type": kind, "start_time": run.get("start_time", 0), "task_run_ids": task_run_ids}


def _ended(run: dict) -> dict:
    out = {"state": run.get("state", {}), "status": run.get("status", {})}
    if not lifecycle.is_active(run) and run.get("end_time"):
        out["end_time"] = run["end_time"]
    return out
