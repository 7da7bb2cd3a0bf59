"""Notification destinations API (``/api/2.0/notification-destinations``), as ``w.notification_destinations`` calls
it; the rules are in ``notifications/destinations.py``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from odoolake.workspace.routes.common import caller, json_body, query_int

router = APIRouter()
PATH = "/api/2.0/notification-destinations"


def _svc(request: Request):
    return request.app.state.ws.notification_destinations


@router.post(PATH)
async def create(request: Request) -> dict:
    body = await json_body(request)
    return _svc(request).create(body.get("display_name"), body.get("config"), caller(request))


@router.get(PATH)
def list_destinations(request: Request) -> dict:
    return _svc(request).list(query_int(request, "page_size"), request.query_params.get("page_token"))


@router.get(PATH + "/{dest_id}")
def get(dest_id: str, request: Request) -> dict:
    return _svc(request).get(dest_id)


@router.patch(PATH + "/{dest_id}")
async def update(dest_id: str, request: Request) -> dict:
    body = await json_body(request)
    return _svc(request).update(dest_id, body.get("display_name"), body.get("config"), caller(request))


@router.delete(PATH + "/{dest_id}")
def delete(dest_id: str, request: Request) -> dict:
    _svc(request).delete(dest_id, caller(request))
    return {}
