"""``.well-known/databricks-config``, SCIM Me and the Token API."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from odoolake.workspace.routes.common import field, json_body

public_router = APIRouter()
router = APIRouter()


@public_router.get("/.well-known/databricks-config")
def well_known(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"workspace_id": request.app.state.ws.workspace_id, "oidc_endpoint": f"{base}/oidc"}


@router.get("/api/2.0/preview/scim/v2/Me")
def me(request: Request) -> JSONResponse:
    user = request.state.user
    body = {
        "id": str(int(hashlib.sha256(user.encode()).hexdigest()[:12], 16)), "userName": user,
        "displayName": user.split("@")[0], "active": True, "emails": [{"value": user, "primary": True, "type": "work"}],
        "groups": [{"display": "admins", "value": "1"}],
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    }
    return JSONResponse(body, headers={"X-Databricks-Org-Id": request.app.state.ws.workspace_id})


@router.post("/api/2.0/token/create")
async def token_create(request: Request) -> dict:
    body = await json_body(request)
    lifetime = field(body, "lifetime_seconds", int)
    comment = field(body, "comment", str, default="")
    value, info = request.app.state.ws.tokens.create(request.state.user, comment, lifetime)
    return {"token_value": value, "token_info": info.as_dict()}


@router.get("/api/2.0/token/list")
def token_list(request: Request) -> dict:
    return {"token_infos": [t.as_dict() for t in request.app.state.ws.tokens.list(request.state.user)]}


@router.post("/api/2.0/token/delete")
async def token_delete(request: Request) -> dict:
    body = await json_body(request)
    request.app.state.ws.tokens.revoke(field(body, "token_id", str, required=True))
    return {}
