"""The Unity Catalog REST API (``/api/2.1/unity-catalog/…``) over the catalog store.

Served twice from this one router: by the workspace (for ``w.catalogs``, ``w.schemas``, ``w.tables`` and any UC
client) and by the engine host to Sail's ``unity`` catalog provider, so the engine and the clients read one catalog.
Paths, fields and errors follow Databricks; ``POST /staging-tables`` (Unity Catalog's catalog-managed tables) is
refused because the engine creates managed tables at their managed location instead (see ``engine.rewrite``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from odoolake.workspace.catalog.store import (
    INFORMATION_SCHEMA,
    VIEW,
    CatalogError,
    CatalogStore,
    FullName,
    identifier,
)
from odoolake.workspace.engine.access import lake_roots, outside_lake
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied
from odoolake.workspace.routes.common import field, json_body, query_bool, query_int
from odoolake.workspace.sql.metadata import like_pattern

PREFIX = "/api/2.1/unity-catalog"
MAX_PAGE = 1000
MAX_SUMMARIES_PAGE = 10_000  # table-summaries' page, as Databricks documents it

router = APIRouter(prefix=PREFIX)


def _store(request: Request) -> CatalogStore:
    return request.app.state.catalog


def _for_engine(request: Request) -> bool:
    return bool(getattr(request.app.state, "catalog_for_engine", False))


def listing_page(items: list[dict], request: Request, key: str, page_size: int = MAX_PAGE,
          all_unless_asked: bool = True) -> dict[str, Any]:
    """One page of a listing, by Databricks' rule: without ``max_results`` every item (Sail's catalog provider
    reads only the first page), or a page of ``page_size`` where Databricks pages then too (``table-summaries``); with 0
    a page of ``page_size``; else at most that many, and ``page_size`` at most."""
    asked = query_int(request, "max_results")
    if asked is not None and asked < 0:
        raise InvalidParameterValue(f"Invalid max_results {asked}: expected 0 or a positive number.")
    size = len(items) if asked is None and all_unless_asked else min(asked or page_size, page_size)
    token = request.query_params.get("page_token") or "0"
    if not token.isdigit():
        raise InvalidParameterValue(f"Invalid page_token {token!r}.")
    start = int(token)
    page: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        page["next_page_token"] = str(start + size)
    return page


# -- catalogs ----------------------------------------------------------------------------------------------------

@router.get("/catalogs")
def list_catalogs(request: Request) -> dict:
    return listing_page(_store(request).catalogs(), request, "catalogs")


@router.get("/catalogs/{name}")
def get_catalog(name: str, request: Request) -> dict:
    return _store(request).catalog(name)


@router.post("/catalogs")
async def create_catalog(request: Request) -> dict:
    body = await json_body(request)
    raise CatalogError(f"Cannot create catalog {body.get('name')!r}: the local workspace has one catalog, 'main' "
                       "(also reachable as spark_catalog and hive_metastore). Create a schema in it instead.",
                       error_code="INVALID_PARAMETER_VALUE", status=400)


# -- schemas -----------------------------------------------------------------------------------------------------

@router.get("/schemas")
def list_schemas(request: Request) -> dict:
    catalog = request.query_params.get("catalog_name")
    if not catalog:
        raise InvalidParameterValue("Missing required parameter: catalog_name")
    return listing_page(_store(request).schemas(catalog), request, "schemas")


@router.get("/schemas/{full_name}")
def get_schema(full_name: str, request: Request) -> dict:
    catalog, _, name = full_name.partition(".")
    if not name:
        raise InvalidParameterValue(f"Invalid full_name {full_name!r}: expected catalog.schema.")
    return _store(request).schema(catalog, name)


@router.post("/schemas")
async def create_schema(request: Request) -> dict:
    body = await json_body(request)
    return _store(request).create_schema(
        field(body, "catalog_name", str, required=True), field(body, "name", str, required=True),
        comment=field(body, "comment", str), properties=field(body, "properties", dict),
        owner=_principal(request))


@router.delete("/schemas/{full_name}")
def delete_schema(full_name: str, request: Request) -> dict:
    catalog, _, name = full_name.partition(".")
    if not name:
        raise InvalidParameterValue(f"Invalid full_name {full_name!r}: expected catalog.schema.")
    _store(request).delete_schema(catalog, name, force=query_bool(request, "force"))
    return {}


# -- tables ------------------------------------------------------------------------------------------------------

@router.get("/tables")
def list_tables(request: Request) -> dict:
    catalog = request.query_params.get("catalog_name")
    schema = request.query_params.get("schema_name")
    if not catalog or not schema:
        raise InvalidParameterValue("Missing required parameters: catalog_name and schema_name")
    omit = query_bool(request, "omit_columns")
    store = _store(request)
    tables = [t.as_api(with_columns=not omit, for_engine=_for_engine(request)) for t in store.tables(catalog, schema)]
    if not _for_engine(request):  # Sail's provider reads no view: the engine's proxy answers for them
        tables = sorted(tables + [v.as_api(with_columns=not omit) for v in store.views(catalog, schema)],
                        key=lambda t: t["name"])
    return listing_page(tables, request, "tables")


@router.get("/table-summaries")
def table_summaries(request: Request) -> dict:
    catalog = request.query_params.get("catalog_name")
    if not catalog:
        raise InvalidParameterValue("Missing required parameter: catalog_name")
    # SQL LIKE patterns (``%``, ``_``), as Databricks reads them; unset or empty: everything
    schemas = like_pattern(request.query_params.get("schema_name_pattern"))
    tables = like_pattern(request.query_params.get("table_name_pattern"))
    store = _store(request)
    listed = store.tables(catalog)
    if schemas is not None and schemas.match(INFORMATION_SCHEMA):  # named: its views, as a schema of their own
        listed += store.tables(catalog, INFORMATION_SCHEMA)
    kinds = [(t.name, t.kind) for t in listed] + [(v.name, VIEW) for v in store.views(catalog)]
    summaries = [{"full_name": str(name), "table_type": kind} for name, kind in sorted(kinds, key=lambda k: str(k[0]))
                 if (schemas is None or schemas.match(name.schema)) and (tables is None or tables.match(name.table))]
    return listing_page(summaries, request, "tables", page_size=MAX_SUMMARIES_PAGE, all_unless_asked=False)


@router.get("/tables/{full_name}/exists")
def table_exists(full_name: str, request: Request) -> dict:
    name = FullName.parse(full_name)
    return {"table_exists": _store(request).find(name) is not None or _store(request).find_view(name) is not None}


@router.get("/tables/{full_name}")
def get_table(full_name: str, request: Request) -> dict:
    name = FullName.parse(full_name)
    view = None if _for_engine(request) else _store(request).find_view(name)
    if view is not None:
        return view.as_api()
    return _store(request).table(name).as_api(for_engine=_for_engine(request))


@router.post("/tables")
async def create_table(request: Request) -> dict:
    body = await json_body(request)
    name = FullName(identifier(field(body, "catalog_name", str, required=True), "catalog_name"),
                    identifier(field(body, "schema_name", str, required=True), "schema_name"),
                    identifier(field(body, "name", str, required=True), "name"))
    table_type = field(body, "table_type", str, default="EXTERNAL")
    if table_type not in ("MANAGED", "EXTERNAL"):
        raise InvalidParameterValue(f"Invalid table_type {table_type!r}: expected MANAGED or EXTERNAL "
                                    "(views are not supported locally).")
    location = field(body, "storage_location", str)
    if table_type == "EXTERNAL" and not location:
        raise InvalidParameterValue("Missing required field: storage_location (an EXTERNAL table needs one).")
    if location:
        _check_location(request, location)
    info = _store(request).create_table(
        name, location, field(body, "data_source_format", str, default="DELTA"),
        columns=field(body, "columns", list), comment=field(body, "comment", str),
        properties=field(body, "properties", dict), owner=_principal(request))
    return info.as_api(for_engine=_for_engine(request))


@router.delete("/tables/{full_name}")
def delete_table(full_name: str, request: Request) -> dict:
    name = FullName.parse(full_name)
    if not _for_engine(request) and _store(request).find_view(name) is not None:
        _store(request).delete_view(name)  # as Databricks' tables API deletes a view
    else:
        _store(request).delete_table(name)
    return {}


@router.post("/staging-tables")
async def create_staging_table(request: Request) -> dict:
    body = await json_body(request)
    raise CatalogError(
        f"Catalog-managed staging tables are not supported locally (table {body.get('name')!r}). Managed tables are "
        "created at their managed location under the workspace warehouse; create the table with CREATE TABLE or "
        "saveAsTable through the workspace's Spark Connect endpoint.",
        error_code="NOT_IMPLEMENTED", status=501)


def _check_location(request: Request, location: str) -> None:
    """``LAKE_ROOTS`` for a table's files: a table over ``/etc`` would let anyone who may read tables read it. The
    engine's own copy of this API (Sail's provider, no principal) is reached only after the engine checked the path."""
    if _for_engine(request):
        return
    state = request.scope.get("state") or {}
    store = _store(request)
    problem = outside_lake(lake_roots(store.paths), state.get("user", "anonymous"), state.get("role", ""),
                           str(store.local_location(location)))
    if problem is not None:
        raise PermissionDenied(f"{problem} (storage_location of a table)")


def _principal(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    return state.get("user")
