"""The Secrets API (``/api/2.0/secrets/*``, what ``w.secrets`` and ``databricks secrets`` call) and the route task
processes read their secrets through (``/_odoolake/task/secrets/*``, task credentials only)."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request

from odoolake.workspace.errors import InvalidParameterValue, Unauthenticated
from odoolake.workspace.identity.roles import ADMIN
from odoolake.workspace.routes.common import field, json_body
from odoolake.workspace.secrets.grants import TaskGrant
from odoolake.workspace.secrets.reader import TASK_ROUTE
from odoolake.workspace.secrets.store import Caller

router = APIRouter()
task_router = APIRouter()
BASE = "/api/2.0/secrets"


def _store(request: Request):
    return request.app.state.ws.secrets


def _caller(request: Request) -> Caller:
    return Caller(request.state.user, request.state.role == ADMIN)


@router.post(f"{BASE}/scopes/create")
async def create_scope(request: Request) -> dict:
    body = await json_body(request)
    _store(request).create_scope(body.get("scope"), _caller(request), body.get("initial_manage_principal"),
                                 body.get("scope_backend_type"))
    return {}


@router.post(f"{BASE}/scopes/delete")
async def delete_scope(request: Request) -> dict:
    _store(request).delete_scope((await json_body(request)).get("scope"), _caller(request))
    return {}


@router.get(f"{BASE}/scopes/list")
def list_scopes(request: Request) -> dict:
    return {"scopes": _store(request).scopes()}


@router.post(f"{BASE}/put")
async def put_secret(request: Request) -> dict:
    body = await json_body(request)
    text, raw = field(body, "string_value", str), field(body, "bytes_value", str)
    if (text is None) == (raw is None):
        raise InvalidParameterValue("Exactly one of string_value and bytes_value (base64) is required.")
    if raw is not None:
        try:
            value = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterValue("Invalid bytes_value: not valid base64.") from None
    else:
        value = text.encode()
    _store(request).put(body.get("scope"), body.get("key"), value, _caller(request))
    return {}


@router.post(f"{BASE}/delete")
async def delete_secret(request: Request) -> dict:
    body = await json_body(request)
    _store(request).delete(body.get("scope"), body.get("key"), _caller(request))
    return {}


@router.get(f"{BASE}/list")
def list_secrets(request: Request) -> dict:
    return {"secrets": _store(request).list_secrets(request.query_params.get("scope"), _caller(request))}


@router.get(f"{BASE}/get")
def get_secret(request: Request) -> dict:
    q = request.query_params
    value = _store(request).get(q.get("scope"), q.get("key"), _caller(request))
    return {"key": q.get("key"), "value": base64.b64encode(value).decode()}


@router.post(f"{BASE}/acls/put")
async def put_acl(request: Request) -> dict:
    body = await json_body(request)
    _store(request).put_acl(body.get("scope"), body.get("principal"), body.get("permission"), _caller(request))
    return {}


@router.post(f"{BASE}/acls/delete")
async def delete_acl(request: Request) -> dict:
    body = await json_body(request)
    _store(request).delete_acl(body.get("scope"), body.get("principal"), _caller(request))
    return {}


@router.get(f"{BASE}/acls/list")
def list_acls(request: Request) -> dict:
    return {"items": _store(request).acls(request.query_params.get("scope"), _caller(request))}


@router.get(f"{BASE}/acls/get")
def get_acl(request: Request) -> dict:
    q = request.query_params
    return _store(request).acl(q.get("scope"), q.get("principal"), _caller(request))


# -- task processes ----------------------------------------------------------------------------------

def _grant(request: Request) -> tuple[TaskGrant, Caller]:
    """The task's grant and whom it reads as (the run's principal, with their role as it is now)."""
    auth = request.headers.get("authorization", "")
    ws = request.app.state.ws
    grant = ws.task_grants.lookup(auth[7:].strip() if auth[:7].lower() == "bearer " else None)
    if grant is None:
        raise Unauthenticated("A task credential is required (this route serves running tasks only).")
    return grant, Caller(grant.principal, ws.roles.role_of(grant.principal) == ADMIN)


@task_router.get(f"{TASK_ROUTE}/get", include_in_schema=False)
def task_get_secret(request: Request) -> dict:
    grant, caller = _grant(request)
    q = request.query_params
    value = _store(request).get(q.get("scope"), q.get("key"), caller)
    grant.redactor.add(value.decode("utf-8", errors="replace"))  # before the task can print it
    return {"key": q.get("key"), "value": base64.b64encode(value).decode()}


@task_router.get(f"{TASK_ROUTE}/list", include_in_schema=False)
def task_list_secrets(request: Request) -> dict:
    _, caller = _grant(request)
    return {"secrets": _store(request).list_secrets(request.query_params.get("scope"), caller)}


@task_router.get(f"{TASK_ROUTE}/scopes", include_in_schema=False)
def task_list_scopes(request: Request) -> dict:
    _grant(request)
    return {"scopes": _store(request).scopes()}
