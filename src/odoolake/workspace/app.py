"""The local workspace server: the Databricks REST API on FastAPI, backed by SQLite and the embedded engine.

``create_app(settings)`` wires the services (one ``Workspace``), the routers (explicit list), bearer-token
authentication for everything except ``/.well-known/databricks-config``, Databricks-shaped errors, and a
lifespan that starts the engine and the job runner and stops them.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from odoolake.config import DEFAULT_PORT, WorkspacePaths, local_user
from odoolake.workspace.catalog import routes as catalog_routes
from odoolake.workspace.catalog.models import ModelVersionFiles, RegisteredModels
from odoolake.workspace.catalog.store import CATALOG, CatalogStore
from odoolake.workspace.compute import LOCAL_CLUSTER_ID, LocalCompute
from odoolake.workspace.db import Database
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.errors import ApiError, EndpointNotFound, NotImplementedLocally
from odoolake.workspace.files.dbfs import Dbfs, RunArtifactFiles, Volumes
from odoolake.workspace.files.workspace_tree import SHARED, USERS, WorkspaceTree
from odoolake.workspace.frontdoor.tls import TlsFiles, ensure_certificates
from odoolake.workspace.identity.oauth import OAuthService
from odoolake.workspace.identity.roles import ADMIN, Caller, Roles
from odoolake.workspace.identity.tokens import TokenService
from odoolake.workspace.jobs.connections import TaskConnections
from odoolake.workspace.jobs.runner import JobRunner, TaskFailure
from odoolake.workspace.jobs.scheduler import Scheduler
from odoolake.workspace.jobs.service import JobsService
from odoolake.workspace.jobs.store import JobsStore
from odoolake.workspace.mlflow_server import ARTIFACT_ROOT, MlflowDispatch, MlflowServer, WorkspaceExperiments
from odoolake.workspace.notifications.delivery import Notifier
from odoolake.workspace.notifications.destinations import NotificationDestinations
from odoolake.workspace.pipelines import PipelinesService, destination
from odoolake.workspace.routes import (
    compute,
    files,
    identity,
    jobs,
    mlflow,
    mlflow_pages,
    notification_destinations,
    permissions,
    pipelines,
    run_page,
    secrets,
    serving,
    sql_protocol,
    uc_models,
)
from odoolake.workspace.secrets.grants import TaskGrants
from odoolake.workspace.secrets.store import SecretStore
from odoolake.workspace.serving.endpoints import ServingEndpoints
from odoolake.workspace.serving.models import ModelStore
from odoolake.workspace.sql.operations import SqlOperations
from odoolake.workspace.sql.owners import StatementOwners
from odoolake.workspace.sql.result_links import RESULT_LINK_PATH
from odoolake.workspace.sql.sessions import SqlSessions
from odoolake.workspace.sql.statements import StatementService
from odoolake.workspace.sql.thrift_service import ThriftService

_MLFLOW_ROUTE = re.compile(r"^/api/\d\.\d/(preview/)?mlflow/")  # MLflow's REST routes, every API version
LOG = logging.getLogger(__name__)
# Routes are matched in order, one after another: what SQL clients call for every query (the statement API, the
# SQL connector's Thrift) comes first (routing took 0.3 ms of each statement behind the 70 routes before it).
ROUTERS = (compute.router, sql_protocol.router, catalog_routes.router, serving.invocation_router, identity.public_router,
           identity.router, jobs.router, files.router, pipelines.router, serving.router, uc_models.router, mlflow.router,
           secrets.router, secrets.task_router, permissions.router, run_page.router, mlflow_pages.router,
           notification_destinations.router)


@dataclass
class WorkspaceSettings:
    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    spark_remote: str | None = None  # use a Spark Connect server elsewhere instead of the embedded one
    runner_workers: int = 2
    task_memory_mb: int | None = None  # per task process; default ODOOLAKE_TASK_MEMORY_MB or a quarter of RAM
    production: bool = False  # deploys only from a service principal (see identity/roles.py)
    scheduler: bool = True  # fire job schedules; tests drive Scheduler.tick with their own clock instead

    plain_http: bool | None = None  # also serve REST over plain HTTP on the port (default: only on loopback)

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def spark_url(self) -> str:
        """The Spark Connect URL of the front door (TLS; the token comes from the client's credentials)."""
        return f"sc://{self.host}:{self.port}/;use_ssl=true"


class Workspace:
    """Every service of one local workspace, created once per server."""

    def __init__(self, settings: WorkspaceSettings) -> None:
        self.settings = settings
        self.paths = WorkspacePaths.from_env(settings.home).ensure()
        self.db = Database(self.paths.home / "workspace.db")
        self.workspace_id = self.paths.workspace_id
        self.user = local_user()
        self.tokens = TokenService(self.db)
        self.roles = Roles(self.db, self.user, settings.production)
        self.oauth = OAuthService(self.db, self.roles, self.tokens)
        self.secrets = SecretStore(self.db, self.paths.home)
        self.task_grants = TaskGrants()
        self.tree = WorkspaceTree(self.db, self.paths.home / "workspace")
        self.dbfs = Dbfs(self.paths.dbfs_root)
        self.volumes = Volumes(self.paths.volumes)
        self.run_artifacts = RunArtifactFiles(self.paths.dbfs_to_local(ARTIFACT_ROOT))
        self.compute = LocalCompute(self.user, settings.host, settings.port)
        self.catalog = CatalogStore(self.paths, self.user)
        self.registered_models = RegisteredModels(self.catalog, self.paths.home / "models")
        self.model_files = ModelVersionFiles(self.registered_models)
        self.tls = self.renew_certificates()
        self.engine = LocalEngine(self.paths, remote=settings.spark_remote)
        connections = TaskConnections(self.tokens, self.paths.home, settings.spark_url, self.tls.ca_bundle, self.user,
                                      remote=settings.spark_remote)
        self.runner = JobRunner(JobsStore(self.db), self.tree, self.paths, connections,
                                settings.runner_workers, settings.task_memory_mb, self.task_grants, settings.base_url)
        self.jobs = JobsService(JobsStore(self.db), self.runner, settings.base_url, self.user, LOCAL_CLUSTER_ID)
        self.notification_destinations = NotificationDestinations(self.db, self.secrets.sealing_key)
        self.notifier = Notifier(self.notification_destinations, self.paths.home)
        self.runner.notifier = self.notifier
        self.jobs.destination_exists = self.notification_destinations.exists
        self.notification_destinations.used_by = self.jobs.naming_destination
        self.jobs.known_principal = self.roles.exists
        self.secrets.known_principal = self.roles.exists
        self.jobs.is_service_principal = self.roles.is_service_principal
        self.runner.jobs = self.jobs
        self.runner.caller_of = self.caller_of
        self.sql_sessions = SqlSessions(self.engine)
        self.statements = StatementService(self.engine, self.catalog, sql_sessions=self.sql_sessions,
                                           results_dir=self.paths.home / "sql-results", public_url=settings.base_url)
        self.sql_operations = SqlOperations()
        self.sql_thrift = ThriftService(self.sql_sessions, self.sql_operations, self.catalog)
        self.statement_owners = StatementOwners()
        self.scheduler = Scheduler(self.db, self.jobs, locate=self.paths.lake_to_local)
        self.pipelines = PipelinesService(self.db, self._execute_pipeline, self.user, self.roles.exists,
                                          self.roles.is_service_principal, cancel=self.runner.cancel,
                                          require_catalog=self.catalog.catalog,
                                          drop_tables=self._drop_pipeline_tables, notify=self.notifier.send)
        self.runner.pipelines = self.pipelines
        self.models = ModelStore(self.paths, registered=self.registered_models)
        self.mlflow_server = MlflowServer(self.paths, tree=self.tree)
        self.tree.experiments = WorkspaceExperiments(self.mlflow_server)
        self.tree.users = self.users
        for folder in (SHARED, f"{USERS}/{self.user}"):  # every Databricks workspace has them
            self.tree.mkdirs(folder)
        self.serving = ServingEndpoints(self.db, self.models, self.user)

    def caller_of(self, principal: str | None) -> Caller:
        """A principal as the permission checks see it (None: the workspace's owner)."""
        name = principal or self.user
        return Caller(name, self.roles.role_of(name) == ADMIN)

    def users(self) -> list[str]:
        """This workspace's users (the owner, those with a role, those holding a token): each has a ``/Users/<name>``
        folder, made the first time it is asked for."""
        named = {self.user, *(name for name, _ in self.roles.users()[1:]),
                 *(t.created_by_username for t in self.tokens.list())}
        return sorted(name for name in named if name and "/" not in name)

    def renew_certificates(self) -> TlsFiles:
        """The workspace's CA and server certificate (for loopback and the host it serves), made or renewed if
        due: at start, then by the server while it runs."""
        return ensure_certificates(self.paths.home, (self.settings.host,))

    def _drop_pipeline_tables(self, destination: str, pipeline_id: str) -> list[str]:
        """Drop the tables ``pipeline_id`` made in ``destination`` (marked with its id: see odoolake.dlt)."""
        from odoolake.dlt import PIPELINE_ID_PROPERTY

        catalog, _, schema = destination.rpartition(".")
        try:
            tables = self.catalog.tables(catalog or CATALOG, schema)
        except ApiError:  # the schema (or catalog) is gone: nothing of the pipeline is left there
            return []
        owned = [t for t in tables if t.properties.get(PIPELINE_ID_PROPERTY) == pipeline_id]
        for table in owned:
            self.catalog.delete_table(table.name)
        return [str(t.name) for t in owned]

    def _execute_pipeline(self, spec: dict, update_id: str, options: dict,
                          principal: str) -> tuple[bool, str | None]:
        """One pipeline update in a task process as ``principal``: the pipeline's notebooks under odoolake.dlt."""
        try:
            for lib in spec["libraries"]:
                if self.tree.get_status(lib["notebook"]["path"]).get("language") == "SQL":
                    return False, (f"{lib['notebook']['path']} is a SQL notebook: local pipelines run Python "
                                   f"datasets only (@dlt.table, @dlt.view); SQL pipeline sources (CREATE OR REFRESH "
                                   f"MATERIALIZED VIEW …) are not supported locally.")
            notebooks = [str(self.tree.local_file(lib["notebook"]["path"])) for lib in spec["libraries"]]
            task = {"notebooks": notebooks, "target": destination(spec), "pipeline_id": spec["id"],
                    "update_id": update_id, "configuration": spec.get("configuration") or {}, **options}
            outcome, _ = self.runner.spawn("pipeline", task, self.paths.home / "pipelines" / spec["id"] / update_id,
                                           "pipeline", {}, None, update_id, principal)
        except (TaskFailure, ApiError) as exc:
            return False, exc.message
        return not outcome.get("error"), outcome.get("error")

    def start(self) -> None:
        production_flag = self.paths.home / "production"  # the engine applies the production rule too
        if self.settings.production:
            production_flag.write_text("deploys and writes only from service principals\n")
        else:
            production_flag.unlink(missing_ok=True)
        if self.engine.remote is None:
            self.engine.lease()  # starts the engine host, held until stop()
        interrupted = self.runner.recover()
        self.pipelines.recover()
        if self.settings.scheduler:
            self.scheduler.start()
        LOG.info("workspace %s ready at %s", self.workspace_id, self.settings.base_url)
        if interrupted:
            LOG.warning("%d run(s) were active when the workspace last stopped; marked INTERNAL_ERROR", interrupted)

    def stop(self) -> None:
        self.scheduler.stop()
        self.models.close()
        self.runner.stop()
        self.notifier.close()
        self.statements.close()
        self.sql_operations.close_all()
        self.sql_sessions.close_all()
        self.engine.close()


PROTECTED_PREFIXES = ("/api/", "/serving-endpoints", "/model/", "/sql/", "/dbfs/")
REASON_HEADER = "x-databricks-reason-phrase"  # why a call was refused, for clients that read no body (Thrift)


class BearerAuth:
    """Pure ASGI middleware: bearer tokens on the API, serving and classic model routes; one access-log line each.

    (Starlette's ``@app.middleware("http")`` wraps every response in a stream and costs about a millisecond a
    request, which is half the serving latency budget.)
    """

    def __init__(self, app, tokens: TokenService, roles: Roles) -> None:
        self.app = app
        self.tokens = tokens
        self.roles = roles

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        status = {"code": 0}

        async def send_logged(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if path.startswith(PROTECTED_PREFIXES):
                auth = ""
                for key, value in scope["headers"]:
                    if key == b"authorization":
                        auth = value.decode("latin-1")
                        break
                token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
                try:
                    user = self.tokens.authenticate(token)
                    role = self.roles.role_of(user)
                    self.roles.authorize(user, role, scope["method"], path)
                except ApiError as exc:  # 401 for the token, 403 for the role; the SQL connector shows the header
                    refused = _error(exc)
                    refused.headers[REASON_HEADER] = exc.message
                    await refused(scope, receive, send_logged)
                    return
                state = scope.setdefault("state", {})
                state["user"], state["role"] = user, role
            await self.app(scope, receive, send_logged)
        finally:
            if LOG.isEnabledFor(logging.INFO):
                shown = f"{RESULT_LINK_PATH}/…" if path.startswith(RESULT_LINK_PATH) else path  # links are secrets
                LOG.info("%s %s %s %.1fms", scope["method"], shown, status["code"], (time.perf_counter() - started) * 1000)


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def create_app(settings: WorkspaceSettings, workspace: Workspace | None = None) -> FastAPI:
    ws = workspace or Workspace(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        ws.start()
        yield
        ws.stop()

    app = FastAPI(title="odoolake local workspace", version="0.1.0", lifespan=lifespan,
                  docs_url="/_odoolake/docs", openapi_url="/_odoolake/openapi.json", redoc_url=None)
    app.state.ws = ws
    app.state.catalog = ws.catalog
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/_odoolake/health", include_in_schema=False)
    def health() -> dict:
        """Liveness only: where the engine listens is never told here (it is reached through this port)."""
        return {"status": "ok", "workspace_id": ws.workspace_id}

    app.add_middleware(MlflowDispatch, server=ws.mlflow_server)  # inside BearerAuth: MLflow's calls are authenticated
    app.add_middleware(BearerAuth, tokens=ws.tokens, roles=ws.roles)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return JSONResponse({"error_code": "INVALID_PARAMETER_VALUE",
                             "message": f"Invalid {where or 'request'}: {first.get('msg', 'invalid value')}"},
                            status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and _MLFLOW_ROUTE.match(request.url.path):
            # Databricks answers a route it does not serve 404 ENDPOINT_NOT_FOUND, and MLflow's client then falls
            # back to an older route (search_traces: v4, then v3); a 501 stopped it there.
            return _error(EndpointNotFound(f"{request.method} {request.url.path} is not served by the local "
                                           "workspace."))
        if exc.status_code == 404 and request.url.path.startswith("/api/"):
            return _error(NotImplementedLocally(f"{request.method} {request.url.path} is not implemented by the local "
                                                "workspace."))
        if exc.status_code == 404:
            return _error(EndpointNotFound(f"No endpoint {request.method} {request.url.path}."))
        if exc.status_code == 405:
            return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND",
                                 "message": f"{request.method} is not allowed on {request.url.path}."}, status_code=405)
        return JSONResponse({"error_code": "BAD_REQUEST", "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"},
                            status_code=500)

    return app
