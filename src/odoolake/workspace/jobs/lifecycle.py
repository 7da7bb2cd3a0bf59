"""Run and task states exactly as the SDK reads them: ``state`` (RunState) and ``status`` (RunStatus).

The SDK's waiter polls ``state.life_cycle_state`` until TERMINATED/SKIPPED/INTERNAL_ERROR, so every
terminal transition sets both objects together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

LOG = logging.getLogger(__name__)

ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING", "WAITING_FOR_RETRY", "BLOCKED")
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
SUCCEEDED = ("SUCCESS", "SUCCESS_WITH_FAILURES")  # a run whose leaf tasks succeeded counts as successful

# result_state -> (termination code, termination type, default message)
RESULTS: dict[str, tuple[str, str, str]] = {
    "SUCCESS": ("SUCCESS", "SUCCESS", ""),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "Workload failed, see run output for details"),
    "TIMEDOUT": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "Run timed out"),
    "CANCELED": ("USER_CANCELED", "SUCCESS", "Run was cancelled"),
    "UPSTREAM_FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR", "An upstream task failed"),
    "UPSTREAM_CANCELED": ("CANCELED", "SUCCESS", "An upstream task was cancelled"),
    "EXCLUDED": ("SUCCESS", "SUCCESS", "Excluded by a condition"),
    "MAXIMUM_CONCURRENT_RUNS_REACHED": ("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR",
                                        "The job has reached its maximum number of concurrent runs"),
    "SUCCESS_WITH_FAILURES": ("SUCCESS_WITH_FAILURES", "SUCCESS", "Some tasks failed"),
}


def set_active(run: dict, life_cycle_state: str, message: str = "", queue_code: str | None = None) -> None:
    """An active state; a QUEUED one says why in ``state.queue_reason`` and ``status.queue_details`` (``queue_code``
    as Databricks names the cause, e.g. ``MAX_CONCURRENT_RUNS_REACHED``)."""
    run["state"] = {"life_cycle_state": life_cycle_state, "state_message": message,
                    "user_cancelled_or_timedout": False}
    run["status"] = {"state": "WAITING" if life_cycle_state == "WAITING_FOR_RETRY" else life_cycle_state}
    if queue_code is not None:
        run["state"]["queue_reason"] = message
        run["status"]["queue_details"] = {"code": queue_code, "message": message}
    _log(run)


def set_result(run: dict, result_state: str, message: str | None = None, *, skipped: bool = False) -> None:
    code, kind, default = RESULTS[result_state]
    text = default if message is None else message
    life = "SKIPPED" if skipped else "TERMINATED"
    run["state"] = {"life_cycle_state": life, "result_state": result_state, "state_message": text,
                    "user_cancelled_or_timedout": result_state in ("CANCELED", "TIMEDOUT")}
    run["status"] = {"state": "TERMINATED", "termination_details": {"code": code, "type": kind, "message": text}}
    _log(run)


def set_internal_error(run: dict, message: str) -> None:
    run["state"] = {"life_cycle_state": "INTERNAL_ERROR", "state_message": message,
                    "user_cancelled_or_timedout": False}
    run["status"] = {"state": "TERMINATED",
                     "termination_details": {"code": "INTERNAL_ERROR", "type": "INTERNAL_ERROR", "message": message}}
    _log(run)


def latest_attempts(run: dict) -> dict[str, dict]:
    """Each task's latest task run, by task key. A run's ``tasks`` keeps every attempt, oldest first: a retry or a
    repair adds a task run of its own (a new ``run_id``) after the one it follows, as Databricks lists them."""
    return {t["task_key"]: t for t in run.get("tasks", [])}


def latest_task_runs(tasks: Iterable[Any]) -> list[Any]:
    """For clients of any workspace: each task's latest attempt among a run's task runs (the SDK's ``RunTask``s),
    the last started of each task key, since Databricks does not list a task's attempts in order."""
    return list({t.task_key: t for t in sorted(tasks, key=lambda t: t.start_time or 0)}.values())


def is_active(run: dict) -> bool:
    return run.get("state", {}).get("life_cycle_state") in ACTIVE


def _log(run: dict) -> None:
    state = run["state"]
    LOG.info("run %s%s: %s%s", run.get("run_id"), f" ({run['task_key']})" if run.get("task_key") else "",
             state["life_cycle_state"], f"/{state['result_state']}" if state.get("result_state") else "")
