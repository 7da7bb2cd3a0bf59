"""The Permissions API (``/api/2.0/permissions/<type>/<id>``) for the objects whose access control lists the
workspace keeps: jobs and pipelines (``permissions.py``). ``w.jobs.*_permissions``, ``w.pipelines.*_permissions``
and ``w.permissions`` call it; bundle deploys set it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from odoolake.workspace.errors import InvalidParameterValue, NotImplementedLocally
from odoolake.workspace.routes.common import caller, field, json_body

router = APIRouter()
KEPT = ("jobs", "pipelines")


def _service(request: Request, object_type: str, object_id: str) -> tuple[Any, Any]:
    """The service that keeps ``object_type``'s permissions, and the object's id as that service takes it."""
    ws = request.app.state.ws
    if object_type == "jobs":
        if not (object_id.isascii() and object_id.isdigit()):
            raise InvalidParameterValue(f"Invalid job_id {object_id!r}: expected an integer.")
        return ws.jobs, int(object_id)
    if object_type == "pipelines":
        return ws.pipelines, object_id
    raise NotImplementedLocally(f"Permissions of {object_type} are not kept by the local workspace; those of "
                                f"{' and '.join(KEPT)} are.")


@router.get("/api/2.0/permissions/{object_type}/{object_id}")
def get_permissions(object_type: str, object_id: str, request: Request) -> dict:
    service, ident = _service(request, object_type, object_id)
    return service.get_permissions(ident)


@router.get("/api/2.0/permissions/{object_type}/{object_id}/permissionLevels")
def permission_levels(object_type: str, object_id: str, request: Request) -> dict:
    service, ident = _service(request, object_type, object_id)
    service.get_permissions(ident)  # the object must exist
    return service.permissions.levels()


async def _change(object_type: str, object_id: str, request: Request, replace: bool) -> dict:
    service, ident = _service(request, object_type, object_id)
    body = await json_body(request)
    return service.set_permissions(ident, field(body, "access_control_list", list, default=[]), caller(request),
                                   replace=replace)


@router.put("/api/2.0/permissions/{object_type}/{object_id}")
async def set_permissions(object_type: str, object_id: str, request: Request) -> dict:
    return await _change(object_type, object_id, request, replace=True)


@router.patch("/api/2.0/permissions/{object_type}/{object_id}")
async def update_permissions(object_type: str, object_id: str, request: Request) -> dict:
    return await _change(object_type, object_id, request, replace=False)


def nested_permissions(object_type: str, object_path: str, request: Request) -> dict:
    """Objects named by a path (``directories``, ``notebooks``, ``repos``…): none is kept."""
    raise NotImplementedLocally(f"Permissions of {object_type} are not kept by the local workspace; those of "
                                f"{' and '.join(KEPT)} are.")


for _method in ("GET", "PUT", "PATCH"):  # one route per method: one OpenAPI operation each
    router.add_api_route("/api/2.0/permissions/{object_type}/{object_path:path}", nested_permissions,
                         methods=[_method], name=f"nested_permissions_{_method.lower()}")
