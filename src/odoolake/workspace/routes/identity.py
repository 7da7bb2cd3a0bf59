"""``.well-known/databricks-config``, SCIM Me and the Token API."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from odoolake.workspace.identity.roles import ADMIN
from odoolake.workspace.mlflow_server import ORG_ID_HEADER
from odoolake.workspace.routes.common import field, json_body

public_router = APIRouter()
router = APIRouter()


@public_router.get("/oidc/.well-known/oauth-authorization-server")
def oidc_discovery(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"issuer": f"{base}/oidc", "authorization_endpoint": f"{base}/oidc/v1/authorize",
            "token_endpoint": f"{base}/oidc/v1/token", "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["all-apis"]}


@public_router.post("/oidc/v1/token")
async def oidc_token(request: Request) -> JSONResponse:
    import base64

    from odoolake.workspace.identity.oauth import OAuthError

    form = await request.form()
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = request.headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "invalid_client", "error_description": "malformed Basic credentials"}, 401)
    try:
        body = request.app.state.ws.oauth.token(client_id, client_secret, form.get("grant_type"))
    except OAuthError as exc:
        return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status)
    return JSONResponse(body)


@public_router.get("/.well-known/databricks-config")
def well_known(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"workspace_id": request.app.state.ws.workspace_id, "oidc_endpoint": f"{base}/oidc"}


ADMINS_GROUP = {"display": "admins", "value": "1"}
USERS_GROUP = {"display": "users", "value": "2"}


@router.get("/api/2.0/preview/scim/v2/Me")
def me(request: Request) -> JSONResponse:
    user = request.state.user
    body = {
        "id": str(int(hashlib.sha256(user.encode()).hexdigest()[:12], 16)), "userName": user,
        "displayName": user.split("@")[0], "active": True, "emails": [{"value": user, "primary": True, "type": "work"}],
        # every user is in "users"; only an admin in "admins", which tools read as the right to administer
        "groups": [*([ADMINS_GROUP] if request.app.state.ws.roles.role_of(user) == ADMIN else []), USERS_GROUP],
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    }
    return JSONResponse(body, headers={ORG_ID_HEADER: request.app.state.ws.workspace_id})


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
    request.app.state.ws.tokens.revoke(field(body, "token_id", str, required=True), requester=request.state.user,
                                       is_admin=request.state.role == ADMIN)
    return {}
