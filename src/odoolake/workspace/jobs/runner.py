"""The job runner: executes runs in background threads, one process per task.

A run walks its task DAG: a task starts once the tasks it depends on have ended, so independent tasks run at the
same time. For each task it evaluates ``run_if`` and condition-task outcomes, resolves ``{{…}}`` dynamic values,
then starts a task process and waits for it under the task's ``timeout_seconds``, retrying per
``max_retries``/``min_retry_interval_millis``/``retry_on_timeout``. Cancelling a run kills its task processes.
State changes are written to SQLite as they happen, so ``runs/get`` always shows the truth and a restarted server
can mark interrupted runs.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from odoolake.config import WorkspacePaths
from odoolake.workspace.errors import ApiError
from odoolake.workspace.files.workspace_tree import WorkspaceTree
from odoolake.workspace.identity.roles import Caller
from odoolake.workspace.jobs import libraries, lifecycle
from odoolake.workspace.jobs.connections import TaskConnections
from odoolake.workspace.jobs.processes import TaskCgroup, TreeMemory, delegated_cgroup, kill_tree, new_cgroup
from odoolake.workspace.jobs.repairs import record_task_run, repair_count
from odoolake.workspace.jobs.settings import topological_order
from odoolake.workspace.jobs.store import JobsStore
from odoolake.workspace.jobs.task_process import CLUSTER_KEY
from odoolake.workspace.notifications import events
from odoolake.workspace.notifications.delivery import Notifier
from odoolake.workspace.pipelines import TERMINAL as TERMINAL_UPDATES
from odoolake.workspace.secrets.crypto import KEY_ENV
from odoolake.workspace.secrets.grants import CREDENTIAL_ENV, IN_TASK_ENV, WORKSPACE_URL_ENV, TaskGrants
from odoolake.workspace.secrets.reader import ENV_PREFIX
from odoolake.workspace.secrets.redaction import Redactor, StreamRedactor

LOG = logging.getLogger(__name__)

LOG_LIMIT = 1024 * 1024
RUN_HISTORY_DAYS = 60  # how long an ended run is kept, as Databricks keeps a job's run history
HISTORY_SWEEP_SECONDS = 3600
_REF = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_REF_PARTS = re.compile(r"`[^`]*`|[^.]+")  # a reference's dotted parts, a part in backticks may hold dots or dashes
REFERENCE_NAMESPACES = ("job", "task", "tasks", "workspace")  # what Databricks resolves; other {{…}} stay text
FAILED_STATES = ("FAILED", "TIMEDOUT", "UPSTREAM_FAILED", "INTERNAL_ERROR")
NOT_STARTED = ("QUEUED", "PENDING")  # a run's life cycle states before a worker took it
RUN_JOB_TRIGGER = "RUN_JOB_TASK"  # the trigger of a run that a run_job_task started, as Databricks names it
WAIT_POLL_SECONDS = 0.25  # how often a waiting task looks at the run it waits for
STOP_WAIT_SECONDS = 60  # how long a cancelled pipeline_task waits for the update it stopped to end


class TaskFailure(Exception):
    def __init__(self, result_state: str, message: str, trace: str | None = None,
                 logs: tuple[str, bool] | None = None, output: dict[str, Any] | None = None) -> None:
        self.result_state = result_state
        self.message = message
        self.trace = trace
        self.logs = logs  # what the task printed before it failed, for runs/get-output
        self.output = output or {}  # more of runs/get-output (the run a run_job_task started)
        super().__init__(message)


def _now_ms() -> int:
    return int(time.time() * 1000)


DEFAULT_TASK_PARALLELISM = 4  # tasks of one run that run at once (each a process within the task memory limit)


def default_task_memory_mb() -> int:
    """``ODOOLAKE_TASK_MEMORY_MB``, else a quarter of the machine's memory: a runaway task cannot starve the rest."""
    configured = os.environ.get("ODOOLAKE_TASK_MEMORY_MB")
    if configured:
        return int(configured)
    return max(512, psutil.virtual_memory().total // 4 // 2**20)


class JobRunner:
    def __init__(self, store: JobsStore, tree: WorkspaceTree, paths: WorkspacePaths,
                 connections: TaskConnections, workers: int = 2, task_memory_mb: int | None = None,
                 grants: TaskGrants | None = None, workspace_url: str | None = None,
                 task_parallelism: int = DEFAULT_TASK_PARALLELISM) -> None:
        self.store = store
        self.task_parallelism = task_parallelism
        self.task_memory_mb = task_memory_mb or default_task_memory_mb()
        self.tree = tree
        self.paths = paths
        self.connections = connections
        self.grants = grants or TaskGrants()
        self.workspace_url = workspace_url
        self.cgroup_base = delegated_cgroup()
        # At most ``workers`` runs execute at once; a run whose run_job_task waits for another run gives its slot up
        # while it waits (the run it waits for, or one that run queues behind, may need it).
        self._slots = threading.BoundedSemaphore(workers)
        self._stopped = False
        self._lock = threading.Lock()
        self._cancelled: set[int | str] = set()  # run ids, and pipeline update ids (their processes' keys)
        self._swept = time.monotonic()  # when old runs were last forgotten (``forget_old_runs``)
        self._processes: dict[int | str, list[_TaskProcess]] = {}  # a run's task processes (several run at once)
        self._yielded: dict[int, int] = {}  # run id -> its run_job_tasks waiting for their runs (see _yield_slot)
        self._save_lock = threading.Lock()  # a run's tasks save it from several threads: one snapshot at a time
        self._queued_wakeup = threading.Condition()
        self.pipelines: Any = None  # the workspace's PipelinesService, for pipeline_task
        self.notifier: Notifier | None = None  # the workspace's, for job notifications
        self.jobs: Any = None  # the workspace's JobsService, for run_job_task
        # who a run's principal is to the permission checks (the workspace sets it from its roles): a run_job_task or
        # pipeline_task needs the rights its run's principal holds on the job or pipeline it starts
        self.caller_of: Callable[[str | None], Caller | None] = lambda principal: None

    # -- control ---------------------------------------------------------------------------------

    def recover(self) -> int:
        """Mark runs that were active when the server stopped, kill what is left of their tasks and revoke the
        tasks' tokens; returns how many runs."""
        runs = self.store.runs(active=True)
        for run in runs:
            for task in run.get("tasks", []):
                if lifecycle.is_active(task):
                    self._kill_leftover(self.paths.home / "runs" / str(run["run_id"]) / str(task["run_id"]))
                    when = ("while this task was running" if task["state"].get("life_cycle_state") == "RUNNING"
                            else "before this task started")
                    lifecycle.set_internal_error(task, f"The workspace stopped {when}.")
            lifecycle.set_internal_error(run, "The workspace stopped while this run was active; run it again.")
            run["end_time"] = _now_ms()
            self.store.save_run(run)
            self.announce_end(run)
        self.connections.revoke_leftovers()
        self.forget_old_runs()
        return len(runs)

    def forget_old_runs(self, now_ms: int | None = None) -> int:
        """Delete the runs that ended more than ``RUN_HISTORY_DAYS`` ago, with their outputs and log folders, as
        Databricks keeps a job's run history for 60 days; returns how many. Done when the server starts and then
        at most once every ``HISTORY_SWEEP_SECONDS``, when a run is queued."""
        now_ms = _now_ms() if now_ms is None else now_ms
        old = self.store.ended_before(now_ms - RUN_HISTORY_DAYS * 86_400_000)
        for run_id in old:
            self.store.delete_run(run_id)
            shutil.rmtree(self.paths.home / "runs" / str(run_id), ignore_errors=True)
        if old:
            LOG.info("forgot %d runs that ended more than %d days ago", len(old), RUN_HISTORY_DAYS)
        return len(old)

    def enqueue(self, run_id: int) -> None:
        """Run it on a thread of its own once a slot is free (``_slots``)."""
        with self._lock:
            self._cancelled.discard(run_id)  # a repaired run starts afresh, also when its first pass was cancelled
        if time.monotonic() - self._swept > HISTORY_SWEEP_SECONDS:  # in the background: the caller is answered at once
            self._swept = time.monotonic()
            self._start(self.forget_old_runs)
        self._start(self._execute_in_slot, run_id)

    @staticmethod
    def _start(target: Callable[..., object], *args: object) -> None:
        threading.Thread(target=target, args=args, name=f"odoolake-{target.__name__.strip('_')}", daemon=True).start()

    def _execute_in_slot(self, run_id: int) -> None:
        if not self._queue_turn(run_id):
            return
        with self._slots:
            if not self._stopped:  # runs not started when the server stops stay as they are: recover() marks them
                self._execute_safely(run_id)

    def _queue_turn(self, run_id: int) -> bool:
        """A queued run waits for its turn under the job's max_concurrent_runs before it takes a worker slot, so
        that runs waiting in a queue never hold the slots the active ones need (a run_job_task's run, say). False
        when it was cancelled while it waited."""
        try:
            run = self.store.run(run_id)
            if run is None or run["state"].get("life_cycle_state") != "QUEUED":
                return True
            if self._wait_for_slot(run, run.get("_max_concurrent_runs", 1)):
                return True
            self._finish_cancelled(run_id)  # unless cancel() has ended it (and said so)
            return False
        except Exception:
            LOG.exception("run %s could not wait for its turn", run_id)
            return True  # _execute_safely ends it

    def cancel(self, run_id: int | str) -> None:
        """Stop a run (or a pipeline update, by its id): its task process is killed, now or as soon as it starts; a
        run still waiting for a worker (queued, pending) ends CANCELED at once."""
        with self._lock:
            self._cancelled.add(run_id)
            tasks = list(self._processes.get(run_id, ()))
        for task in tasks:
            task.kill()
        if not tasks and isinstance(run_id, int):
            self._finish_cancelled(run_id)  # its worker, when it comes, finds it ended and leaves it
        with self._queued_wakeup:
            self._queued_wakeup.notify_all()

    def notify_slot_free(self) -> None:
        with self._queued_wakeup:
            self._queued_wakeup.notify_all()

    def stop(self) -> None:
        with self._lock:
            tasks = [task for running in self._processes.values() for task in running]
            self._cancelled.update(k for k in self._processes if isinstance(k, int))
        for task in tasks:
            task.kill()
        self._stopped = True

    def _is_cancelled(self, run_id: int) -> bool:
        with self._lock:
            return run_id in self._cancelled

    # -- execution -------------------------------------------------------------------------------

    def _execute_safely(self, run_id: int) -> None:
        try:
            self._execute(run_id)
        except Exception as exc:  # never leave a run hanging in RUNNING
            LOG.exception("run %s failed inside the runner", run_id)
            run = self.store.run(run_id)
            if run is not None and lifecycle.is_active(run):
                for task in lifecycle.latest_attempts(run).values():
                    if lifecycle.is_active(task):
                        lifecycle.set_internal_error(task, f"The local runner failed: {exc}")
                lifecycle.set_internal_error(run, f"The local runner failed: {exc}")
                run["end_time"] = _now_ms()
                self.store.save_run(run)
                self.announce_end(run)
        finally:
            self.notify_slot_free()

    def _wait_for_slot(self, run: dict, max_runs: int) -> bool:
        """Queued runs wait until the job has fewer than ``max_runs`` active runs (or are cancelled)."""
        with self._queued_wakeup:
            while True:
                if self._is_cancelled(run["run_id"]):
                    return False
                active = [r for r in self.store.runs(run.get("job_id"), active=True) if r["run_id"] < run["run_id"]]
                if len(active) < max_runs:
                    return True
                self._queued_wakeup.wait(timeout=1.0)

    def _execute(self, run_id: int) -> None:
        run = self.store.run(run_id)
        if run is None or not lifecycle.is_active(run):
            return
        run.pop("_max_concurrent_runs", None)  # its turn came (_queue_turn)
        started = _now_ms()
        if not run.get("start_time"):  # a repair keeps the run's first start
            run["start_time"] = started
            run["queue_duration"] = started - run.get("_enqueued_at", started)
        lifecycle.set_active(run, "RUNNING", "In run")
        self.store.save_run(run)
        self._announce(events.START, run)
        overdue = self._overdue_timer(run.get("_notify") or {}, partial(self._announce_if_active, events.OVERDUE, run))
        try:
            self._run_tasks(run, started)
        finally:
            if overdue is not None:
                overdue.cancel()
        self._finish(run)

    def _run_tasks(self, run: dict, started: int) -> None:
        """Run each task whose latest attempt waits to run, as Databricks does: a task starts once every task it
        depends on has ended, and tasks that do not depend on each other run at the same time (at most
        ``task_parallelism`` of one run at once), each on a thread of its own."""
        run_id = run["run_id"]
        deadline = started / 1000 + run["timeout_seconds"] if run.get("timeout_seconds") else None
        latest = lifecycle.latest_attempts(run)
        graph = {k: [d["task_key"] for d in t.get("depends_on") or [] if d["task_key"] in latest]
                 for k, t in latest.items()}
        # task values are kept with the run: a repair's tasks read those of the tasks it does not re-run
        values: dict[str, dict[str, Any]] = run.setdefault("_task_values", {})
        # a task that ended in an earlier pass stays as it ended: a repair re-runs only the tasks it names
        waiting = [k for k in topological_order(graph) or [] if lifecycle.is_active(latest[k])]
        running: set[str] = set()
        crashed: list[BaseException] = []
        changed = threading.Condition()

        def work(key: str, task: dict) -> None:
            try:
                self._run_task(run, task, values, deadline)
            except BaseException as exc:  # the runner's own failure: the run ends INTERNAL_ERROR (_execute_safely)
                crashed.append(exc)
            finally:
                with changed:
                    running.discard(key)
                    changed.notify_all()

        with changed:
            while (waiting and not crashed) or running:
                tasks = lifecycle.latest_attempts(run)  # a retry adds a task run: the latest attempt is the one to read
                ready = [k for k in waiting
                         if not any(d in running or lifecycle.is_active(tasks[d]) for d in graph[k])]
                if ready and len(running) < self.task_parallelism and not crashed:
                    key = ready[0]
                    waiting.remove(key)
                    if not self._decided_without_running(run, tasks[key], tasks, deadline):
                        running.add(key)
                        threading.Thread(target=work, args=(key, tasks[key]), daemon=True,
                                         name=f"odoolake-task-{run_id}-{key}").start()
                    continue  # look again: a task decided without running may make others ready
                changed.wait(timeout=1.0)
        if crashed:
            raise crashed[0]

    def _decided_without_running(self, run: dict, task: dict, tasks: dict[str, dict],
                                 deadline: float | None) -> bool:
        """A task the run's cancel, its timeout, a condition or run_if ends without running it (True, its state
        set)."""
        if self._is_cancelled(run["run_id"]):
            lifecycle.set_result(task, "CANCELED", "The run was cancelled before this task started.")
        elif deadline is not None and time.time() >= deadline:
            lifecycle.set_result(task, "TIMEDOUT", f"The run timed out before this task started: the job's "
                                                   f"timeout_seconds ({run['timeout_seconds']} s) had passed.")
        else:
            verdict = self._should_run(task, tasks)
            if verdict is None:
                return False
            result_state, message = verdict
            lifecycle.set_result(task, result_state, message, skipped=result_state == "EXCLUDED")
        self._save(run)
        return True

    def _should_run(self, task: dict, tasks: dict[str, dict]) -> tuple[str, str] | None:
        """None to run the task, else the (result_state, message) it ends with without running."""
        deps = task.get("depends_on") or []
        results = []
        for dep in deps:
            upstream = tasks[dep["task_key"]]
            state = upstream["state"].get("result_state", "")
            if "outcome" in dep:
                outcome = (upstream.get("condition_task") or {}).get("outcome")
                if state != "SUCCESS" or outcome != dep["outcome"]:
                    return "EXCLUDED", f"Condition {dep['task_key']} was not {dep['outcome']}."
            results.append(state)
        if not deps:
            return None
        if all(r == "EXCLUDED" for r in results):  # a task under a branch not taken is not taken either
            return "EXCLUDED", "Its upstream tasks were all excluded."
        rule = task.get("run_if", "ALL_SUCCESS")
        ok = [r in ("SUCCESS", "SUCCESS_WITH_FAILURES", "EXCLUDED") for r in results]
        failed = [r in FAILED_STATES for r in results]
        if any(r in ("CANCELED", "UPSTREAM_CANCELED") for r in results) and rule != "ALL_DONE":
            return "UPSTREAM_CANCELED", "An upstream task was cancelled."
        runs = {
            "ALL_SUCCESS": all(ok),
            "ALL_DONE": True,
            "NONE_FAILED": not any(failed),
            "AT_LEAST_ONE_SUCCESS": any(r in ("SUCCESS", "SUCCESS_WITH_FAILURES") for r in results),
            "ALL_FAILED": all(failed),
            "AT_LEAST_ONE_FAILED": any(failed),
        }[rule]
        if runs:
            return None
        if rule in ("ALL_SUCCESS", "NONE_FAILED", "AT_LEAST_ONE_SUCCESS"):
            return "UPSTREAM_FAILED", f"run_if {rule} was not met by the upstream tasks."
        return "EXCLUDED", f"run_if {rule} was not met by the upstream tasks."

    def _run_task(self, run: dict, task: dict, values: dict[str, dict[str, Any]], deadline: float | None) -> None:
        max_retries = task.get("max_retries", 0) or 0
        max_retries = 1000 if max_retries == -1 else max_retries
        last_only = bool((task.get("notification_settings") or {}).get("alert_on_last_attempt"))
        attempt = 0
        while True:
            task["attempt_number"] = attempt
            task["start_time"] = _now_ms()
            task.pop("end_time", None)
            lifecycle.set_active(task, "RUNNING", "In run")
            self._save(run)
            if attempt == 0 or not last_only:
                self._announce(events.START, run, task)
            output: dict[str, Any] = {}
            overdue = self._overdue_timer(task, partial(self._announce_if_active, events.OVERDUE, run, task))
            try:
                output = self._attempt(run, task, values, deadline)
                lifecycle.set_result(task, "SUCCESS", "")
                failure = None
            except TaskFailure as exc:
                failure = exc
                output = {**exc.output, "error": exc.message, "error_trace": exc.trace}
                if exc.logs is not None:
                    output["logs"], output["logs_truncated"] = exc.logs
            finally:
                if overdue is not None:
                    overdue.cancel()
            task["end_time"] = _now_ms()
            task["execution_duration"] = task["end_time"] - task["start_time"]
            task["run_duration"] = task["execution_duration"]
            self._save_output(run, task, output)
            if failure is None:
                self._save(run)
                self._announce(events.SUCCESS, run, task)
                return
            retryable = failure.result_state == "FAILED" or (
                failure.result_state == "TIMEDOUT" and task.get("retry_on_timeout"))
            in_time = deadline is None or time.time() < deadline
            if attempt < max_retries and retryable and in_time and not self._is_cancelled(run["run_id"]):
                attempt += 1
                # the retry is listed (waiting) before its attempt ends: the task never looks ended in between,
                # when the tasks that depend on it would be decided
                failed, task = task, self._retry_of(run, task, f"Retrying after: {failure.message}")
                lifecycle.set_result(failed, failure.result_state, f"Task {failed['task_key']} failed with message: "
                                     f"{failure.message}")
                self._save(run)
                if not last_only:
                    self._announce(events.FAILURE, run, failed)
                if self._cancelled_within(run["run_id"], (task.get("min_retry_interval_millis") or 0) / 1000):
                    lifecycle.set_result(task, "CANCELED", "The run was cancelled before this retry started.")
                    self._save(run)
                    return
                continue
            message = failure.message
            if failure.result_state == "TIMEDOUT" and deadline is not None and time.time() >= deadline - 1:
                message = (f"The run timed out: the job's timeout_seconds ({run['timeout_seconds']} s) passed while "
                           f"this task ran.")
            lifecycle.set_result(task, failure.result_state, message if failure.result_state == "CANCELED" else
                                 f"Task {task['task_key']} failed with message: {message}")
            self._save(run)
            self._announce(events.end_event(task, task), run, task)
            return

    def _cancelled_within(self, run_id: int, seconds: float) -> bool:
        """Wait ``seconds`` (a retry's interval), ending early when the run is cancelled; whether it was."""
        deadline = time.monotonic() + seconds
        with self._queued_wakeup:  # cancel() wakes it
            while not self._is_cancelled(run_id) and (left := deadline - time.monotonic()) > 0:
                self._queued_wakeup.wait(timeout=left)
        return self._is_cancelled(run_id)

    def _retry_of(self, run: dict, task: dict, why: str) -> dict:
        """The next attempt of a failed task: a task run of its own, waiting for its retry, added after the one it
        retries (whose state and output stay as they ended), as Databricks makes each retry a run with the next
        ``attempt_number``."""
        retry = {k: copy.deepcopy(v) for k, v in task.items() if k not in ("end_time", "state", "status")}
        retry_id = self.store.next_id()
        retry.update({"run_id": retry_id, "attempt_number": task["attempt_number"] + 1, "start_time": _now_ms(),
                      "execution_duration": 0, "run_duration": 0,
                      "run_page_url": task["run_page_url"].rsplit("/", 1)[0] + f"/{retry_id}"})
        lifecycle.set_active(retry, "WAITING_FOR_RETRY", why)
        run["tasks"].append(retry)
        record_task_run(run, retry_id)
        return retry

    def _attempt(self, run: dict, task: dict, values: dict[str, dict[str, Any]],
                 deadline: float | None) -> dict[str, Any]:
        kind = next((k for k in ("notebook_task", "spark_python_task", "python_wheel_task", "sql_task",
                                 "condition_task", "run_job_task", "pipeline_task") if k in task), None)
        if kind is None:
            raise TaskFailure("FAILED", "The task has no task type the local runner knows.")
        resolve = self._resolver(run, task, values)
        if kind == "condition_task":
            spec = task["condition_task"]
            holds = _compare(spec["op"], resolve(spec["left"]), resolve(spec["right"]))
            task["condition_task"] = {**spec, "outcome": "true" if holds else "false"}
            return {}
        if kind == "pipeline_task":
            return self._run_pipeline_task(run, task["pipeline_task"], self._time_left(task, deadline))
        if kind == "run_job_task":
            return self._run_job_task(run, task["run_job_task"], resolve, self._time_left(task, deadline))
        problem = libraries.missing(task.get("libraries"))
        if problem:
            raise TaskFailure("FAILED", problem)
        spec = json.loads(json.dumps(task[kind]))
        self._prepare(kind, spec, run, resolve)
        cluster = task.get("new_cluster") or next((jc.get("new_cluster") or {} for jc in run.get("job_clusters") or []
                                                   if jc.get("job_cluster_key") == task.get("job_cluster_key")), {})
        spec[CLUSTER_KEY] = {k: {str(n): resolve(str(v)) for n, v in (cluster.get(k) or {}).items()}
                             for k in ("spark_conf", "spark_env_vars")}
        run_dir = self.paths.home / "runs" / str(run["run_id"]) / str(task["run_id"])
        timeout = self._time_left(task, deadline)
        outcome, logs = self.spawn(kind, spec, run_dir, task["task_key"], values, timeout, run["run_id"],
                                   run.get("_principal"))
        values[task["task_key"]] = outcome.get("task_values") or {}
        output = {"logs": logs[0], "logs_truncated": logs[1]}
        if kind == "notebook_task":
            output["notebook_output"] = {"result": outcome.get("exit_value"), "truncated": False}
        if outcome.get("error"):
            raise TaskFailure("FAILED", outcome["error"], outcome.get("error_trace"), logs)
        return output

    def spawn(self, kind: str, spec: dict, run_dir: Path, task_key: str, values: dict[str, dict[str, Any]],
              timeout: float | None, owner: int | str, principal: str | None = None,
              ) -> tuple[dict[str, Any], tuple[str, bool]]:
        """Run one task process as ``principal`` (the workspace owner if None); returns (its reported outcome, the
        tail of its log). Cancel kills it via ``owner``.

        The process gets no secret in its environment, only a credential to read secrets as ``principal`` while it
        runs, and a token of its own for the engine (``jobs.connections``); every secret value it reads, and that
        token, is redacted from every byte it (or any child) writes, before the log file. Whatever the end, the
        task's engine work is interrupted before this returns, so nothing it started commits after the run ends.
        """
        run_dir.mkdir(parents=True, exist_ok=True)
        spec_path, result_path, log_path = run_dir / "task.json", run_dir / "result.json", run_dir / "stdout.log"
        result_path.unlink(missing_ok=True)
        connection = self.connections.open(principal, timeout)
        grant = self.grants.issue(principal) if principal else None
        env = {**task_environment(grant.credential if grant else None, self.workspace_url), **connection.env}
        redactor = grant.redactor if grant else Redactor()
        if connection.token:
            redactor.add(connection.token)
        memory_limit = self.task_memory_mb * 2**20
        cgroup = new_cgroup(self.cgroup_base, f"odoolake-task-{run_dir.name}", memory_limit)
        try:
            spec_path.write_text(json.dumps({
                "kind": kind, "spec": spec, "remote": connection.remote, "home": str(self.paths.home),
                "task_key": task_key, "task_values": values, "result_path": str(result_path),
            }))
            proc = subprocess.Popen([sys.executable, "-m", "odoolake.workspace.jobs.task_process", str(spec_path)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=str(self.paths.home), env=env, start_new_session=True)
            task = _TaskProcess(proc, cgroup)
            if cgroup is not None:
                cgroup.add(proc.pid)
            (run_dir / "task.pid").write_text(str(proc.pid))
            pump = threading.Thread(target=_pump, args=(proc, log_path, redactor), name=f"odoolake-log-{proc.pid}",
                                    daemon=True)
            pump.start()
            with self._lock:
                self._processes.setdefault(owner, []).append(task)
                cancelled = owner in self._cancelled
            if cancelled:  # cancelled while it started, when cancel() found no process to kill
                task.kill()
            try:
                code = self._watch(task, timeout, memory_limit)
            finally:
                with self._lock:
                    running = self._processes.get(owner, [])
                    if task in running:
                        running.remove(task)
                    if not running:
                        self._processes.pop(owner, None)
                task.kill()  # whatever the task left running in the background ends with it
                pump.join(timeout=30)
        finally:
            self.connections.close(connection)  # the engine work stops before the run can be marked terminal
            if grant is not None:
                self.grants.revoke(grant)
            if cgroup is not None:
                cgroup.remove()
        logs = _tail(log_path)
        if isinstance(owner, int) and self._is_cancelled(owner):
            raise TaskFailure("CANCELED", "The run was cancelled.")
        if not result_path.exists():
            how = (f"was killed by signal {-code} ({signal.Signals(-code).name}; the kernel's out-of-memory killer "
                   "sends SIGKILL)") if code < 0 else f"exited with code {code}"
            raise TaskFailure("FAILED", f"The task process {how} before reporting a result.", logs[0])
        return redactor.redact(json.loads(result_path.read_text())), logs

    @staticmethod
    def _kill_leftover(run_dir: Path) -> None:
        """Task processes of the previous server that are somehow still alive are stopped before anything reruns."""
        try:
            pid = int((run_dir / "task.pid").read_text())
        except (OSError, ValueError):
            return
        try:
            proc = psutil.Process(pid)
            if not any("odoolake.workspace.jobs.task_process" in part for part in proc.cmdline()):
                return  # the pid was reused by something else
        except psutil.Error:
            pass  # the leader is gone; members of its process group may remain
        kill_tree(pid)

    def _watch(self, task: _TaskProcess, timeout: float | None, limit: int) -> int:
        """Wait for the task process, stopping it and its children at the timeout or when together they outgrow
        the memory limit."""
        started = time.monotonic()
        while True:
            try:
                return task.proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                pass
            if timeout is not None and time.monotonic() - started > timeout:
                task.kill()
                task.proc.wait()
                raise TaskFailure("TIMEDOUT", f"Task timed out after {timeout:.0f} seconds.")
            used = task.memory(limit)
            if used > limit or task.oom_killed():
                task.kill()
                task.proc.wait()
                raise TaskFailure("FAILED", f"Out of memory: the task (with its child processes) used "
                                  f"{max(used, limit) / 2**20:,.0f} MiB, over its limit of {self.task_memory_mb:,} MiB "
                                  "(ODOOLAKE_TASK_MEMORY_MB), and was stopped.")

    @staticmethod
    def _time_left(task: dict, deadline: float | None) -> float | None:
        """The task's time: its own timeout_seconds, cut to what is left of the run's."""
        timeout = task.get("timeout_seconds") or None
        if deadline is not None:
            remaining = max(0.0, deadline - time.time())
            timeout = min(timeout, remaining) if timeout else remaining
        return timeout

    def _run_job_task(self, run: dict, spec: dict, resolve: Callable[[str], str],
                      timeout: float | None) -> dict[str, Any]:
        """Run the job ``spec["job_id"]`` (trigger ``RUN_JOB_TASK``) with the task's parameters and wait for its run;
        the task ends as that run ends. Cancelling or timing out the task cancels that run. A circle of run_job_tasks
        (a job edited into one while a run of it is under way, say) is refused by run-now, failing the task."""
        jobs = self.jobs
        if jobs is None:
            raise TaskFailure("FAILED", "run_job_task needs the workspace's jobs service.")
        job_id = spec["job_id"]
        try:
            started = jobs.run_now(job_id, job_parameters={k: resolve(str(v)) for k, v in
                                                           (spec.get("job_parameters") or {}).items()},
                                   notebook_params=spec.get("notebook_params"),
                                   python_params=spec.get("python_params"), trigger=RUN_JOB_TRIGGER,
                                   caller=self.caller_of(run.get("_principal")))
        except ApiError as exc:
            raise TaskFailure("FAILED", f"Could not run job {job_id}: {exc.message}") from None
        child_id = started["run_id"]
        output = {"run_job_output": {"run_id": child_id}}
        self._yield_slot(run["run_id"])  # while this run waits, its slot serves others (the child among them)
        try:
            child = self._wait_for_child(run, job_id, child_id, timeout, output)
        finally:
            self._reclaim_slot(run["run_id"])
        state = child["state"]
        result = state.get("result_state") or state.get("life_cycle_state")
        if result not in lifecycle.SUCCEEDED:
            raise TaskFailure("FAILED", f"Run {child_id} of job {job_id} ended {result}: "
                              f"{state.get('state_message', '')}".rstrip(": "), output=output)
        return {**output, "logs": f"job {job_id} run {child_id} SUCCESS\n", "logs_truncated": False}

    def _yield_slot(self, run_id: int) -> None:
        """The run's worker slot goes to others while a run_job_task of it waits; with several such tasks running
        at once, the first gives it up and the last to end takes it back."""
        with self._lock:
            self._yielded[run_id] = self._yielded.get(run_id, 0) + 1
            first = self._yielded[run_id] == 1
        if first:
            self._slots.release()

    def _reclaim_slot(self, run_id: int) -> None:
        with self._lock:
            self._yielded[run_id] -= 1
            last = self._yielded[run_id] == 0
            if last:
                del self._yielded[run_id]
        if last:
            self._slots.acquire()

    def _wait_for_child(self, run: dict, job_id: int, child_id: int, timeout: float | None,
                        output: dict[str, Any]) -> dict:
        """The run ``child_id`` once it has ended; cancelled with the task (cancel, timeout)."""
        waited = time.monotonic()
        while True:
            child = self.store.run(child_id)
            if child is None:
                raise TaskFailure("FAILED", f"Run {child_id} of job {job_id} was deleted.", output=output)
            if not lifecycle.is_active(child):
                break
            if self._is_cancelled(run["run_id"]):
                self.cancel(child_id)
                raise TaskFailure("CANCELED", "The run was cancelled.", output=output)
            if timeout is not None and time.monotonic() - waited > timeout:
                self.cancel(child_id)
                raise TaskFailure("TIMEDOUT", f"Task timed out after {timeout:.0f} seconds (run {child_id} of job "
                                  f"{job_id} cancelled).", output=output)
            with self._queued_wakeup:  # woken when any run ends (notify_slot_free)
                self._queued_wakeup.wait(timeout=WAIT_POLL_SECONDS)
        return child

    def _run_pipeline_task(self, run: dict, spec: dict, timeout: float | None) -> dict[str, Any]:
        """Run an update of the pipeline (cause ``JOB_TASK``, with the task's refresh selections) and wait for it;
        cancelling or timing out the task stops the update."""
        pipelines = self.pipelines
        if pipelines is None:
            raise TaskFailure("FAILED", "pipeline_task needs the workspace's pipelines service.")
        pipeline_id = spec["pipeline_id"]
        try:
            update_id = pipelines.start_update(pipeline_id, bool(spec.get("full_refresh")), cause="JOB_TASK",
                                               caller=self.caller_of(run.get("_principal")),
                                               refresh_selection=spec.get("refresh_selection"),
                                               full_refresh_selection=spec.get("full_refresh_selection"))
        except ApiError as exc:
            raise TaskFailure("FAILED", exc.message) from None
        started = time.monotonic()
        while (update := pipelines.get_update(pipeline_id, update_id)["update"])["state"] not in TERMINAL_UPDATES:
            stopped = self._is_cancelled(run["run_id"])
            if stopped or (timeout is not None and time.monotonic() - started > timeout):
                pipelines.stop(pipeline_id)
                deadline = time.monotonic() + STOP_WAIT_SECONDS  # its process is killed: it ends within seconds
                while pipelines.get_update(pipeline_id, update_id)["update"]["state"] not in TERMINAL_UPDATES \
                        and time.monotonic() < deadline:
                    time.sleep(WAIT_POLL_SECONDS)
                if stopped:
                    raise TaskFailure("CANCELED", f"The run was cancelled (pipeline update {update_id} stopped).")
                raise TaskFailure("TIMEDOUT", f"Task timed out after {timeout:.0f} seconds (pipeline update "
                                  f"{update_id} stopped).")
            with self._queued_wakeup:  # woken by a cancel
                self._queued_wakeup.wait(timeout=WAIT_POLL_SECONDS)
        if update["state"] != "COMPLETED":
            raise TaskFailure("FAILED", f"Pipeline update {update_id} {update['state']}: {update.get('message', '')}")
        return {"logs": f"pipeline {spec['pipeline_id']} update {update_id} COMPLETED\n", "logs_truncated": False}

    def _prepare(self, kind: str, spec: dict, run: dict, resolve: Callable[[str], str]) -> None:
        def python_parameters() -> list[str]:  # run-now's python_params replace them for files and wheels alike
            return [resolve(str(p)) for p in (run.get("_python_params") or spec.get("parameters") or [])]

        try:
            if kind == "notebook_task":
                # "Job parameters take precedence over task parameters" (Databricks' parameter pushdown); run-now's
                # notebook_params over both
                params = {**(spec.get("base_parameters") or {}),
                          **{p["name"]: p["value"] for p in run.get("job_parameters") or []},
                          **(run.get("_notebook_params") or {})}
                spec["base_parameters"] = {k: resolve(str(v)) for k, v in params.items()}
                spec["local_path"] = str(self.tree.local_file(spec["notebook_path"]))
            elif kind == "spark_python_task":
                spec["parameters"] = python_parameters()
                spec["local_path"] = str(self._file(spec["python_file"]))
            elif kind == "python_wheel_task":
                spec["parameters"] = python_parameters()
                spec["named_parameters"] = {k: resolve(str(v)) for k, v in (spec.get("named_parameters") or {}).items()}
            elif kind == "sql_task":  # job parameters pushed down as for notebooks; run-now's sql_params over both
                params = {**(spec.get("parameters") or {}),
                          **{p["name"]: p["value"] for p in run.get("job_parameters") or []},
                          **(run.get("_sql_params") or {})}
                spec["parameters"] = {k: resolve(str(v)) for k, v in params.items()}
                spec["local_path"] = str(self._file(spec["file"]["path"]))
        except ApiError as exc:
            raise TaskFailure("FAILED", f"{exc.message} Import it into the workspace first.") from exc

    def _file(self, path: str) -> Path:
        if path.startswith("dbfs:/"):
            local = self.paths.dbfs_to_local(path)
            if not local.is_file():
                raise TaskFailure("FAILED", f"{path} does not exist.")
            return local
        return self.tree.local_file(path)

    def _resolver(self, run: dict, task: dict, values: dict[str, dict[str, Any]]) -> Callable[[str], str]:
        """Dynamic value references (``{{job.start_time.iso_date}}`` …) as Databricks fills them. A reference in a
        namespace Databricks knows (job, task, tasks, workspace) that names nothing is an error; any other text in
        braces stays as it is, as Databricks leaves it. Identifiers may be quoted in backticks."""
        start = datetime.fromtimestamp((run.get("start_time") or _now_ms()) / 1000, UTC)
        triggered = datetime.fromtimestamp((run.get("_enqueued_at") or run.get("start_time") or _now_ms()) / 1000, UTC)
        params = {p["name"]: p["value"] for p in run.get("job_parameters") or []}
        runs_of = Counter(t["task_key"] for t in run["tasks"])  # a task's runs so far: its retries and repairs too
        fixed = {
            "job.id": str(run.get("job_id", "")), "job.run_id": str(run["run_id"]),
            "job.name": run.get("run_name", ""), "job.repair_count": str(repair_count(run)),
            "task.name": task["task_key"], "task.run_id": str(task["run_id"]),
            "task.execution_count": str(runs_of[task["task_key"]]),
            "job.trigger.type": run.get("trigger", "ONE_TIME"),
            "workspace.id": self.paths.workspace_id, "workspace.url": self.workspace_url or "",
            **_time_values("job.start_time", start), **_time_values("job.trigger.time", triggered),
        }
        tasks_by_key = {t["task_key"]: t for t in run["tasks"]}

        def lookup(raw: str, depth: int) -> str:
            if raw.startswith("secrets/"):
                return "{{" + raw + "}}"  # resolved inside the task process: the value never reaches the run record
            parts = [p.strip("`") for p in _REF_PARTS.findall(raw)]
            ref = ".".join(parts)
            if ref in fixed:
                return fixed[ref]
            if parts[0] == "job" and len(parts) >= 3 and parts[1] == "parameters":
                name = ".".join(parts[2:])
                if name in params:
                    return resolve(str(params[name]), depth + 1)  # a default may itself be a reference
            if len(parts) == 4 and parts[0] == "tasks" and parts[2] == "values" and parts[3] in values.get(parts[1], {}):
                value = values[parts[1]][parts[3]]
                return value if isinstance(value, str) else json.dumps(value)
            upstream = tasks_by_key.get(parts[1]) if len(parts) == 3 and parts[0] == "tasks" else None
            if upstream is not None and parts[2] in ("result_state", "run_id", "execution_count", "error_code"):
                return {"result_state": upstream["state"].get("result_state", "").lower(),
                        "run_id": str(upstream["run_id"]),
                        "execution_count": str(runs_of[parts[1]]),
                        "error_code": upstream["state"].get("result_state", "")
                        if upstream["state"].get("result_state") in FAILED_STATES else ""}[parts[2]]
            if parts[0] not in REFERENCE_NAMESPACES:
                return "{{" + raw + "}}"  # not a reference Databricks knows: left as written
            raise TaskFailure("FAILED", f"Unknown dynamic value reference {{{{{raw}}}}}.")

        def resolve(text: str, depth: int = 0) -> str:
            return text if depth > 1 else _REF.sub(lambda m: lookup(m.group(1), depth), text)

        return resolve

    def _save(self, run: dict) -> None:
        with self._save_lock:  # each save writes the run as it is now, in the order the snapshots were taken
            self.store.save_run(run)

    def _save_output(self, run: dict, task: dict, output: dict[str, Any]) -> None:
        self.store.save_output(task["run_id"], run["run_id"], output)

    # -- notifications ---------------------------------------------------------------------------

    def _announce(self, event: str | None, run: dict, task: dict | None = None) -> None:
        """Send ``event`` of the run, or of one of its tasks, to whom the job's (or the task's) settings name."""
        if self.notifier is None or event is None:
            return
        spec = task if task is not None else run.get("_notify") or {}
        ids, addresses = events.recipients(spec, event)
        if ids or addresses:
            workspace = self.paths.workspace_id
            notice = (events.run_notice(event, run, workspace) if task is None
                      else events.task_notice(event, run, task, workspace))
            self.notifier.send(notice, ids, addresses)

    def announce_end(self, run: dict) -> None:
        """The run ended: on_success or on_failure (or nothing, when muted), as its notification settings say."""
        self._announce(events.end_event(run, run.get("_notify") or {}), run)

    def _announce_if_active(self, event: str, run: dict, task: dict | None = None) -> None:
        if lifecycle.is_active(task if task is not None else run):
            self._announce(event, run, task)

    @staticmethod
    def _overdue_timer(spec: dict, fire: Callable[[], None]) -> threading.Timer | None:
        """A timer that fires once the duration threshold of ``spec``'s health rules passes (None: no rule)."""
        seconds = events.duration_threshold(spec)
        if seconds is None:
            return None
        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        return timer

    def _finish_cancelled(self, run_id: int) -> None:
        """End a run cancelled before a worker took it, once: cancel() and the run's wait for its queue turn both
        come here, and whichever is second (having read the run before the first saved it) must not end and
        announce it again."""
        with self._save_lock:
            run = self.store.run(run_id)
            if run is None or run["state"].get("life_cycle_state") not in NOT_STARTED:
                return
            for task in lifecycle.latest_attempts(run).values():
                if lifecycle.is_active(task):  # a repaired run's tasks that it does not re-run keep their results
                    lifecycle.set_result(task, "CANCELED", "The run was cancelled while queued.")
            lifecycle.set_result(run, "CANCELED")
            run["end_time"] = _now_ms()
            self.store.save_run(run)
        self.announce_end(run)

    def _finish(self, run: dict) -> None:
        """The run's result from its tasks', as Databricks decides it: its leaf tasks (those no task depends on)
        decide between FAILED and SUCCESS_WITH_FAILURES when some task failed."""
        tasks = list(lifecycle.latest_attempts(run).values())  # a retried or repaired task counts by its last attempt
        results = [t["state"].get("result_state") for t in tasks]
        failed = [t for t in tasks if t["state"].get("result_state") in ("FAILED", "TIMEDOUT")]
        upstream = {d["task_key"] for t in tasks for d in t.get("depends_on") or []}
        leaves_failed = any(t["state"].get("result_state") in FAILED_STATES for t in tasks
                            if t["task_key"] not in upstream)
        if self._is_cancelled(run["run_id"]) or any(r == "CANCELED" for r in results):
            lifecycle.set_result(run, "CANCELED")
        elif not leaves_failed and any(r in FAILED_STATES for r in results):
            lifecycle.set_result(run, "SUCCESS_WITH_FAILURES", (failed or [{"state": {}}])[0]["state"].get(
                "state_message") or None)
        elif failed:
            first = failed[0]
            state = "TIMEDOUT" if all(t["state"]["result_state"] == "TIMEDOUT" for t in failed) else "FAILED"
            lifecycle.set_result(run, state, first["state"]["state_message"])
        elif any(r in FAILED_STATES for r in results):
            lifecycle.set_result(run, "FAILED")
        else:
            lifecycle.set_result(run, "SUCCESS")
        run["end_time"] = _now_ms()
        run["execution_duration"] = run["end_time"] - run.get("start_time", run["end_time"])
        run["run_duration"] = run["execution_duration"] + run.get("queue_duration", 0)
        self.store.save_run(run)
        self.announce_end(run)


def _compare(op: str, left: str, right: str) -> bool:
    if op == "EQUAL_TO":
        return left == right
    if op == "NOT_EQUAL":
        return left != right
    try:
        a, b = float(left), float(right)
    except ValueError:
        raise TaskFailure("FAILED", f"condition_task {op} needs numbers, got {left!r} and {right!r}.") from None
    return {"GREATER_THAN": a > b, "GREATER_THAN_OR_EQUAL": a >= b, "LESS_THAN": a < b,
            "LESS_THAN_OR_EQUAL": a <= b}[op]


def _tail(path: Path) -> tuple[str, bool]:
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return "", False
    with path.open("rb") as fh:
        fh.seek(max(0, size - LOG_LIMIT))
        return fh.read().decode("utf-8", errors="replace"), size > LOG_LIMIT


class _TaskProcess:
    """A running task process with its process group, and its cgroup where the machine allows one."""

    def __init__(self, proc: subprocess.Popen, cgroup: TaskCgroup | None) -> None:
        self.proc = proc
        self.cgroup = cgroup
        self.tree = TreeMemory(proc.pid)

    def memory(self, limit: int) -> int:
        return self.cgroup.memory() if self.cgroup is not None else self.tree.measure(limit)

    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_killed()

    def kill(self) -> None:
        if self.cgroup is not None:
            self.cgroup.kill()
        kill_tree(self.proc.pid)


def _time_values(prefix: str, moment: datetime) -> dict[str, str]:
    """``{{<prefix>.<argument>}}`` of a time, with Databricks' arguments (UTC)."""
    values = {"iso_date": moment.date().isoformat(), "iso_datetime": moment.isoformat(timespec="seconds"),
              "timestamp_ms": str(int(moment.timestamp() * 1000)), "iso_weekday": str(moment.isoweekday()),
              "is_weekday": str(moment.isoweekday() <= 5).lower(), "year": str(moment.year),
              "month": str(moment.month), "day": str(moment.day), "hour": str(moment.hour),
              "minute": str(moment.minute), "second": str(moment.second)}
    return {f"{prefix}.{k}": v for k, v in values.items()}


def task_environment(credential: str | None, workspace_url: str | None) -> dict[str, str]:
    """The server's environment without any secret (ODOOLAKE_SECRET_*, the sealing key), plus the task credential."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX) and k != KEY_ENV}
    env.pop(CREDENTIAL_ENV, None)
    env[IN_TASK_ENV] = "1"
    if credential and workspace_url:
        env[CREDENTIAL_ENV], env[WORKSPACE_URL_ENV] = credential, workspace_url
    return env


def _pump(proc: subprocess.Popen, log_path: Path, redactor: Redactor) -> None:
    """Copy the task's stdout and stderr (one pipe, shared by its children) to its log file, redacted."""
    stream = StreamRedactor(redactor)
    fd = proc.stdout.fileno()  # type: ignore[union-attr]
    with log_path.open("ab") as log:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            log.write(stream.feed(chunk))
            log.flush()
        log.write(stream.close())
    proc.stdout.close()  # type: ignore[union-attr]
