"""Clusters (2.0/2.1) and SQL warehouses for the one local engine."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from odoolake.workspace.compute import node_types, spark_versions
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied
from odoolake.workspace.identity.roles import ADMIN
from odoolake.workspace.routes.common import field, json_body, versioned
from odoolake.workspace.sql.result_links import RESULT_LINK_PATH

router = APIRouter()
V = ("2.0", "2.1")


def _c(request: Request):
    return request.app.state.ws.compute


def _base_url(request: Request) -> str:
    """Where this client reached the workspace (scheme, host, port): result links point there."""
    return str(request.base_url).rstrip("/")


@versioned(router, "GET", V, "/clusters/list")
def clusters_list(request: Request) -> dict:
    states = request.query_params.getlist("filter_by.cluster_states")
    cluster = _c(request).cluster()
    return {"clusters": [cluster] if not states or cluster["state"] in states else []}


@versioned(router, "GET", V, "/clusters/spark-versions")
def clusters_spark_versions(request: Request) -> dict:
    return spark_versions()


@versioned(router, "GET", V, "/clusters/list-node-types")
def clusters_node_types(request: Request) -> dict:
    return node_types()


@versioned(router, "GET", V, "/clusters/get")
def clusters_get(request: Request) -> dict:
    return _c(request).require_cluster(request.query_params.get("cluster_id"))


async def _cluster_id(request: Request) -> str:
    return field(await json_body(request), "cluster_id", str, required=True)


@versioned(router, "POST", V, "/clusters/start")
async def clusters_start(request: Request) -> dict:
    _c(request).set_cluster_state(await _cluster_id(request), "RUNNING")
    return {}


@versioned(router, "POST", V, "/clusters/restart")
async def clusters_restart(request: Request) -> dict:
    _c(request).set_cluster_state(await _cluster_id(request), "RUNNING")
    return {}


@versioned(router, "POST", V, "/clusters/delete")
async def clusters_delete(request: Request) -> dict:
    _c(request).set_cluster_state(await _cluster_id(request), "TERMINATED")
    return {}


@versioned(router, "POST", V, "/clusters/permanent-delete")
async def clusters_permanent_delete(request: Request) -> dict:
    cluster_id = await _cluster_id(request)
    _c(request).require_cluster(cluster_id)
    raise InvalidParameterValue(f"Cluster {cluster_id} is the embedded engine and cannot be permanently deleted; "
                                "use clusters/delete to stop it.")


SIZED_BY_THE_MACHINE = ("is the embedded engine, sized by the machine it runs on (ODOOLAKE_ENGINE_MEMORY_BYTES, "
                       "ODOOLAKE_ENGINE_WORKERS when the workspace starts)")


async def _refuse_sizing(request: Request, verb: str) -> dict:
    cluster_id = field(await json_body(request), "cluster_id", str, required=True)
    _c(request).require_cluster(cluster_id)
    raise InvalidParameterValue(f"Cluster {cluster_id} {SIZED_BY_THE_MACHINE}: it cannot be {verb}.")


@versioned(router, "POST", V, "/clusters/edit")
async def clusters_edit(request: Request) -> dict:
    return await _refuse_sizing(request, "edited")


@versioned(router, "POST", V, "/clusters/resize")
async def clusters_resize(request: Request) -> dict:
    return await _refuse_sizing(request, "resized")


@versioned(router, "POST", V, "/clusters/create")
async def clusters_create(request: Request) -> dict:
    await json_body(request)
    _c(request).create_cluster()
    return {}


@router.get("/api/2.0/sql/warehouses")
def warehouses_list(request: Request) -> dict:
    return {"warehouses": [_c(request).warehouse()]}


@router.get("/api/2.0/sql/warehouses/{warehouse_id}")
def warehouses_get(warehouse_id: str, request: Request) -> dict:
    return _c(request).require_warehouse(warehouse_id)


@router.post("/api/2.0/sql/warehouses/{warehouse_id}/start")
def warehouses_start(warehouse_id: str, request: Request) -> dict:
    _c(request).set_warehouse_state(warehouse_id, "RUNNING")
    return {}


@router.post("/api/2.0/sql/warehouses/{warehouse_id}/stop")
def warehouses_stop(warehouse_id: str, request: Request) -> dict:
    _c(request).set_warehouse_state(warehouse_id, "STOPPED")
    return {}


ONE_WAREHOUSE = "The local workspace has one SQL warehouse (the embedded engine)"


@router.post("/api/2.0/sql/warehouses")
async def warehouses_create(request: Request) -> dict:
    await json_body(request)
    raise InvalidParameterValue(f"{ONE_WAREHOUSE}; use warehouses/list to find its id.")


@router.post("/api/2.0/sql/warehouses/{warehouse_id}/edit")
async def warehouses_edit(warehouse_id: str, request: Request) -> dict:
    await json_body(request)
    _c(request).require_warehouse(warehouse_id)
    raise InvalidParameterValue(f"{ONE_WAREHOUSE}, sized by the machine: warehouse {warehouse_id} cannot be edited; "
                                "use warehouses/start and warehouses/stop.")


@router.delete("/api/2.0/sql/warehouses/{warehouse_id}")
def warehouses_delete(warehouse_id: str, request: Request) -> dict:
    _c(request).require_warehouse(warehouse_id)
    raise InvalidParameterValue(f"{ONE_WAREHOUSE}: warehouse {warehouse_id} cannot be deleted; "
                                "use warehouses/stop.")


@router.post("/api/2.0/sql/statements")
@router.post("/api/2.0/sql/statements/")
async def statements_execute(request: Request) -> dict:
    body = await json_body(request)
    statement = body.get("statement")
    if not isinstance(statement, str) or not statement.strip():
        raise InvalidParameterValue(f"Invalid statement: expected a non-empty SQL string, got "
                                    f"{type(statement).__name__}.")
    ws = request.app.state.ws
    # Who may write what is the engine's rule (engine.access), applied to every path in: the statement runs as the
    # caller, and a refused write comes back as a FAILED statement naming the rule, as on Databricks.
    compute = _c(request)
    if body.get("warehouse_id") == compute.warehouse()["id"] and compute.warehouse_state != "RUNNING":
        raise InvalidParameterValue(f"Warehouse {body['warehouse_id']} is stopped; start it first.",
                                    error_code="INVALID_STATE")
    import anyio

    principal = getattr(request.state, "user", None) or ws.user
    answer = await anyio.to_thread.run_sync(ws.statements.execute, body, principal, _base_url(request))
    ws.statement_owners.record(answer["statement_id"], principal)
    return answer


@router.get("/api/2.0/sql/statements/{statement_id}")
def statements_get(statement_id: str, request: Request) -> dict:
    return request.app.state.ws.statements.get(statement_id, _base_url(request))


@router.get("/api/2.0/sql/statements/{statement_id}/result/chunks/{chunk_index}")
def statements_chunk(statement_id: str, chunk_index: int, request: Request) -> dict:
    return request.app.state.ws.statements.chunk(statement_id, chunk_index, _base_url(request))


@router.get(RESULT_LINK_PATH + "/{link_id}", include_in_schema=False)
def statement_result_file(link_id: str, request: Request) -> FileResponse:
    """One chunk of an EXTERNAL_LINKS result. No bearer token: the unguessable, expiring link is the credential,
    as a presigned cloud-storage URL is on Databricks."""
    path, media_type = request.app.state.ws.statements.download(link_id)
    return FileResponse(path, media_type=media_type)


def _own_statement(statement_id: str, request: Request, verb: str) -> None:
    owner = request.app.state.ws.statement_owners.owner(statement_id)
    if owner is not None and owner != request.state.user and request.state.role != ADMIN:
        raise PermissionDenied(f"Statement {statement_id} was started by another user: only its owner or an admin "
                               f"may {verb} it.")


@router.post("/api/2.0/sql/statements/{statement_id}/cancel")
def statements_cancel(statement_id: str, request: Request) -> dict:
    _own_statement(statement_id, request, "cancel")
    request.app.state.ws.statements.cancel(statement_id)
    return {}


@router.delete("/api/2.0/sql/statements/{statement_id}")
def statements_close(statement_id: str, request: Request) -> dict:
    _own_statement(statement_id, request, "close")
    request.app.state.ws.statements.close_statement(statement_id)
    return {}
