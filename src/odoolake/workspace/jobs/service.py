"""JobsService: the rules of the Jobs API (2.0/2.1/2.2). Method names follow the SDK's ``JobsAPI``.

Limits: one page size for ``list`` (max 100) and ``list_runs`` (max 25); ``export_run`` is not implemented (501).
A run's ``tasks`` hold every attempt: a retry or a repair adds a task run of its own (``jobs/repairs.py``).
"""

from __future__ import annotations

import base64
import builtins
import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from odoolake.workspace.errors import (
    InvalidParameterValue,
    InvalidState,
    PermissionDenied,
    ResourceDoesNotExist,
    missing,
)
from odoolake.workspace.identity.roles import Caller
from odoolake.workspace.jobs import lifecycle, repairs
from odoolake.workspace.jobs.runner import JobRunner
from odoolake.workspace.jobs.settings import topological_order, validate_settings, validate_tasks
from odoolake.workspace.jobs.store import JobsStore
from odoolake.workspace.notifications import events
from odoolake.workspace.permissions import CAN_MANAGE, CAN_MANAGE_RUN, JOBS, RANK, ObjectPermissions, Owned

MAX_IDEMPOTENCY_TOKEN = 64  # characters, as Databricks limits the token
JOB_RUN, WORKFLOW_RUN, SUBMIT_RUN = "JOB_RUN", "WORKFLOW_RUN", "SUBMIT_RUN"  # a run's run_type, as the Jobs API has it
RUN_TYPES = (JOB_RUN, WORKFLOW_RUN, SUBMIT_RUN)
# repair fields of task kinds the local runner does not have
REPAIR_FIELDS_REFUSED = ("jar_params", "spark_submit_params", "dbt_commands", "python_named_params",
                         "performance_target", "duration_target")
TASK_FIELDS_FOR_RUN = ("task_key", "description", "depends_on", "run_if", "notebook_task", "spark_python_task",
                       "python_wheel_task", "sql_task", "condition_task", "run_job_task", "pipeline_task",
                       "existing_cluster_id", "job_cluster_key", "new_cluster", "environment_key", "libraries",
                       "timeout_seconds", "max_retries", "min_retry_interval_millis", "retry_on_timeout",
                       *events.NOTIFICATION_FIELDS)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _with_trigger_defaults(settings: dict) -> dict:
    """A schedule or trigger without ``pause_status`` is UNPAUSED, as the Jobs API reports it."""
    for trigger in ("schedule", "continuous", "trigger"):
        if isinstance(settings.get(trigger), dict):
            settings[trigger].setdefault("pause_status", "UNPAUSED")
    return settings


def run_as_principal(job: dict) -> str:
    """Whom a job's runs act as (their secrets, for one): ``run_as``, else the job's creator."""
    run_as = job["settings"].get("run_as") or {}
    return next(iter(run_as.values()), None) or job["creator_user_name"]


def _effective_run_as(settings: dict, job: dict) -> dict:
    """Whom ``settings`` would have the job run as: its run_as, else the job's creator. Removing a run_as is a
    change of principal too (to the creator), checked by the same rule as setting one."""
    return settings.get("run_as") or {"user_name": job["creator_user_name"]}


def _owned(job: dict) -> Owned:
    return Owned(str(job["job_id"]), job["creator_user_name"])


def _max_concurrent_runs(settings: dict) -> int:
    """The job's limit on active runs: 1 when unset; 0 skips every new run, as on Databricks."""
    value = settings.get("max_concurrent_runs")
    return 1 if value is None else int(value)


def _notifications_of(spec: dict) -> dict:
    """What a run keeps of its job's (or its request's) notification settings, for the runner to send."""
    return {k: copy.deepcopy(spec[k]) for k in events.NOTIFICATION_FIELDS if spec.get(k)}


def public(doc: dict) -> dict:
    """A stored document without the runner's private fields (``_…``)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None, offset: int | None) -> int:
    if token:
        try:
            return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError):
            raise InvalidParameterValue(f"Invalid page_token {token!r}.") from None
    return offset or 0


class JobsService:
    def __init__(self, store: JobsStore, runner: JobRunner, base_url: str, user: str, cluster_id: str) -> None:
        self.store = store
        self.runner = runner
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.cluster_id = cluster_id
        self.known_principal: Any = lambda name: name == user  # the workspace replaces it with its users table
        self.is_service_principal: Any = lambda name: False  # the workspace replaces it with its roles
        self.permissions = ObjectPermissions(store.db, JOBS, lambda name: self.known_principal(name),
                                             lambda name: self.is_service_principal(name))
        self._tokens_lock = threading.Lock()  # an idempotency token's check and its run's start, one at a time
        self._repair_lock = threading.Lock()  # a run's repair checked and started, one at a time
        self.destination_exists: Callable[[str], bool] = lambda dest_id: False  # the workspace's destinations

    # -- jobs ------------------------------------------------------------------------------------

    def create(self, settings: dict, creator: str | None = None, access_control_list: Any = None,
               caller: Caller | None = None) -> int:
        validate_settings(settings, self.cluster_id)
        self._check_notifications(settings)
        self.permissions.check_run_as(settings.get("run_as"), caller)
        grants = self.permissions.check(access_control_list, caller) if access_control_list is not None else []
        settings = _with_trigger_defaults(copy.deepcopy(settings))
        settings.setdefault("name", "Untitled")
        settings.setdefault("max_concurrent_runs", 1)
        settings.setdefault("timeout_seconds", 0)
        settings.setdefault("format", "MULTI_TASK")
        settings.setdefault("email_notifications", {})
        job_id = self.store.next_id()
        self.store.insert_job(job_id, settings, creator or self.user, _now_ms())
        if grants:
            self.permissions.apply(Owned(str(job_id), creator or self.user), grants, replace=False)
        return job_id

    def _job(self, job_id: Any) -> dict:
        if not isinstance(job_id, int) or isinstance(job_id, bool):
            raise InvalidParameterValue(f"Invalid job_id: expected an integer, got {job_id!r}.")
        job = self.store.job(job_id)
        if job is None:
            raise missing("Job", job_id)
        return job

    def get(self, job_id: Any) -> dict:
        job = self._job(job_id)
        return {**job, "run_as_user_name": run_as_principal(job)}

    def list(self, limit: int | None = 20, offset: int = 0, name: str | None = None, expand_tasks: bool = False,
             page_token: str | None = None) -> dict:
        """A page of jobs (``limit`` None: every job from ``offset`` on, as Jobs API 2.0 answers an unpaged list)."""
        if limit is not None and not 0 <= limit <= 100:
            raise InvalidParameterValue(f"Invalid limit {limit}: must be between 0 and 100.")
        start = _offset(page_token, offset)
        jobs = self.store.jobs(name)
        limit = max(1, len(jobs) - start) if limit is None else limit or 20
        page = jobs[start:start + limit]
        out = []
        for job in page:
            settings = job["settings"] if expand_tasks else {k: v for k, v in job["settings"].items()
                                                              if k not in ("tasks", "job_clusters")}
            out.append({**job, "settings": settings})
        body: dict[str, Any] = {"jobs": out, "has_more": start + limit < len(jobs)}
        if body["has_more"]:
            body["next_page_token"] = _page_token(start + limit)
        if start > 0:
            body["prev_page_token"] = _page_token(max(0, start - limit))
        return body

    def reset(self, job_id: Any, new_settings: dict, caller: Caller | None = None) -> None:
        job = self._job(job_id)
        self.permissions.require(_owned(job), caller, CAN_MANAGE, "edit")
        validate_settings(new_settings, self.cluster_id)
        self._check_notifications(new_settings)
        self.permissions.check_run_as(_effective_run_as(new_settings, job), caller, run_as_principal(job))
        settings = _with_trigger_defaults(copy.deepcopy(new_settings))
        settings.setdefault("name", "Untitled")
        settings.setdefault("max_concurrent_runs", 1)
        self.store.save_settings(job_id, settings)

    def update(self, job_id: Any, new_settings: dict | None, fields_to_remove: builtins.list[str] | None,
               caller: Caller | None = None) -> None:
        job = self._job(job_id)
        self.permissions.require(_owned(job), caller, CAN_MANAGE, "edit")
        settings = copy.deepcopy(job["settings"])
        new_settings = new_settings or {}
        if not isinstance(new_settings, dict):
            raise InvalidParameterValue("Invalid new_settings: expected an object.")
        validate_settings(new_settings, self.cluster_id, partial=True)
        for field in fields_to_remove or []:
            if not isinstance(field, str):
                raise InvalidParameterValue(f"Invalid fields_to_remove entry {field!r}: expected a string.")
            if "/" in field:
                kind, key = field.split("/", 1)
                if kind not in ("tasks", "job_clusters"):
                    raise InvalidParameterValue(f"Invalid fields_to_remove entry {field!r}.")
                key_name = "task_key" if kind == "tasks" else "job_cluster_key"
                settings[kind] = [t for t in settings.get(kind, []) if t.get(key_name) != key]
            else:
                settings.pop(field, None)
        for key, value in new_settings.items():
            if key in ("tasks", "job_clusters"):
                key_name = "task_key" if key == "tasks" else "job_cluster_key"
                merged = {t[key_name]: t for t in settings.get(key, [])}
                merged.update({t[key_name]: t for t in value})
                settings[key] = list(merged.values())
            else:
                settings[key] = value
        validate_settings(settings, self.cluster_id)
        self._check_notifications(settings)
        self.permissions.check_run_as(_effective_run_as(settings, job), caller, run_as_principal(job))
        self.store.save_settings(job_id, _with_trigger_defaults(settings))

    def _check_notifications(self, spec: dict) -> None:
        """A job's (or a one-time run's) notification settings, and each task's, as Databricks checks them."""
        events.validate(spec, "", self.destination_exists)
        for i, task in enumerate(spec.get("tasks") or []):
            if isinstance(task, dict):
                events.validate(task, f"tasks[{i}].", self.destination_exists)

    def naming_destination(self, dest_id: str) -> builtins.list[str]:
        """The jobs whose notifications (or whose tasks') send to the destination ``dest_id``, as ``job <id>``."""
        def names(spec: dict) -> bool:
            hooks = (spec.get("webhook_notifications") or {}).values()
            return any(isinstance(h, dict) and h.get("id") == dest_id for event in hooks if isinstance(event, list)
                       for h in event)

        return [f"job {j['job_id']}" for j in self.store.jobs()
                if names(j["settings"]) or any(names(t) for t in j["settings"].get("tasks") or [])]

    def delete(self, job_id: Any, caller: Caller | None = None) -> None:
        job = self._job(job_id)
        self.permissions.require(_owned(job), caller, CAN_MANAGE, "delete")
        for run in self.store.runs(job_id, active=True):
            self.runner.cancel(run["run_id"])
        self.store.delete_job(job_id)
        self.permissions.forget(str(job_id))

    # -- permissions -----------------------------------------------------------------------------

    def get_permissions(self, job_id: Any) -> dict:
        return self.permissions.answer(_owned(self._job(job_id)))

    def set_permissions(self, job_id: Any, access_control_list: Any, caller: Caller | None = None,
                        replace: bool = True) -> dict:
        """PUT (``replace``) or PATCH a job's access control list; answers the job's permissions after it."""
        job = self._job(job_id)
        self.permissions.require(_owned(job), caller, CAN_MANAGE, "change the permissions of")
        grants = self.permissions.check(access_control_list or [], caller, owner=self.permissions.owner(_owned(job)))
        self.permissions.apply(_owned(job), grants, replace)
        return self.permissions.answer(_owned(job))

    # -- runs ------------------------------------------------------------------------------------

    def _started_once(self, token: str | None, start: Callable[[], dict]) -> dict:
        """``start()``'s answer, run at most once per idempotency token (run-now, runs/submit): a token already used
        answers the run it started, whatever the request now says, as Databricks does."""
        if token is None:
            return start()
        if not isinstance(token, str) or not token or len(token) > MAX_IDEMPOTENCY_TOKEN:
            raise InvalidParameterValue(f"Invalid idempotency_token: expected a string of 1 to "
                                        f"{MAX_IDEMPOTENCY_TOKEN} characters.")
        with self._tokens_lock:
            known = self.store.run_of_token(token)
            if known is not None:
                run = self.store.run(known) or {}
                return {"run_id": known, **({"number_in_job": run["number_in_job"]} if "job_id" in run else {})}
            answer = start()
            self.store.keep_token(token, answer["run_id"])
            return answer

    def run_now(self, job_id: Any, job_parameters: dict | None = None, notebook_params: dict | None = None,
                python_params: builtins.list | None = None, only: builtins.list | None = None,
                queue: dict | None = None, trigger: str = "ONE_TIME", idempotency_token: str | None = None,
                caller: Caller | None = None, sql_params: dict | None = None) -> dict:
        self.permissions.require(_owned(self._job(job_id)), caller, CAN_MANAGE_RUN, "run")
        return self._started_once(idempotency_token, lambda: self._run_now(
            job_id, job_parameters, notebook_params, python_params, only, queue, trigger, sql_params))

    def _run_now(self, job_id: Any, job_parameters: dict | None, notebook_params: dict | None,
                 python_params: builtins.list | None, only: builtins.list | None, queue: dict | None,
                 trigger: str, sql_params: dict | None = None) -> dict:
        job = self._job(job_id)
        settings = job["settings"]
        tasks = settings.get("tasks") or []
        if not tasks:
            raise InvalidParameterValue(f"Job {job_id} has no tasks to run.")
        if only:
            unknown = [k for k in only if k not in {t["task_key"] for t in tasks}]
            if unknown:
                raise InvalidParameterValue(f"Invalid only: unknown task(s) {', '.join(unknown)}.")
            tasks = [t for t in tasks if t["task_key"] in only]
            for t in tasks:
                t["depends_on"] = [d for d in t.get("depends_on") or [] if d["task_key"] in only]
        cycle = self._run_job_cycle(job_id, tasks)
        if cycle:
            raise InvalidParameterValue(
                f"Job {job_id} cannot run: its run_job_tasks would trigger jobs in a circle "
                f"({' → '.join(str(j) for j in cycle)}); circular Run Job dependencies are not supported.")
        params = self._job_parameters(settings, job_parameters)
        for field, value, kind in (("notebook_params", notebook_params, dict), ("python_params", python_params, list),
                                   ("sql_params", sql_params, dict)):
            if value is not None and not isinstance(value, kind):
                raise InvalidParameterValue(f"Invalid {field}: expected {'an object' if kind is dict else 'a list'}.")
        run = self._new_run(settings.get("name", "Untitled"), tasks, job_id=job_id, run_type=JOB_RUN,
                            trigger=trigger, job_parameters=params, timeout=settings.get("timeout_seconds", 0),
                            job_clusters=settings.get("job_clusters", []), creator=job["creator_user_name"],
                            principal=run_as_principal(job))
        run["_notify"] = _notifications_of(settings)
        if only:
            run["_only"] = True  # a repair keeps it to these tasks (their dependencies on others were left out)
        run["_notebook_params"] = {k: str(v) for k, v in (notebook_params or {}).items()}
        run["_sql_params"] = {k: str(v) for k, v in (sql_params or {}).items()}
        if python_params is not None:
            run["_python_params"] = [str(p) for p in python_params]
        self._admit(run, settings, queue)
        return {"run_id": run["run_id"], "number_in_job": run["number_in_job"]}

    def _run_job_cycle(self, job_id: int, tasks: builtins.list[dict]) -> builtins.list[int]:
        """The jobs of a circle of run_job_tasks that running ``tasks`` of ``job_id`` would enter, first job
        repeated at its end (``[5, 7, 5]``); empty when there is none. Jobs that do not exist end the walk: their
        task fails when it runs, naming them."""
        def targets(job_tasks: builtins.list[dict]) -> builtins.list[int]:
            return [t["run_job_task"]["job_id"] for t in job_tasks if isinstance(t.get("run_job_task"), dict)]

        done: set[int] = set()

        def walk(path: builtins.list[int], job_tasks: builtins.list[dict]) -> builtins.list[int]:
            for target in targets(job_tasks):
                if target in path:
                    return [*path[path.index(target):], target]
                if target in done:
                    continue
                job = self.store.job(target) if isinstance(target, int) else None
                if job is not None:
                    found = walk([*path, target], job["settings"].get("tasks") or [])
                    if found:
                        return found
                done.add(target)
            return []

        return walk([job_id], tasks)

    def _job_parameters(self, settings: dict, given: dict | None) -> builtins.list[dict]:
        defined = {p["name"]: p for p in settings.get("parameters") or []}
        given = given or {}
        if not isinstance(given, dict):
            raise InvalidParameterValue("Invalid job_parameters: expected an object of strings.")
        unknown = [k for k in given if k not in defined]
        if unknown:
            raise InvalidParameterValue(f"Invalid job_parameters: {', '.join(unknown)} not defined on the job "
                                        f"(defined: {', '.join(defined) or 'none'}).")
        return [{"name": name, "default": str(p.get("default", "")), "value": str(given.get(name, p.get("default", "")))}
                for name, p in defined.items()]

    def submit(self, run_name: str | None, tasks: Any, timeout_seconds: int | None = None,
               creator: str | None = None, idempotency_token: str | None = None,
               notifications: dict | None = None, run_as: dict | None = None, caller: Caller | None = None) -> dict:
        """A one-time run; ``notifications`` holds the request's email/webhook notifications, notification
        settings and health rules, as a job's settings hold them. It runs as ``run_as`` (checked as a job's is),
        else as its creator."""
        def start() -> dict:
            validate_tasks(tasks, "tasks", self.cluster_id, None)
            self._check_notifications({**(notifications or {}), "tasks": tasks})
            self.permissions.check_run_as(run_as, caller)
            submitter = creator or self.user
            run = self._new_run(run_name or "Untitled", tasks, job_id=None, run_type=SUBMIT_RUN, trigger="ONE_TIME",
                                job_parameters=[], timeout=timeout_seconds or 0, job_clusters=[],
                                creator=submitter, principal=next(iter(run_as.values())) if run_as else submitter)
            run["_notify"] = _notifications_of(notifications or {})
            self._admit(run, {"max_concurrent_runs": 1000}, None)
            return {"run_id": run["run_id"]}

        return self._started_once(idempotency_token, start)

    def run_page_url(self, job_id: int | None, run_id: int) -> str:
        """The page the workspace serves for a run (routes/run_page.py), as Databricks' /jobs/<job>/runs/<run>."""
        if job_id is None:
            return f"{self.base_url}/jobs/runs/{run_id}"
        return f"{self.base_url}/jobs/{job_id}/runs/{run_id}"

    def _new_run(self, name: str, tasks: builtins.list[dict], *, job_id: int | None, run_type: str, trigger: str,
                 job_parameters: builtins.list[dict], timeout: int, job_clusters: builtins.list, creator: str,
                 principal: str) -> dict:
        run_id = self.store.next_id()
        run: dict[str, Any] = {
            "run_id": run_id, "number_in_job": run_id, "original_attempt_run_id": run_id, "run_name": name,
            "creator_user_name": creator, "run_type": run_type, "trigger": trigger, "_principal": principal,
            "start_time": 0, "setup_duration": 0, "execution_duration": 0, "cleanup_duration": 0,
            "queue_duration": 0, "run_page_url": self.run_page_url(job_id, run_id),
            "job_parameters": job_parameters, "job_clusters": job_clusters, "timeout_seconds": timeout,
            "format": "MULTI_TASK", "tasks": [], "_enqueued_at": _now_ms(),
        }
        if job_id is not None:
            run["job_id"] = job_id
        run["tasks"] = [self._task_run(spec, job_id) for spec in tasks]
        return run

    def _task_run(self, spec: dict, job_id: int | None) -> dict:
        """A new task run of ``spec`` (a job's task settings), waiting to start."""
        task_run_id = self.store.next_id()
        task = {k: copy.deepcopy(v) for k, v in spec.items() if k in TASK_FIELDS_FOR_RUN}
        task.update({"run_id": task_run_id, "attempt_number": 0, "run_if": spec.get("run_if", "ALL_SUCCESS"),
                     "run_page_url": self.run_page_url(job_id, task_run_id),
                     "start_time": 0, "setup_duration": 0, "execution_duration": 0, "cleanup_duration": 0,
                     "cluster_instance": {"cluster_id": self.cluster_id, "spark_context_id": "local"}})
        for kind in ("notebook_task", "spark_python_task"):
            if kind in task:
                task[kind].setdefault("source", "WORKSPACE")
        if isinstance(task.get("condition_task"), dict):
            task["condition_task"].pop("outcome", None)  # decided when it runs (a repair may copy an earlier one)
        lifecycle.set_active(task, "PENDING", "Waiting for upstream tasks")
        return task

    def _admit(self, run: dict, settings: dict, queue: dict | None) -> None:
        max_runs = _max_concurrent_runs(settings)
        active = self.store.runs(run["job_id"], active=True) if "job_id" in run else []
        queue_enabled = (queue or settings.get("queue") or {}).get("enabled", False)
        if max_runs == 0 or (len(active) >= max_runs and not queue_enabled):
            for task in run["tasks"]:
                lifecycle.set_result(task, "MAXIMUM_CONCURRENT_RUNS_REACHED", skipped=True)
            lifecycle.set_result(run, "MAXIMUM_CONCURRENT_RUNS_REACHED", skipped=True)
            run["start_time"] = run["end_time"] = _now_ms()
            self.store.save_run(run)
            self.runner.announce_end(run)
            return
        if len(active) >= max_runs:
            lifecycle.set_active(run, "QUEUED", f"Queued due to reaching maximum concurrent runs of {max_runs}.",
                                 queue_code="MAX_CONCURRENT_RUNS_REACHED")
        else:
            lifecycle.set_active(run, "PENDING", "Waiting for the local runner")
        run["_max_concurrent_runs"] = max_runs
        self.store.save_run(run)
        self.runner.enqueue(run["run_id"])

    def _run(self, run_id: Any) -> dict:
        if not isinstance(run_id, int) or isinstance(run_id, bool):
            raise InvalidParameterValue(f"Invalid run_id: expected an integer, got {run_id!r}.")
        run = self.store.run(run_id)
        if run is None:
            raise missing("Run", run_id)
        return run

    def get_run(self, run_id: Any, include_history: bool = False) -> dict:
        found = self.store.run(run_id) if isinstance(run_id, int) and not isinstance(run_id, bool) else None
        if found is None and isinstance(run_id, int) and not isinstance(run_id, bool):
            parent = self.store.run_of_task(run_id)  # a task run's id, also of one that has no output yet
            task = next((t for t in parent["tasks"] if t["run_id"] == run_id), None) if parent else None
            if task is not None:
                return public(task)
        run = self._run(run_id)
        return public(run) | ({"repair_history": repairs.repair_history(run)} if include_history else {})

    def repair_run(self, run_id: Any, rerun_tasks: builtins.list[str] | None = None,
                   rerun_all_failed_tasks: bool = False, rerun_dependent_tasks: bool = False,
                   latest_repair_id: int | None = None, job_parameters: dict | None = None,
                   notebook_params: dict | None = None, python_params: builtins.list | None = None,
                   sql_params: dict | None = None, caller: Caller | None = None,
                   refused: builtins.list[str] | None = None, pipeline_params: dict | None = None) -> dict:
        """Re-run tasks of an ended run as part of it, with the job's current task settings (``jobs/repairs.py``
        decides which); ``job_parameters`` and the other parameters, when given, replace the run's."""
        if refused:
            raise InvalidParameterValue(f"{', '.join(refused)}: not supported by the local runner's repair "
                                        f"(supported: job_parameters, notebook_params, python_params, sql_params, "
                                        f"pipeline_params).")
        with self._repair_lock:
            run = self._run(run_id)
            self._require_run_rights(run, caller, "repair")
            if lifecycle.is_active(run):
                raise InvalidState(f"Run {run_id} is still active ({run['state']['life_cycle_state']}); it can be "
                                   f"repaired once it has ended.")
            repairs.check_latest_repair(run, latest_repair_id)
            keys = repairs.tasks_to_rerun(run, rerun_tasks, rerun_all_failed_tasks, rerun_dependent_tasks)
            settings = self._settings_for_repair(run)
            if settings is not None:
                self._check_room_for_repair(run, settings)
            specs = {t["task_key"]: t for t in settings.get("tasks") or []} if settings is not None else {
                k: t for k, t in lifecycle.latest_attempts(run).items()}  # a one-time run: its own tasks
            gone = [k for k in keys if k not in specs]
            if gone:
                raise InvalidParameterValue(f"Task {', '.join(gone)} is no longer in job {run.get('job_id')}'s "
                                            f"settings, so it cannot be re-run: repair the other tasks, or run the "
                                            f"job again.")
            present = set(lifecycle.latest_attempts(run))
            for key in keys:
                added = [d["task_key"] for d in specs[key].get("depends_on") or [] if d["task_key"] not in present]
                if added and not run.get("_only"):
                    raise InvalidParameterValue(f"Task {key} now depends on {', '.join(added)}, which run "
                                                f"{run['run_id']} does not have: run the job again instead.")
            now = _now_ms()
            reruns = []
            for key in keys:
                spec = {**specs[key], "depends_on": [d for d in specs[key].get("depends_on") or []
                                                     if d["task_key"] in present]}  # an `only` run's tasks
                task = self._task_run(spec, run.get("job_id"))
                task["start_time"] = now  # after the attempts it follows, as clients order a task's runs
                if pipeline_params is not None and isinstance(task.get("pipeline_task"), dict):
                    task["pipeline_task"]["full_refresh"] = bool(pipeline_params.get("full_refresh"))
                reruns.append(task)
            self._check_repaired_graph(run, reruns, [specs[k] for k in keys])
            self._reparameterise(run, settings, job_parameters, notebook_params, python_params, sql_params)
            repair_id = self.store.next_id()
            repairs.open_repair(run, repair_id, [t["run_id"] for t in reruns], now)
            run["tasks"].extend(reruns)
            run.pop("end_time", None)
            lifecycle.set_active(run, "PENDING", f"Repair {repair_id}: waiting for the local runner")
            self.store.save_run(run)
        self.runner.enqueue(run["run_id"])
        return {"repair_id": repair_id}

    def _check_repaired_graph(self, run: dict, reruns: builtins.list[dict], specs: builtins.list[dict]) -> None:
        """The job's settings may have changed since the run: its re-run tasks, with the tasks they keep, must still
        have an order, and their run_job_tasks no circle."""
        tasks = {**lifecycle.latest_attempts(run), **{t["task_key"]: t for t in reruns}}
        graph = {k: [d["task_key"] for d in t.get("depends_on") or []] for k, t in tasks.items()}
        if topological_order(graph) is None:
            raise InvalidParameterValue(f"Run {run['run_id']} cannot be repaired: with the job's current settings its "
                                        f"tasks would depend on each other in a circle; run the job again instead.")
        cycle = self._run_job_cycle(run["job_id"], specs) if run.get("job_id") is not None else []
        if cycle:
            raise InvalidParameterValue(f"Run {run['run_id']} cannot be repaired: its run_job_tasks would trigger jobs "
                                        f"in a circle ({' → '.join(str(j) for j in cycle)}).")

    def _check_room_for_repair(self, run: dict, settings: dict) -> None:
        """A repaired run is an active run of its job again: refused while the job has max_concurrent_runs active."""
        max_runs = _max_concurrent_runs(settings)
        active = [r["run_id"] for r in self.store.runs(run["job_id"], active=True)]
        if len(active) >= max_runs:
            raise InvalidState(f"Job {run['job_id']} has {len(active)} active run(s) ({', '.join(map(str, active))}), "
                               f"its max_concurrent_runs of {max_runs}: repair run {run['run_id']} once they end.")

    def _settings_for_repair(self, run: dict) -> dict | None:
        """The job's current settings, which a repair's tasks run with; None for a one-time run (runs/submit)."""
        if run.get("job_id") is None:
            return None
        job = self.store.job(run["job_id"])
        if job is None:
            raise InvalidState(f"Job {run['job_id']} no longer exists, so run {run['run_id']} cannot be repaired.")
        return job["settings"]

    def _reparameterise(self, run: dict, settings: dict | None, job_parameters: dict | None,
                        notebook_params: dict | None, python_params: builtins.list | None,
                        sql_params: dict | None) -> None:
        """A repair runs with the job's current clusters and timeout, and the parameters it was given."""
        if settings is not None:
            run["job_clusters"] = settings.get("job_clusters", [])
            run["timeout_seconds"] = settings.get("timeout_seconds", 0)
            run["_notify"] = _notifications_of(settings)
        if job_parameters is not None:  # the values given override the run's; the others stay as the run had them
            if settings is None:
                raise InvalidParameterValue(f"Invalid job_parameters: run {run['run_id']} is a one-time run "
                                            f"(runs/submit), which has no job parameters.")
            defined = {p["name"] for p in settings.get("parameters") or []}
            kept = {p["name"]: p["value"] for p in run.get("job_parameters") or [] if p["name"] in defined}
            given = self._job_parameters(settings, job_parameters)  # checks the names given
            run["job_parameters"] = [{**p, "value": str(job_parameters.get(p["name"], kept.get(p["name"], p["value"])))}
                                     for p in given]
        if notebook_params is not None:
            run["_notebook_params"] = {**run.get("_notebook_params", {}),
                                       **{k: str(v) for k, v in notebook_params.items()}}
        if sql_params is not None:
            run["_sql_params"] = {**run.get("_sql_params", {}), **{k: str(v) for k, v in sql_params.items()}}
        if python_params is not None:
            run["_python_params"] = [str(p) for p in python_params]

    def list_runs(self, job_id: int | None = None, active_only: bool = False, completed_only: bool = False,
                  limit: int = 20, offset: int = 0, expand_tasks: bool = False, page_token: str | None = None,
                  run_type: str | None = None, start_time_from: int | None = None,
                  start_time_to: int | None = None) -> dict:
        if active_only and completed_only:
            raise InvalidParameterValue("active_only and completed_only cannot both be true.")
        if not 0 <= limit <= 25:
            raise InvalidParameterValue(f"Invalid limit {limit}: must be between 0 and 25.")
        if run_type is not None and run_type not in RUN_TYPES:
            raise InvalidParameterValue(f"Invalid run_type {run_type!r}: expected one of {', '.join(RUN_TYPES)}.")
        if job_id is not None:
            self._job(job_id)
        limit = limit or 25
        start = _offset(page_token, offset)
        state = True if active_only else (False if completed_only else None)
        filtered = bool(run_type or start_time_from or start_time_to)  # read here, after the page's rows
        runs = self.store.runs(job_id, state, limit=None if filtered else start + limit + 1)
        if run_type:
            runs = [r for r in runs if r.get("run_type") == run_type]
        if start_time_from:
            runs = [r for r in runs if (r.get("start_time") or r.get("_enqueued_at", 0)) >= start_time_from]
        if start_time_to:
            runs = [r for r in runs if (r.get("start_time") or r.get("_enqueued_at", 0)) <= start_time_to]
        page = runs[start:start + limit]
        out = [public(r) if expand_tasks else {k: v for k, v in public(r).items() if k != "tasks"} for r in page]
        body: dict[str, Any] = {"runs": out, "has_more": start + limit < len(runs)}
        if body["has_more"]:
            body["next_page_token"] = _page_token(start + limit)
        if start > 0:
            body["prev_page_token"] = _page_token(max(0, start - limit))
        return body

    def _require_run_rights(self, run: dict, caller: Caller | None, action: str) -> None:
        """A job's run is the job's (CAN_MANAGE_RUN); a one-time run is its submitter's and the admins'."""
        if caller is None or caller.is_admin:
            return
        job = self.store.job(run["job_id"]) if run.get("job_id") is not None else None
        if job is not None:
            self.permissions.require(_owned(job), caller, CAN_MANAGE_RUN, f"{action} run {run['run_id']} of")
        elif run.get("creator_user_name") != caller.user:
            raise PermissionDenied(f"{caller.user} may not {action} run {run['run_id']}: only who submitted it "
                                   f"({run.get('creator_user_name')}) or an admin may.")

    def cancel_run(self, run_id: Any, caller: Caller | None = None) -> None:
        run = self._run(run_id)
        self._require_run_rights(run, caller, "cancel")
        if lifecycle.is_active(run):
            self.runner.cancel(run_id)

    def cancel_all_runs(self, job_id: Any, caller: Caller | None = None, all_queued_runs: bool = False) -> None:
        """Cancel the job's active runs; without a job, ``all_queued_runs`` cancels every queued run of the jobs
        ``caller`` may run (as Databricks cancels the workspace's queued runs)."""
        if job_id is None:
            if not all_queued_runs:
                raise InvalidParameterValue("Missing required field: job_id (or all_queued_runs: true to cancel "
                                            "every queued run).")
            for run in self.store.runs(active=True):
                job = self.store.job(run["job_id"]) if run.get("job_id") is not None else None
                queued = run["state"].get("life_cycle_state") == "QUEUED"
                if queued and job is not None and (caller is None or self.permissions.rank_of(
                        _owned(job), caller) >= RANK[CAN_MANAGE_RUN]):
                    self.runner.cancel(run["run_id"])
            return
        self.permissions.require(_owned(self._job(job_id)), caller, CAN_MANAGE_RUN, "cancel the runs of")
        for run in self.store.runs(job_id, active=True):
            if not all_queued_runs or run["state"].get("life_cycle_state") == "QUEUED":
                self.runner.cancel(run["run_id"])

    def delete_run(self, run_id: Any, caller: Caller | None = None) -> None:
        run = self._run(run_id)
        self._require_run_rights(run, caller, "delete")
        if lifecycle.is_active(run):
            raise InvalidState(f"Run {run_id} is still active; cancel it before deleting it.")
        self.store.delete_run(run_id)

    def get_run_output(self, run_id: Any) -> dict:
        if not isinstance(run_id, int) or isinstance(run_id, bool):
            raise InvalidParameterValue(f"Invalid run_id: expected an integer, got {run_id!r}.")
        run = self.store.run(run_id)
        if run is not None:
            latest = list(lifecycle.latest_attempts(run).values())
            if len(latest) != 1:
                raise InvalidParameterValue(
                    "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output "
                    "of each individual task run instead (tasks[].run_id).")
            run_id = latest[0]["run_id"]
        owner = self.store.output(run_id)
        if owner is None:
            parent = self.store.run_of_task(run_id)
            task = next((t for t in parent["tasks"] if t["run_id"] == run_id), None) if parent else None
            if parent is None or task is None:
                raise missing("Run", run_id)
            return {"metadata": {**public(task), "job_id": parent.get("job_id")}}
        parent = self._run(owner[0])
        task = next((t for t in parent["tasks"] if t["run_id"] == run_id), None)
        if task is None:
            raise ResourceDoesNotExist(f"Run {run_id} does not exist.")
        body = {k: v for k, v in owner[1].items() if v is not None}
        return {"metadata": {**public(task), "job_id": parent.get("job_id")}, **body}
