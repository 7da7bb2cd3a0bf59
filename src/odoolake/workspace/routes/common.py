"""Request helpers shared by the route modules: JSON bodies, typed query values, API version aliases."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from odoolake.workspace.errors import InvalidParameterValue, MalformedRequest, RequestTooLarge
from odoolake.workspace.identity.roles import ADMIN, Caller

MAX_JSON_BODY = 20 * 1024 * 1024
MAX_JSON_DEPTH = 64  # Databricks' own settings nest about 8 deep; deeper is an attack on recursive code
INT64 = (-(2**63), 2**63 - 1)  # every integer the API stores (ids, times, sizes) is a 64-bit integer


async def read_body(request: Request, limit: int, what: str = "Request body") -> bytes:
    """The request body, refused with 400 MAX_REQUEST_SIZE_EXCEEDED as soon as it passes ``limit`` bytes.

    Read while it streams in: a declared Content-Length over the limit is refused before reading anything, and a
    chunked body is refused at the first chunk past the limit, so an oversized request never sits in memory.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"{what} is {declared} bytes; the limit for this endpoint is {limit}.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"{what} is over {limit} bytes, the limit for this endpoint.")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # so request.form() and request.body() see it (Starlette reads _body once set)
    return body


def _check_shape(body: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and integers outside 64 bits, naming where (iteratively)."""
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels (at {where}).")
        if isinstance(value, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
            raise InvalidParameterValue(f"Invalid {where or 'body'}: {value} is out of range (a 64-bit integer).")


async def json_body(request: Request, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
    raw = await read_body(request, limit)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        raise MalformedRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(f"Malformed JSON request body: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedRequest("The request body must be a JSON object.")
    _check_shape(body)
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
        value = int(raw)
    except ValueError:
        raise InvalidParameterValue(f"Invalid {name}: expected an integer, got {raw!r}.") from None
    if not INT64[0] <= value <= INT64[1]:
        raise InvalidParameterValue(f"Invalid {name}: {raw} is out of range (a 64-bit integer).")
    return value


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


def caller(request: Request) -> Caller:
    """Who makes the request (set by the workspace's authentication), for object permissions."""
    return Caller(request.state.user, request.state.role == ADMIN)
