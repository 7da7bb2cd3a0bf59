"""The catalog on its own: the Unity Catalog API for the engine's Sail, behind a per-start secret.

It listens on the engine host's private loopback (see ``engine.isolation``); the secret guards the shared-loopback
fallback too. Errors keep the Databricks shape that Sail's ``unity`` client reads (404 → "not found", 409 → exists).
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from odoolake.workspace.catalog import routes
from odoolake.workspace.catalog.store import CatalogStore
from odoolake.workspace.errors import ApiError


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
            await self.inner(scope, receive, send)

    app.add_middleware(Secret)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    return app
