"""Jobs API routes, registered under 2.0, 2.1 and 2.2 (the SDK uses 2.2; n8n and older tools 2.1/2.0)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from odoolake.workspace.errors import NotImplementedLocally
from odoolake.workspace.jobs.service import REPAIR_FIELDS_REFUSED
from odoolake.workspace.jobs.settings import single_task_as_tasks
from odoolake.workspace.notifications.events import NOTIFICATION_FIELDS
from odoolake.workspace.routes.common import caller, field, json_body, query_bool, query_int, versioned

router = APIRouter()
V = ("2.0", "2.1", "2.2")


def _svc(request: Request):
    return request.app.state.ws.jobs


def _queued_by_default(request: Request, settings: dict) -> dict:
    """Jobs made (or reset) through Jobs API 2.2 queue their runs unless ``queue`` says otherwise; 2.0 and 2.1 do
    not (Databricks' "Updating from Jobs API 2.1 to 2.2")."""
    if request.url.path.startswith("/api/2.2/") and "queue" not in settings:
        return {**settings, "queue": {"enabled": True}}
    return settings


@versioned(router, "POST", V, "/jobs/create")
async def create(request: Request) -> dict:
    body = _queued_by_default(request, single_task_as_tasks(await json_body(request)))
    acl = body.pop("access_control_list", None)
    return {"job_id": _svc(request).create(body, request.state.user, acl, caller(request))}


@versioned(router, "GET", V, "/jobs/get")
def get(request: Request) -> dict:
    return _svc(request).get(query_int(request, "job_id", required=True))


@versioned(router, "GET", V, "/jobs/list")
def list_jobs(request: Request) -> dict:
    # Jobs API 2.0 lists every job unless paged: its clients (the legacy databricks-cli's `jobs list`) send no limit.
    paged_by_default = not request.url.path.startswith("/api/2.0/") or "limit" in request.query_params
    return _svc(request).list(query_int(request, "limit", 20) if paged_by_default else None,
                              query_int(request, "offset", 0),
                              request.query_params.get("name"), query_bool(request, "expand_tasks"),
                              request.query_params.get("page_token"))


@versioned(router, "POST", V, "/jobs/reset")
async def reset(request: Request) -> dict:
    body = await json_body(request)
    new_settings = _queued_by_default(request, single_task_as_tasks(field(body, "new_settings", dict, required=True)))
    _svc(request).reset(field(body, "job_id", int, required=True), new_settings, caller(request))
    return {}


@versioned(router, "POST", V, "/jobs/update")
async def update(request: Request) -> dict:
    body = await json_body(request)
    _svc(request).update(field(body, "job_id", int, required=True), field(body, "new_settings", dict),
                         field(body, "fields_to_remove", list), caller(request))
    return {}


@versioned(router, "POST", V, "/jobs/delete")
async def delete(request: Request) -> dict:
    body = await json_body(request)
    _svc(request).delete(field(body, "job_id", int, required=True), caller(request))
    return {}


@versioned(router, "POST", V, "/jobs/run-now")
async def run_now(request: Request) -> dict:
    body = await json_body(request)
    job_id = body.get("job_id")
    if isinstance(job_id, str) and job_id.isdigit():  # n8n and curl users often send the id as a string
        body["job_id"] = int(job_id)
    return _svc(request).run_now(
        field(body, "job_id", int, required=True), field(body, "job_parameters", dict),
        field(body, "notebook_params", dict), field(body, "python_params", list), field(body, "only", list),
        field(body, "queue", dict), idempotency_token=field(body, "idempotency_token", str), caller=caller(request),
        sql_params=field(body, "sql_params", dict))


@versioned(router, "POST", V, "/jobs/runs/submit")
async def submit(request: Request) -> dict:
    body = single_task_as_tasks(await json_body(request))
    return _svc(request).submit(field(body, "run_name", str), field(body, "tasks", list, required=True),
                                field(body, "timeout_seconds", int), request.state.user,
                                field(body, "idempotency_token", str),
                                {k: body[k] for k in NOTIFICATION_FIELDS if body.get(k) is not None},
                                field(body, "run_as", dict), caller(request))


@versioned(router, "GET", V, "/jobs/runs/get")
def get_run(request: Request) -> dict:
    return _svc(request).get_run(query_int(request, "run_id", required=True), query_bool(request, "include_history"))


@versioned(router, "GET", V, "/jobs/runs/list")
def list_runs(request: Request) -> dict:
    q = request.query_params
    return _svc(request).list_runs(
        query_int(request, "job_id"), query_bool(request, "active_only"), query_bool(request, "completed_only"),
        query_int(request, "limit", 20), query_int(request, "offset", 0), query_bool(request, "expand_tasks"),
        q.get("page_token"), q.get("run_type"), query_int(request, "start_time_from"),
        query_int(request, "start_time_to"))


@versioned(router, "POST", V, "/jobs/runs/cancel")
async def cancel_run(request: Request) -> dict:
    body = await json_body(request)
    _svc(request).cancel_run(field(body, "run_id", int, required=True), caller(request))
    return {}


@versioned(router, "POST", V, "/jobs/runs/cancel-all")
async def cancel_all(request: Request) -> dict:
    body = await json_body(request)
    _svc(request).cancel_all_runs(field(body, "job_id", int), caller(request),
                                  field(body, "all_queued_runs", bool, default=False))
    return {}


@versioned(router, "POST", V, "/jobs/runs/delete")
async def delete_run(request: Request) -> dict:
    body = await json_body(request)
    _svc(request).delete_run(field(body, "run_id", int, required=True), caller(request))
    return {}


@versioned(router, "GET", V, "/jobs/runs/get-output")
def get_output(request: Request) -> dict:
    return _svc(request).get_run_output(query_int(request, "run_id", required=True))


@versioned(router, "POST", V, "/jobs/runs/repair")
async def repair(request: Request) -> dict:
    body = await json_body(request)
    return _svc(request).repair_run(
        field(body, "run_id", int, required=True), field(body, "rerun_tasks", list),
        field(body, "rerun_all_failed_tasks", bool, default=False), field(body, "rerun_dependent_tasks", bool,
                                                                          default=False),
        field(body, "latest_repair_id", int), field(body, "job_parameters", dict), field(body, "notebook_params", dict),
        field(body, "python_params", list), field(body, "sql_params", dict), caller=caller(request),
        refused=[name for name in REPAIR_FIELDS_REFUSED if body.get(name) not in (None, {}, [])],
        pipeline_params=field(body, "pipeline_params", dict))


@versioned(router, "GET", V, "/jobs/runs/export")
def export(request: Request) -> dict:
    raise NotImplementedLocally("jobs/runs/export is not supported locally; use runs/get-output.")

