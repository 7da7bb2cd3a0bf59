"""Pipelines API routes (``/api/2.0/pipelines``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from odoolake.workspace.errors import InvalidParameterValue, NotImplementedLocally
from odoolake.workspace.routes.common import caller, field, json_body, query_bool, query_int

router = APIRouter()
DEFAULT_PAGE, MAX_PAGE = 25, 100  # pipelines per list page, as the Pipelines API documents


def _svc(request: Request):
    return request.app.state.ws.pipelines


@router.post("/api/2.0/pipelines")
async def create(request: Request) -> dict:
    return {"pipeline_id": _svc(request).create(await json_body(request), caller(request))}


@router.get("/api/2.0/pipelines")
def list_pipelines(request: Request) -> dict:
    """A page of pipelines (``max_results``, 25 by default, at most 100), as Databricks pages them."""
    limit = query_int(request, "max_results", DEFAULT_PAGE)
    if limit is None or not 1 <= limit <= MAX_PAGE:
        raise InvalidParameterValue(f"Invalid max_results {limit}: must be between 1 and {MAX_PAGE}.")
    token = request.query_params.get("page_token") or "0"
    if not token.isdigit():
        raise InvalidParameterValue(f"Invalid page_token {token!r}.")
    start, found = int(token), _svc(request).list(request.query_params.get("filter"))
    body: dict = {"statuses": found[start:start + limit]}
    if start + limit < len(found):
        body["next_page_token"] = str(start + limit)
    return body


@router.get("/api/2.0/pipelines/{pipeline_id}")
def get(pipeline_id: str, request: Request) -> dict:
    return _svc(request).get(pipeline_id)


@router.put("/api/2.0/pipelines/{pipeline_id}")
async def edit(pipeline_id: str, request: Request) -> dict:
    _svc(request).edit(pipeline_id, await json_body(request), caller(request))
    return {}


@router.delete("/api/2.0/pipelines/{pipeline_id}")
def delete(pipeline_id: str, request: Request) -> dict:
    _svc(request).delete(pipeline_id, caller(request), cascade=query_bool(request, "cascade", True))
    return {}


@router.post("/api/2.0/pipelines/{pipeline_id}/updates")
async def start_update(pipeline_id: str, request: Request) -> dict:
    body = await json_body(request)
    if body.get("parameters") or body.get("rewind_spec"):
        raise NotImplementedLocally(f"Starting an update with {'parameters' if body.get('parameters') else 'rewind_spec'}"
                                    f" is not supported locally; set values in the pipeline's configuration.")
    return {"update_id": _svc(request).start_update(
        pipeline_id, field(body, "full_refresh", bool, default=False), caller=caller(request),
        refresh_selection=field(body, "refresh_selection", list), validate_only=field(body, "validate_only", bool,
                                                                                      default=False),
        full_refresh_selection=field(body, "full_refresh_selection", list))}


@router.get("/api/2.0/pipelines/{pipeline_id}/updates")
def list_updates(pipeline_id: str, request: Request) -> dict:
    return {"updates": _svc(request).list_updates(pipeline_id, query_int(request, "max_results"))}


@router.post("/api/2.0/pipelines/{pipeline_id}/stop")
def stop(pipeline_id: str, request: Request) -> dict:
    _svc(request).stop(pipeline_id, caller(request))
    return {}


@router.get("/api/2.0/pipelines/{pipeline_id}/updates/{update_id}")
def get_update(pipeline_id: str, update_id: str, request: Request) -> dict:
    return _svc(request).get_update(pipeline_id, update_id)


@router.get("/api/2.0/pipelines/{pipeline_id}/events")
def events(pipeline_id: str, request: Request) -> dict:
    q = request.query_params
    return _svc(request).events(pipeline_id, q.get("filter"), query_int(request, "max_results"),
                                q.getlist("order_by") or None, q.get("page_token"))
