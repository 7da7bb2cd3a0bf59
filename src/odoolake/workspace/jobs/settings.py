"""Validation of JobSettings and task specs, with errors that name the field (``tasks[1].depends_on[0]``).

Unknown fields are kept and echoed back (the SDK sends whole settings objects); fields whose meaning cannot
be honoured locally are refused with a named error instead of being ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from odoolake.errors import OdoolakeError
from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.jobs.quartz import next_fire, to_croniter, zone

TASK_TYPES = ("notebook_task", "spark_python_task", "python_wheel_task", "sql_task", "condition_task",
              "run_job_task", "pipeline_task")
REFUSED_TASK_TYPES = ("spark_jar_task", "spark_submit_task", "dbt_task", "for_each_task", "dashboard_task",
                      "power_bi_task", "clean_rooms_notebook_task", "gen_ai_compute_task")
# What a Jobs API 2.0 single-task job (format SINGLE_TASK) keeps at its top level that belongs to its one task.
SINGLE_TASK_FIELDS = (*TASK_TYPES, *REFUSED_TASK_TYPES, "existing_cluster_id", "new_cluster", "libraries",
                      "max_retries", "min_retry_interval_millis", "retry_on_timeout")
RUN_IF = ("ALL_SUCCESS", "ALL_DONE", "NONE_FAILED", "AT_LEAST_ONE_SUCCESS", "ALL_FAILED", "AT_LEAST_ONE_FAILED")
CONDITION_OPS = ("EQUAL_TO", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN",
                 "LESS_THAN_OR_EQUAL")
PAUSE = ("PAUSED", "UNPAUSED")
TASK_KEY = re.compile(r"^[\w\-.]{1,100}$")


def _fail(field: str, problem: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid {field}: {problem}")


def _type(value: Any, kind: type | tuple[type, ...], field: str, what: str) -> Any:
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise _fail(field, f"expected {what}, got {type(value).__name__} {value!r}")
    return value


def _int(obj: dict, key: str, field: str, minimum: int) -> None:
    if key in obj and obj[key] is not None:
        value = _type(obj[key], int, f"{field}{key}", "an integer")
        if value < minimum:
            raise _fail(f"{field}{key}", f"must be >= {minimum}, got {value}")


def _str_map(value: Any, field: str) -> None:
    _type(value, dict, field, "an object of strings")
    for k, v in value.items():
        if not isinstance(v, str | int | float | bool):
            raise _fail(f"{field}.{k}", f"expected a string, got {type(v).__name__}")


def validate_task(task: Any, field: str, local_cluster_id: str, job_cluster_keys: set[str] | None) -> None:
    _type(task, dict, field, "an object")
    key = task.get("task_key")
    if not isinstance(key, str) or not TASK_KEY.match(key):
        raise _fail(f"{field}.task_key", "required; 1-100 letters, digits, '_', '-' or '.'")
    refused = [t for t in REFUSED_TASK_TYPES if t in task]
    if refused:
        raise InvalidParameterValue(
            f"Invalid {field}.{refused[0]}: {refused[0]} is not supported by the local workspace "
            f"(supported: {', '.join(TASK_TYPES)}).")
    kinds = [t for t in TASK_TYPES if t in task]
    if len(kinds) != 1:
        raise _fail(field, f"exactly one task type is required ({', '.join(TASK_TYPES)}); got {kinds or 'none'}")
    spec = _type(task[kinds[0]], dict, f"{field}.{kinds[0]}", "an object")
    sub = f"{field}.{kinds[0]}."
    if kinds[0] == "notebook_task":
        _type(spec.get("notebook_path"), str, sub + "notebook_path", "a string")
        if "base_parameters" in spec:
            _str_map(spec["base_parameters"], sub + "base_parameters")
        if spec.get("source", "WORKSPACE") not in ("WORKSPACE", "GIT"):
            raise _fail(sub + "source", "expected WORKSPACE or GIT")
        if spec.get("source") == "GIT":
            raise InvalidParameterValue(f"Invalid {sub}source: GIT sources are not supported locally.")
    elif kinds[0] == "spark_python_task":
        _type(spec.get("python_file"), str, sub + "python_file", "a string")
        for i, p in enumerate(spec.get("parameters") or []):
            _type(p, str, f"{sub}parameters[{i}]", "a string")
    elif kinds[0] == "python_wheel_task":
        _type(spec.get("package_name"), str, sub + "package_name", "a string")
        _type(spec.get("entry_point"), str, sub + "entry_point", "a string")
    elif kinds[0] == "sql_task":
        if "file" not in spec:
            present = [k for k in ("query", "dashboard", "alert") if k in spec]
            raise InvalidParameterValue(
                f"Invalid {sub}{present[0] if present else 'file'}: only sql_task.file is supported locally "
                "(queries, dashboards and alerts live in Databricks SQL).")
        _type(spec["file"], dict, sub + "file", "an object")
        _type(spec["file"].get("path"), str, sub + "file.path", "a string")
    elif kinds[0] == "condition_task":
        if spec.get("op") not in CONDITION_OPS:
            raise _fail(sub + "op", f"expected one of {', '.join(CONDITION_OPS)}, got {spec.get('op')!r}")
        for side in ("left", "right"):
            _type(spec.get(side), str, sub + side, "a string")
    elif kinds[0] == "run_job_task":
        _type(spec.get("job_id"), int, sub + "job_id", "an integer")
        for name, kind, what in (("job_parameters", dict, "an object"), ("notebook_params", dict, "an object"),
                                 ("python_params", list, "a list")):
            if spec.get(name) is not None:
                _type(spec[name], kind, sub + name, what)
    elif kinds[0] == "pipeline_task":
        _type(spec.get("pipeline_id"), str, sub + "pipeline_id", "a string")
    if task.get("run_if", "ALL_SUCCESS") not in RUN_IF:
        raise _fail(f"{field}.run_if", f"expected one of {', '.join(RUN_IF)}, got {task.get('run_if')!r}")
    _int(task, "timeout_seconds", f"{field}.", 0)
    _int(task, "max_retries", f"{field}.", -1)
    _int(task, "min_retry_interval_millis", f"{field}.", 0)
    for i, dep in enumerate(task.get("depends_on") or []):
        _type(dep, dict, f"{field}.depends_on[{i}]", "an object")
        _type(dep.get("task_key"), str, f"{field}.depends_on[{i}].task_key", "a string")
        if "outcome" in dep and dep["outcome"] not in ("true", "false"):
            raise _fail(f"{field}.depends_on[{i}].outcome", "expected 'true' or 'false'")
    cluster = task.get("existing_cluster_id")
    if cluster is not None and cluster != local_cluster_id:
        raise InvalidParameterValue(f"Cluster {cluster} does not exist.")
    jck = task.get("job_cluster_key")
    if jck is not None and job_cluster_keys is not None and jck not in job_cluster_keys:
        raise _fail(f"{field}.job_cluster_key", f"{jck!r} is not defined in job_clusters")


def single_task_as_tasks(settings: dict) -> dict:
    """A Jobs API 2.0 single-task job or submit (``notebook_task`` and its cluster at the top level, as the legacy
    CLI sends it) as the one task of a multi-task job, named after the job, as Databricks converts it; anything
    else unchanged."""
    if not isinstance(settings, dict) or "tasks" in settings or not any(k in settings for k in (*TASK_TYPES,
                                                                                              *REFUSED_TASK_TYPES)):
        return settings
    name = str(settings.get("name") or settings.get("run_name") or "")
    task = {"task_key": re.sub(r"[^\w-]", "_", name)[:100] or "task",
            **{k: v for k, v in settings.items() if k in SINGLE_TASK_FIELDS}}
    return {**{k: v for k, v in settings.items() if k not in SINGLE_TASK_FIELDS}, "tasks": [task],
            "format": "MULTI_TASK"}


def validate_tasks(tasks: Any, field: str, local_cluster_id: str, job_cluster_keys: set[str] | None,
                   whole: bool = True) -> None:
    """Each task, and with ``whole`` (the job's whole list, not an update's to merge into it by key) that their
    dependencies name tasks of the list and make no cycle."""
    _type(tasks, list, field, "a list of tasks")
    keys: dict[str, int] = {}
    for i, task in enumerate(tasks):
        validate_task(task, f"{field}[{i}]", local_cluster_id, job_cluster_keys)
        if task["task_key"] in keys:
            raise _fail(f"{field}[{i}].task_key", f"duplicate task_key {task['task_key']!r}")
        keys[task["task_key"]] = i
    if not whole:
        return
    graph = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or []] for t in tasks}
    for i, task in enumerate(tasks):
        for j, dep in enumerate(graph[task["task_key"]]):
            if dep not in keys:
                raise _fail(f"{field}[{i}].depends_on[{j}].task_key", f"unknown task {dep!r}")
            if "outcome" in task["depends_on"][j] and "condition_task" not in tasks[keys[dep]]:
                raise _fail(f"{field}[{i}].depends_on[{j}].outcome", f"{dep!r} is not a condition_task: only a "
                            f"condition task has an outcome to depend on")
    order = topological_order(graph)
    if order is None:
        raise _fail(field, "depends_on has a cycle: " + " -> ".join(find_cycle(graph)))


def topological_order(graph: dict[str, list[str]]) -> list[str] | None:
    indegree = {k: len(v) for k, v in graph.items()}
    dependents: dict[str, list[str]] = {k: [] for k in graph}
    for key, deps in graph.items():
        for dep in deps:
            dependents[dep].append(key)
    ready = [k for k, n in indegree.items() if n == 0]
    order = []
    while ready:
        key = ready.pop(0)
        order.append(key)
        for nxt in dependents[key]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return order if len(order) == len(graph) else None


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(key: str) -> list[str] | None:
        state[key] = 1
        stack.append(key)
        for dep in graph[key]:
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[key] = 2
        return None

    for key in graph:
        if key not in state:
            found = visit(key)
            if found:
                return found
    return []


# Databricks' limits of a job's settings (a job that passes here is not refused at deploy there).
MAX_JOB_NAME_BYTES = 4096
MAX_JOB_TAGS = 25


PERIOD_UNITS = {"HOURS": 3600, "DAYS": 86400, "WEEKS": 7 * 86400}  # seconds in one unit of a periodic trigger
_TRIGGER_KINDS = ("periodic", "file_arrival")
# A file arrival trigger's delays: Databricks' lowest allowed value, when one is given.
MIN_FILE_ARRIVAL_SECONDS = 60


def _check_triggers(settings: dict, partial: bool) -> None:
    """``continuous`` and ``trigger`` (periodic or file arrival), at most one of them with ``schedule``, as Databricks
    allows; a table update trigger is refused by name (the local scheduler does not run it)."""
    given = [key for key in ("schedule", "continuous", "trigger") if settings.get(key) is not None]
    if len(given) > 1 and not partial:
        raise _fail(given[1], f"a job has one of schedule, continuous and trigger; this one has {' and '.join(given)}")
    for key in ("continuous", "trigger"):
        if settings.get(key) is not None:
            _type(settings[key], dict, key, "an object")
            if settings[key].get("pause_status", "UNPAUSED") not in PAUSE:
                raise _fail(f"{key}.pause_status",
                            f"expected PAUSED or UNPAUSED, got {settings[key].get('pause_status')!r}")
    trigger = settings.get("trigger")
    if trigger is None:
        return
    kinds = [k for k in trigger if k != "pause_status"]
    if any(k in ("table", "table_update", "model") for k in kinds):
        raise InvalidParameterValue("Invalid trigger: table update and model triggers are not run by the local "
                                    "workspace; use trigger.periodic, trigger.file_arrival or a schedule.")
    if len(kinds) != 1 or kinds[0] not in _TRIGGER_KINDS:
        raise _fail("trigger", f"expected one of {', '.join(_TRIGGER_KINDS)}, got {', '.join(kinds) or 'none'}")
    if "periodic" in trigger:
        periodic = _type(trigger["periodic"], dict, "trigger.periodic", "an object")
        interval = _type(periodic.get("interval"), int, "trigger.periodic.interval", "an integer")
        if interval < 1:
            raise _fail("trigger.periodic.interval", f"must be at least 1, got {interval}")
        if periodic.get("unit") not in PERIOD_UNITS:
            raise _fail("trigger.periodic.unit", f"expected one of {', '.join(PERIOD_UNITS)}, got "
                        f"{periodic.get('unit')!r}")
    else:
        arrival = _type(trigger["file_arrival"], dict, "trigger.file_arrival", "an object")
        url = _type(arrival.get("url"), str, "trigger.file_arrival.url", "a string")
        if not url.startswith(("/Volumes/", "dbfs:/")):
            raise _fail("trigger.file_arrival.url", f"the local workspace watches /Volumes/… or dbfs:/… paths, got "
                        f"{url!r}")
        for delay in ("min_time_between_triggers_seconds", "wait_after_last_change_seconds"):
            if arrival.get(delay) is not None:
                seconds = _type(arrival[delay], int, f"trigger.file_arrival.{delay}", "an integer")
                if seconds < MIN_FILE_ARRIVAL_SECONDS:
                    raise _fail(f"trigger.file_arrival.{delay}",
                                f"the lowest allowed value is {MIN_FILE_ARRIVAL_SECONDS} seconds, got {seconds}")


def validate_settings(settings: Any, local_cluster_id: str, partial: bool = False) -> dict:
    _type(settings, dict, "settings", "an object")
    if "name" in settings and settings["name"] is not None:
        _type(settings["name"], str, "name", "a string")
        if len(settings["name"].encode()) > MAX_JOB_NAME_BYTES:
            raise _fail("name", f"at most {MAX_JOB_NAME_BYTES} bytes, got {len(settings['name'].encode())}")
    if settings.get("tags") is not None:
        tags = _type(settings["tags"], dict, "tags", "an object of strings")
        if len(tags) > MAX_JOB_TAGS:
            raise _fail("tags", f"a job has at most {MAX_JOB_TAGS} tags, got {len(tags)}")
    _int(settings, "max_concurrent_runs", "", 0)
    _int(settings, "timeout_seconds", "", 0)
    job_cluster_keys: set[str] | None = None
    if "job_clusters" in settings:
        _type(settings["job_clusters"], list, "job_clusters", "a list")
        job_cluster_keys = set()
        for i, jc in enumerate(settings["job_clusters"]):
            _type(jc, dict, f"job_clusters[{i}]", "an object")
            _type(jc.get("job_cluster_key"), str, f"job_clusters[{i}].job_cluster_key", "a string")
            job_cluster_keys.add(jc["job_cluster_key"])
    if "tasks" in settings:
        validate_tasks(settings["tasks"], "tasks", local_cluster_id, None if partial else (job_cluster_keys or set()),
                       whole=not partial)
        if not partial:  # an environment_key names one of the job's environments
            environments = {e.get("environment_key") for e in settings.get("environments") or []
                            if isinstance(e, dict)}
            for i, task in enumerate(settings["tasks"]):
                key = task.get("environment_key")
                if key is not None and key not in environments:
                    raise _fail(f"tasks[{i}].environment_key", f"{key!r} is not one of the job's environments")
    params = settings.get("parameters")
    if params is not None:
        _type(params, list, "parameters", "a list")
        names = set()
        for i, p in enumerate(params):
            _type(p, dict, f"parameters[{i}]", "an object")
            _type(p.get("name"), str, f"parameters[{i}].name", "a string")
            if p["name"] in names:
                raise _fail(f"parameters[{i}].name", f"duplicate parameter {p['name']!r}")
            names.add(p["name"])
            if "default" in p and not isinstance(p["default"], str | int | float | bool):
                raise _fail(f"parameters[{i}].default", "expected a string")
    schedule = settings.get("schedule")
    if schedule is not None:
        _type(schedule, dict, "schedule", "an object")
        cron = _type(schedule.get("quartz_cron_expression"), str, "schedule.quartz_cron_expression", "a string")
        try:
            to_croniter(cron)
        except OdoolakeError as exc:
            raise _fail("schedule.quartz_cron_expression", str(exc)) from None
        timezone_id = _type(schedule.get("timezone_id"), str, "schedule.timezone_id", "a string")
        try:
            zone(timezone_id)
        except OdoolakeError as exc:
            raise _fail("schedule.timezone_id", str(exc)) from None
        try:  # valid fields can still describe no time at all (30 February, a past year)
            next_fire(cron, timezone_id, datetime.now(UTC))
        except OdoolakeError as exc:
            raise _fail("schedule.quartz_cron_expression", str(exc)) from None
        if schedule.get("pause_status", "UNPAUSED") not in PAUSE:
            raise _fail("schedule.pause_status", f"expected PAUSED or UNPAUSED, got {schedule.get('pause_status')!r}")
    _check_triggers(settings, partial)
    for key, allowed in (("format", ("SINGLE_TASK", "MULTI_TASK")), ("edit_mode", ("UI_LOCKED", "EDITABLE"))):
        if key in settings and settings[key] not in allowed:
            raise _fail(key, f"expected one of {', '.join(allowed)}, got {settings[key]!r}")
    return settings
