"""Serving endpoints API (``/api/2.0/serving-endpoints``) and the invocation routes.

``/serving-endpoints/{name}/invocations`` is Databricks Model Serving; ``/model/{name}/{version}/invocations``
is the retired classic serving URL the seed's Odoo code still calls, served here for a version or an alias.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import APIRouter, Request, Response

from odoolake.workspace.errors import ApiError
from odoolake.workspace.routes.common import field, json_body, read_body
from odoolake.workspace.serving.invoke import MAX_PAYLOAD, score
from odoolake.workspace.serving.logs import REQUEST_PREFIX, served_source

# A small request to a model already in memory is scored on the event loop: handing ~5 ms of GIL-bound predict to a
# worker thread costs ~0.3 ms, a sixth of the serving overhead budget. Anything that may load a model or parse a
# large body goes to a thread so the loop keeps answering other requests.
INLINE_MAX_BYTES = 64 * 1024

router = APIRouter()
invocation_router = APIRouter()  # mounted first: the hot path should not be matched against every API route


def _svc(request: Request):
    return request.app.state.ws.serving


@router.post("/api/2.0/serving-endpoints")
async def create(request: Request) -> dict:
    body = await json_body(request)
    return await asyncio.to_thread(_svc(request).create, body)


@router.get("/api/2.0/serving-endpoints")
def list_endpoints(request: Request) -> dict:
    return {"endpoints": _svc(request).list()}


@router.get("/api/2.0/serving-endpoints/{name}")
def get(name: str, request: Request) -> dict:
    return _svc(request).get(name)


@router.put("/api/2.0/serving-endpoints/{name}/config")
async def update_config(name: str, request: Request) -> dict:
    body = await json_body(request)
    return await asyncio.to_thread(_svc(request).update_config, name, body)


@router.patch("/api/2.0/serving-endpoints/{name}/tags")
async def patch_tags(name: str, request: Request) -> dict:
    body = await json_body(request)
    tags = _svc(request).patch_tags(name, field(body, "add_tags", list, default=[]),
                                    field(body, "delete_tags", list, default=[]))
    return {"tags": tags}


@router.delete("/api/2.0/serving-endpoints/{name}")
def delete(name: str, request: Request) -> dict:
    _svc(request).delete(name)
    return {}


async def _payload(request: Request) -> bytes:
    return await read_body(request, MAX_PAYLOAD, "The Model Serving request")


def _answer(served_name: str, outcome: tuple[int, str, str]) -> Response:
    status, content, media_type = outcome
    return Response(content, status_code=status, media_type=media_type, headers={"served-model-name": served_name})


@invocation_router.post("/serving-endpoints/{name}/invocations")
async def invocations(name: str, request: Request) -> Response:
    return await _invoke(name, None, request)


@invocation_router.post("/serving-endpoints/{name}/served-models/{served}/invocations")
async def served_model_invocations(name: str, served: str, request: Request) -> Response:
    """One served model of the endpoint, whatever the traffic split says."""
    return await _invoke(name, served, request)


async def _invoke(name: str, chosen: str | None, request: Request) -> Response:
    body = await _payload(request)
    content_type = request.headers.get("content-type")
    started = time.perf_counter()
    svc = _svc(request)

    def run():
        entity = svc.pick(name, chosen)
        try:
            model = svc.models.get(entity["entity_name"], entity["entity_version"])
        except ApiError as exc:  # its model does not load (now): the request is in its logs too
            _log_request(request, served_source(name, entity["name"]),
                         (exc.status, json.dumps({"message": exc.message}), "application/json"), started)
            raise
        return entity["name"], score(model, body, content_type)

    inline = len(body) <= INLINE_MAX_BYTES and svc.is_warm(name)
    served, outcome = run() if inline else await asyncio.to_thread(run)
    _log_request(request, served_source(name, served), outcome, started)
    return _answer(served, outcome)


@invocation_router.post("/model/{name}/{version}/invocations")
async def classic_invocations(name: str, version: str, request: Request) -> Response:
    body = await _payload(request)
    content_type = request.headers.get("content-type")
    models = request.app.state.ws.models

    def run():
        model = models.get(name, version)
        return score(model, body, content_type)

    inline = len(body) <= INLINE_MAX_BYTES and models.peek(name, version) is not None
    outcome = run() if inline else await asyncio.to_thread(run)
    return _answer(f"{name}-{version}", outcome)


def _log_request(request: Request, source: str, outcome: tuple[int, str, str], started: float) -> None:
    """One line in the served model's logs for a request: its route, status and time; a failed one's message too."""
    status, content, _ = outcome
    line = f"{REQUEST_PREFIX}{request.url.path} {status} in {(time.perf_counter() - started) * 1000:.0f} ms"
    if status >= 400:
        try:
            line += f": {json.loads(content).get('message', content)}"
        except (ValueError, AttributeError):
            line += f": {content[:500]}"
    request.app.state.ws.models.logs.note(source, logging.ERROR if status >= 500 else
                                          logging.WARNING if status >= 400 else logging.INFO, line)


@router.get("/api/2.0/serving-endpoints/{name}/served-models/{served}/logs")
def served_model_logs(name: str, served: str, request: Request) -> dict:
    """The served model's logs (``w.serving_endpoints.logs``): what the workspace did with its model
    (``serving.logs``)."""
    return {"logs": request.app.state.ws.models.logs.text(_svc(request).log_sources(name, served))}


@router.get("/api/2.0/serving-endpoints/{name}/served-models/{served}/build-logs")
def served_model_build_logs(name: str, served: str, request: Request) -> dict:
    """Its build logs (``w.serving_endpoints.build_logs``): its loads; no container is built locally."""
    return {"logs": request.app.state.ws.models.logs.text(_svc(request).log_sources(name, served), build=True)}
