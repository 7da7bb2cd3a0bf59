"""The SQL warehouse's Thrift-over-HTTP endpoint, where the Databricks SQL connector (and dbt, SQLAlchemy, BI tools
on top of it) connect: ``POST /sql/1.0/warehouses/<id>``, the path ``w.warehouses.get(id).odbc_params`` gives."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from thrift.Thrift import TException

from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

router = APIRouter()
THRIFT = "application/x-thrift"
ERROR_HEADER = "x-thriftserver-error-message"  # the connector shows this header's text when a call is refused


def _refused(status: int, message: str) -> Response:
    return Response(content=message.encode(), status_code=status, media_type="text/plain",
                    headers={ERROR_HEADER: message})


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
