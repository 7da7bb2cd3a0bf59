"""The SQL warehouse's Thrift-over-HTTP endpoint, where the Databricks SQL connector (and dbt, SQLAlchemy, BI tools
on top of it) connect: ``POST /sql/1.0/warehouses/<id>``, the path ``w.warehouses.get(id).odbc_params`` gives."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from thrift.Thrift import TException

from odoolake.workspace.routes.common import field, json_body
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID, check_warehouse

router = APIRouter()
THRIFT = "application/x-thrift"
ERROR_HEADER = "x-thriftserver-error-message"  # the connector shows this header's text when a call is refused


def _refused(status: int, message: str) -> Response:
    # HTTP headers carry latin-1 only: a warehouse id of any other characters is escaped there (the body keeps it).
    header = message.encode("ascii", "backslashreplace").decode("ascii")
    return Response(content=message.encode(), status_code=status, media_type="text/plain; charset=utf-8",
                    headers={ERROR_HEADER: header})


@router.post("/sql/1.0/warehouses/{warehouse_id}")
async def warehouse_thrift(warehouse_id: str, request: Request) -> Response:
    ws = request.app.state.ws
    if warehouse_id != LOCAL_WAREHOUSE_ID:
        return _refused(404, f"Warehouse {warehouse_id} does not exist: the local workspace has one SQL warehouse, "
                             f"http_path /sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}.")
    if ws.compute.warehouse_state != "RUNNING":
        return _refused(400, f"Warehouse {warehouse_id} is stopped; start it first "
                             f"(POST /api/2.0/sql/warehouses/{warehouse_id}/start).")
    body = await request.body()
    principal = request.state.user
    try:
        answer = await anyio.to_thread.run_sync(ws.sql_thrift.process, body, principal)
    except (TException, EOFError, ValueError) as exc:
        return _refused(400, f"The request is not a TCLIService call in Thrift's binary protocol ({type(exc).__name__}"
                             f"{': ' + str(exc) if str(exc) else ''}); connect with the Databricks SQL connector.")
    return Response(content=answer, media_type=THRIFT)


@router.get("/api/2.0/connector-service/feature-flags/{client}/{version}")
def connector_feature_flags(client: str, version: str) -> dict:
    """The SQL connector asks which server-side features to turn on (its telemetry, for one): none here."""
    return {"flags": [], "ttl_seconds": 900}


# -- the Statement Execution API's sessions (the SQL connector's ``use_sea=True``) ----------------------------------

@router.post("/api/2.0/sql/sessions")
@router.post("/api/2.0/sql/sessions/")
async def sessions_create(request: Request) -> dict:
    """A session of its own for the caller: statements sent with its ``session_id`` share its SET, USE and temp
    views, as a Databricks SQL warehouse's sessions do (the same sessions the Thrift endpoint opens)."""
    body = await json_body(request)
    check_warehouse(body.get("warehouse_id"))
    confs = field(body, "session_confs", dict) or {}
    catalog, schema = field(body, "catalog", str), field(body, "schema", str)
    ws = request.app.state.ws
    session = await anyio.to_thread.run_sync(ws.sql_sessions.open, request.state.user, catalog, schema, confs)
    return {"session_id": session.session_id}


@router.delete("/api/2.0/sql/sessions/{session_id}")
def sessions_delete(session_id: str, request: Request) -> dict:
    request.app.state.ws.sql_sessions.close(session_id, request.state.user)
    return {}
