"""Request helpers shared by the route modules: JSON bodies, typed query values, API version aliases."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from odoolake.workspace.errors import InvalidParameterValue, MalformedRequest, RequestTooLarge

MAX_JSON_BODY = 20 * 1024 * 1024


async def json_body(request: Request, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > limit:
        raise RequestTooLarge(f"Request body is {len(raw)} bytes; the limit for this endpoint is {limit}.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"Malformed JSON request body: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object.")
    return body


def field(body: dict, name: str, kind: type | tuple[type, ...], required: bool = False, default: Any = None) -> Any:
    value = body.get(name, default)
    if value is None:
        if required:
            raise InvalidParameterValue(f"Missing required field: {name}")
        return default
    expected = kind if isinstance(kind, tuple) else (kind,)
    if (int in expected and isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        names = " or ".join(k.__name__ for k in expected)
        raise InvalidParameterValue(f"Invalid {name}: expected {names}, got {type(value).__name__} {value!r}.")
    return value


def query_int(request: Request, name: str, default: int | None = None, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise InvalidParameterValue(f"Missing required parameter: {name}")
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameterValue(f"Invalid {name}: expected an integer, got {raw!r}.") from None


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise InvalidParameterValue(f"Invalid {name}: expected true or false, got {raw!r}.")
    return raw.lower() == "true"


def versioned(router: APIRouter, method: str, versions: tuple[str, ...], path: str):
    """Register one handler under several API versions (``/api/2.0|2.1|2.2/…``) from a single table entry."""

    def decorator(fn):
        for version in versions:
            router.add_api_route(f"/api/{version}{path}", fn, methods=[method], include_in_schema=version == versions[-1])
        return fn

    return decorator
