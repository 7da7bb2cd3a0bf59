"""The shape of a bundle's jobs and pipelines, checked field by field (our own description of the Jobs and
Pipelines APIs; the Databricks CLI's JSON schema is under the Databricks License and is not used).

- A key the API does not know is a **warning** with its file:line, and is kept: it may be newer than this list,
  and real Databricks will say. A close match is suggested (``depends_onn`` → ``depends_on``).
- A value the API would refuse is an **error**: a wrong type (``max_concurrent_runs: one``), a value outside its
  enum or range, a Quartz expression with an hour of 25 or that never fires, an unknown ``timezone_id``.
- Strings holding an unresolved ``${…}`` reference (known only at deploy) are not type-checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from odoolake.errors import OdoolakeError

Report = Callable[[str, str, str], None]  # (severity, summary, key path)


@dataclass(frozen=True)
class Kind:
    """What a field holds: ``type`` is str/int/bool/number/map/list/object/any; objects and lists of objects
    have ``fields``; ``enum`` limits strings; ``minimum`` limits integers; ``check`` validates further."""

    type: str
    fields: dict[str, Kind] = field(default_factory=dict)
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    check: Callable[[Any], str | None] | None = None
    items: Kind | None = None  # for lists: the kind of each item


STR, INT, BOOL, MAP, ANY = Kind("str"), Kind("int"), Kind("bool"), Kind("map"), Kind("any")
COUNT = Kind("int", minimum=0)
STR_LIST = Kind("list", items=STR)


def _obj(**fields: Kind) -> Kind:
    return Kind("object", fields=fields)


def _list_of(item: Kind) -> Kind:
    return Kind("list", items=item)


PRINCIPAL_FIELDS = ("user_name", "service_principal_name", "group_name")
BUNDLE_LEVELS = ("CAN_MANAGE", "CAN_VIEW", "CAN_RUN")  # what the top-level ``permissions`` may grant
# Each resource's level for a top-level one (as the Databricks CLI maps them); a level missing here is not given to
# that kind (CAN_RUN to an experiment, say).
RESOURCE_LEVELS = {
    "jobs": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_MANAGE_RUN"},
    "pipelines": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_RUN"},
    "experiments": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_READ"},
    "models": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_READ"},
    "model_serving_endpoints": {"CAN_MANAGE": "CAN_MANAGE", "CAN_VIEW": "CAN_VIEW", "CAN_RUN": "CAN_QUERY"},
}


def _one_principal(value: Any) -> str | None:
    named = [f for f in PRINCIPAL_FIELDS if value.get(f)]
    return None if len(named) == 1 else f"name exactly one of {', '.join(PRINCIPAL_FIELDS)}, got {named or 'none'}"


def permissions(*levels: str) -> Kind:
    """A ``permissions`` list whose entries grant one of ``levels`` to one principal."""
    return _list_of(Kind("object", check=_one_principal, fields={
        "level": Kind("str", enum=levels), **{f: STR for f in PRINCIPAL_FIELDS}}))


TOP_PERMISSIONS = permissions(*BUNDLE_LEVELS)


def _quartz(value: Any) -> str | None:
    from odoolake.workspace.jobs.quartz import QuartzError, to_croniter

    try:
        to_croniter(value)
    except QuartzError as exc:
        return str(exc)
    return None


def _timezone(value: Any) -> str | None:
    import zoneinfo

    from odoolake.workspace.jobs.quartz import zone

    try:
        zone(value)
    except OdoolakeError:
        near = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=1)
        return f"unknown timezone_id {value!r}" + (f"; did you mean {near[0]!r}?" if near else " (an IANA id such "
                                                                                              "as Asia/Manila)")
    return None


PAUSE = Kind("str", enum=("PAUSED", "UNPAUSED"))
RUN_IF = ("ALL_SUCCESS", "ALL_DONE", "NONE_FAILED", "AT_LEAST_ONE_SUCCESS", "ALL_FAILED", "AT_LEAST_ONE_FAILED")
CONDITION_OPS = ("EQUAL_TO", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL")
SOURCE = Kind("str", enum=("WORKSPACE", "GIT"))

SCHEDULE = _obj(quartz_cron_expression=Kind("str", check=_quartz), timezone_id=Kind("str", check=_timezone),
                pause_status=PAUSE)
TASK = _obj(
    task_key=STR, description=STR, depends_on=_list_of(_obj(task_key=STR, outcome=Kind("str", enum=("true", "false")))),
    run_if=Kind("str", enum=RUN_IF),
    notebook_task=_obj(notebook_path=STR, base_parameters=MAP, source=SOURCE, warehouse_id=STR),
    spark_python_task=_obj(python_file=STR, parameters=STR_LIST, source=SOURCE),
    python_wheel_task=_obj(package_name=STR, entry_point=STR, parameters=STR_LIST, named_parameters=MAP),
    sql_task=_obj(warehouse_id=STR, file=_obj(path=STR, source=SOURCE), query=MAP, dashboard=MAP, alert=MAP,
                  parameters=MAP),
    condition_task=_obj(op=Kind("str", enum=CONDITION_OPS), left=STR, right=STR),
    run_job_task=_obj(job_id=INT, job_parameters=MAP, pipeline_params=MAP),
    pipeline_task=_obj(pipeline_id=STR, full_refresh=BOOL),
    spark_jar_task=MAP, spark_submit_task=MAP, dbt_task=MAP, for_each_task=MAP, dashboard_task=MAP,
    power_bi_task=MAP, clean_rooms_notebook_task=MAP, gen_ai_compute_task=MAP,
    existing_cluster_id=STR, job_cluster_key=STR, new_cluster=MAP, environment_key=STR,
    libraries=_list_of(MAP), timeout_seconds=COUNT, max_retries=Kind("int", minimum=-1),
    min_retry_interval_millis=COUNT, retry_on_timeout=BOOL, email_notifications=MAP, webhook_notifications=MAP,
    notification_settings=MAP, health=MAP, disable_auto_optimization=BOOL, compute=MAP,
)
JOB = _obj(
    name=STR, description=STR, tasks=_list_of(TASK),
    job_clusters=_list_of(_obj(job_cluster_key=STR, new_cluster=MAP)),
    environments=_list_of(_obj(environment_key=STR, spec=MAP)),
    parameters=_list_of(_obj(name=STR, default=ANY)), schedule=SCHEDULE, continuous=_obj(pause_status=PAUSE),
    trigger=MAP, max_concurrent_runs=COUNT, timeout_seconds=COUNT, email_notifications=MAP,
    webhook_notifications=MAP, notification_settings=MAP, tags=MAP,
    run_as=_obj(user_name=STR, service_principal_name=STR, group_name=STR), queue=_obj(enabled=BOOL),
    git_source=MAP, health=MAP, format=Kind("str", enum=("SINGLE_TASK", "MULTI_TASK")),
    edit_mode=Kind("str", enum=("UI_LOCKED", "EDITABLE")), deployment=MAP,
    permissions=permissions("CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"),
    performance_target=STR, budget_policy_id=STR, usage_policy_id=STR, lifecycle=MAP, environment_variables=MAP,
)
PIPELINE = _obj(
    name=STR, catalog=STR, schema=STR, target=STR, storage=STR, libraries=_list_of(MAP), clusters=_list_of(MAP),
    development=BOOL, continuous=BOOL, serverless=BOOL, channel=Kind("str", enum=("CURRENT", "PREVIEW")),
    photon=BOOL, edition=Kind("str", enum=("CORE", "PRO", "ADVANCED")), configuration=MAP, root_path=STR,
    environment=MAP, notifications=_list_of(MAP), permissions=permissions("CAN_VIEW", "CAN_RUN", "IS_OWNER", "CAN_MANAGE"),
    allow_duplicate_names=BOOL,
    budget_policy_id=STR, deployment=MAP, event_log=MAP, filters=MAP, gateway_definition=MAP, id=STR,
    ingestion_definition=MAP, restart_window=MAP, run_as=MAP, tags=MAP, trigger=MAP, lifecycle=MAP,
)
RESOURCES = {"jobs": JOB, "pipelines": PIPELINE}
TYPE_NAMES = {"str": "a string", "int": "an integer", "bool": "true or false", "map": "a mapping",
              "list": "a list", "object": "a mapping"}


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _type_ok(kind: Kind, value: Any) -> bool:
    return {
        "str": isinstance(value, str), "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool), "map": isinstance(value, dict), "object": isinstance(value, dict),
        "list": isinstance(value, list), "any": True,
    }[kind.type]


def check(kind: Kind, value: Any, path: str, report: Report) -> None:
    """Report every unknown key (warning) and every value the API would refuse (error) under ``path``."""
    if value is None or _is_ref(value):
        return
    if not _type_ok(kind, value):
        report("error", f"expected {TYPE_NAMES[kind.type]}, got {type(value).__name__} {value!r}", path)
        return
    if kind.enum and value not in kind.enum:
        report("error", f"{value!r} is not one of {', '.join(kind.enum)}", path)
    if kind.minimum is not None and value < kind.minimum:
        report("error", f"must be >= {kind.minimum}, got {value}", path)
    if kind.check is not None and (problem := kind.check(value)):
        report("error", problem, path)
    if kind.type == "list" and kind.items is not None:
        for i, item in enumerate(value):
            check(kind.items, item, f"{path}[{i}]", report)
    if kind.type == "object":
        for key, item in value.items():
            if key in kind.fields:
                check(kind.fields[key], item, f"{path}.{key}", report)
            else:
                near = difflib.get_close_matches(str(key), list(kind.fields), n=1)
                report("warning", f"unknown field {key!r} (kept; real Databricks may refuse it)"
                       + (f"; did you mean {near[0]!r}?" if near else ""), f"{path}.{key}")


def never_fires(schedule: Any, path: str, report: Report) -> None:
    """A schedule whose fields are valid but that has no next fire time (30 February, a year already past)."""
    if not isinstance(schedule, dict):
        return
    cron, tz = schedule.get("quartz_cron_expression"), schedule.get("timezone_id", "UTC")
    if not isinstance(cron, str) or not isinstance(tz, str) or _quartz(cron) or _timezone(tz) or _is_ref(cron):
        return
    from odoolake.workspace.jobs.quartz import QuartzError, next_fire

    try:
        next_fire(cron, tz, datetime.now(UTC))
    except QuartzError as exc:
        report("error", str(exc), f"{path}.quartz_cron_expression")
