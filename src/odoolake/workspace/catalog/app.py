"""The catalog on its own: the Unity Catalog API for the engine's Sail, behind a per-start secret.

It listens on the engine host's private loopback (see ``engine.isolation``); the secret guards the shared-loopback
fallback too. Errors keep the Databricks shape that Sail's ``unity`` client reads (404 → "not found", 409 → exists).
"""

from __future__ import annotations

import hmac
import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from odoolake.workspace.catalog import routes
from odoolake.workspace.catalog.columns import NotLoaded
from odoolake.workspace.catalog.store import CatalogStore, FullName
from odoolake.workspace.errors import ApiError

TABLE_PATH = "/api/2.1/unity-catalog/tables/"
JSON_HEADERS = [(b"content-type", b"application/json")]


def table_answer(store: CatalogStore, method: str, path: str) -> bytes | None:
    """The body of ``GET …/tables/{full_name}`` for a table that exists and whose Delta log was read since its last
    commit, else None: the app answers (errors too, and a log to read, in its worker thread).

    Sail asks for a table this way three times for every query that names one: through FastAPI (routing, a worker
    thread, its JSON encoder) each took about 1.6 ms, a third of a small query's time. The answer is the route's
    (``routes.get_table``), built from the same ``TableInfo.as_api``, without that machinery. It runs on the
    server's event loop, so it does only what cannot block it for long: one indexed SQLite read and a ``stat``."""
    if method != "GET" or not path.startswith(TABLE_PATH):
        return None
    full_name = path[len(TABLE_PATH):]
    if "/" in full_name:
        return None
    try:
        info = store.find(FullName.parse(full_name), load=False)
    except (ApiError, NotLoaded):
        return None
    if info is None:
        return None
    return json.dumps(info.as_api(for_engine=True), separators=(",", ":")).encode()


def catalog_app(store: CatalogStore, token: str) -> FastAPI:
    app = FastAPI(title="odoolake catalog", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.catalog = store
    app.state.catalog_for_engine = True
    app.include_router(routes.router)
    expected = f"Bearer {token}".encode()

    class Secret:
        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send) -> None:
            if scope["type"] == "http":
                given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
                if not hmac.compare_digest(given, expected):
                    await JSONResponse({"error_code": "UNAUTHENTICATED", "message": "Invalid engine secret."},
                                       status_code=401)(scope, receive, send)
                    return
                body = table_answer(store, scope["method"], scope["path"])
                if body is not None:
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
            await self.inner(scope, receive, send)

    app.add_middleware(Secret)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    return app
