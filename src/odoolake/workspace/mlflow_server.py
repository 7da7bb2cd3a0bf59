"""MLflow's own REST handlers (``mlflow.server.handlers``) serving ``/api/2.0/mlflow/…`` over the workspace's store.

Clients with ``tracking_uri="databricks"`` / ``registry_uri="databricks"`` (and ``w.experiments``,
``w.model_registry``, bundle deploy) call the same paths as on Databricks; each call is answered by the handler the
``mlflow server`` command itself uses, over a SQLAlchemy store on ``$ODOOLAKE_HOME/mlflow/mlflow.db``. Nothing here
re-implements a handler. MLflow keeps its stores in module globals; they are set once to objects that route each
call to the store of the workspace whose request is being answered, so several workspaces can live in one process.

New experiments keep their artifacts under ``dbfs:/databricks/mlflow-tracking/<id>``, Databricks' own default: for
those URIs MLflow's client writes a run's and a logged model's files through the SDK's Files API
(``/api/2.0/fs/files/WorkspaceInternal/Mlflow/Artifacts/…``, ``files.dbfs.RunArtifactFiles``), which escapes every
file name. Experiments made before keep ``dbfs:/mlflow/experiments/<id>``, which MLflow's
``DbfsRestArtifactRepository`` reads and writes through the DBFS API and ``/dbfs/<path>`` URLs (a name with ``#`` or
``?`` is cut there: MLflow does not escape it). Two Databricks-only calls that ``load_model("models:/…")`` makes with
the workspace registry, ``model-versions/list-artifacts`` and ``model-versions/get-signed-download-uri``, are
answered by ``routes/mlflow.py``.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from odoolake.config import WorkspacePaths
from odoolake.workspace.errors import ApiError
from odoolake.workspace.files.workspace_tree import EXPERIMENT as EXPERIMENT_OBJECT
from odoolake.workspace.identity.roles import ADMIN as ADMIN_ROLE

if TYPE_CHECKING:
    from odoolake.workspace.files.workspace_tree import Experiment, WorkspaceTree

ARTIFACT_ROOT = "dbfs:/databricks/mlflow-tracking"  # Databricks' default (see the module docstring)
ORG_ID_HEADER = "X-Databricks-Org-Id"


@dataclass
class Stores:
    tracking: Any
    registry: Any


_CURRENT: contextvars.ContextVar[Stores | None] = contextvars.ContextVar("odoolake_mlflow_stores", default=None)
_INSTALL = threading.Lock()
_GLOBAL_URI = threading.Lock()  # held while MLflow's global tracking URI names one workspace's store
_installed = False


class _Routed:
    """Stands in for one of MLflow's global stores: every attribute comes from the current workspace's store."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        stores = _CURRENT.get()
        if stores is None:
            raise RuntimeError("MLflow store used outside a workspace request")
        return getattr(getattr(stores, self._kind), name)


def _install_routing() -> None:
    global _installed
    with _INSTALL:
        if _installed:
            return
        from mlflow.server import handlers

        handlers._tracking_store = _Routed("tracking")  # type: ignore[assignment]  # stands in for the store
        handlers._model_registry_store = _Routed("registry")  # type: ignore[assignment]
        _installed = True


def store_uri(paths: WorkspacePaths) -> str:
    paths.mlflow_db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{paths.mlflow_db}"


class WorkspaceExperiments:
    """The store's active experiments by workspace path, for the workspace tree (``files/workspace_tree.py``): read
    straight from the store's ``experiments`` table, so that listing a folder does not import MLflow."""

    def __init__(self, server: MlflowServer) -> None:
        self.server = server

    def _rows(self, where: str, args: tuple) -> list[Experiment]:
        import sqlite3

        from odoolake.workspace.files.workspace_tree import Experiment

        db = self.server.paths.mlflow_db
        if not db.exists():
            return []
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT experiment_id, name, creation_time, last_update_time FROM experiments "
                                f"WHERE lifecycle_stage = 'active' AND {where} ORDER BY name", args).fetchall()
        except sqlite3.OperationalError:  # MLflow has not made its tables yet
            return []
        finally:
            conn.close()
        return [Experiment(str(r[0]), r[1], r[2] or 0, r[3] or 0) for r in rows]

    def named(self, path: str) -> Experiment | None:
        found = self._rows("name = ?", (path,))
        return found[0] if found else None

    def under(self, folder: str) -> list[Experiment]:
        prefix = folder.rstrip("/") + "/"
        return self._rows("substr(name, 1, ?) = ?", (len(prefix), prefix))

    def delete(self, experiment_id: str) -> None:
        self.server.stores().tracking.delete_experiment(experiment_id)


class MlflowServer:
    """A WSGI app with MLflow's REST handlers, answering for one workspace's store."""

    def __init__(self, paths: WorkspacePaths, tree: WorkspaceTree | None = None) -> None:
        self.paths = paths
        self.tree = tree  # where experiments live (their folders, names and who may write there)
        self._stores: Stores | None = None
        self._app: Any = None
        self._lock = threading.Lock()

    def stores(self) -> Stores:
        with self._lock:
            if self._stores is None:
                from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
                from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

                uri = store_uri(self.paths)

                class WorkspaceRegistry(RegistryStore):
                    """MLflow's registry store, except that it finds logged models in this workspace's store: MLflow's
                    looks them up through the process's global tracking URI (a gap MLflow's source notes), which its
                    own server sets to its one store and which here may name another workspace's."""

                    def create_model_version(self, *args: Any, **kwargs: Any) -> Any:
                        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

                        with _GLOBAL_URI, _use_tracking_uri(uri):
                            return super().create_model_version(*args, **kwargs)

                self._stores = Stores(SqlAlchemyStore(uri, ARTIFACT_ROOT), WorkspaceRegistry(uri))
            return self._stores

    def _flask(self) -> Any:
        with self._lock:
            if self._app is None:
                from flask import Flask
                from mlflow.server import handlers

                _install_routing()
                app = Flask("odoolake_mlflow")
                for path, handler, methods in handlers.get_endpoints():
                    app.add_url_rule(path, handler.__name__, handler, methods=methods)
                self._app = app
            return self._app

    def handles(self, path: str, method: str) -> bool:
        """Has MLflow a handler for this call? (Others get the workspace's own 501 or 404.)"""
        from werkzeug.exceptions import HTTPException

        try:
            self._flask().url_map.bind("localhost").match(path, method)
        except HTTPException:
            return False
        return True

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        app = self._flask()
        _as_search(environ)
        _query_as_body(environ)
        _with_default_page(environ)
        _as_callers_run(environ)
        _without_workspace_prefix_in_query(environ)
        naming = _names_an_experiment(environ)
        with self.tree.naming if naming and self.tree is not None else contextlib.nullcontext():
            refused = _run_without_experiment(environ) or \
                (_experiment_refused(environ, naming, self.tree, self._name_of) if naming else None) or \
                self._change_refused(environ)
            if refused is not None:
                start_response(refused[0], [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(refused[1])))])
                return [refused[1]]
            token = _CURRENT.set(self.stores())
            answered: list = []

            def keep(status: str, headers: list, *exc_info: Any) -> None:  # sent once the body is known
                answered[:] = [status, headers]
            try:  # the whole answer is read while this workspace's stores are current
                body = list(app(environ, keep))
            finally:
                _CURRENT.reset(token)
        status, headers = answered
        if not status.startswith(("2", "3")):
            body = [_without_store_internals(b"".join(body))]
            headers = [(k, str(len(body[0])) if k.lower() == "content-length" else v) for k, v in headers]
        # as every Databricks answer: MLflow's Unity Catalog registry reads a run's workspace from it (GetRun)
        start_response(status, [*headers, (ORG_ID_HEADER, self.paths.workspace_id)])
        return body

    def _change_refused(self, environ: dict) -> tuple[str, bytes] | None:
        """A change to an experiment, its runs or its logged models by a caller who may not change the experiment's
        place in the workspace tree (another user's folder: ``WorkspaceTree.check_writable``), refused as Databricks
        refuses it; the status and JSON error body, or None to go on."""
        if self.tree is None:
            return None
        experiment_id = self._experiment_changed(environ)
        name = self._name_of(experiment_id) if experiment_id else None
        if name is None or not name.startswith("/"):  # unknown (MLflow's handler names it), or not in the tree
            return None
        state = (environ.get("asgi.scope") or {}).get("state", {})
        try:
            self.tree.check_writable(name, str(state.get("user") or ""), state.get("role") == ADMIN_ROLE)
        except ApiError as exc:
            return _error("403 Forbidden", exc.error_code, exc.message)
        return None

    def _experiment_changed(self, environ: dict) -> str | None:
        """The id of the experiment a call changes (``CHANGES``): named in the body, or the experiment of the run
        or logged model it names; None for any other call."""
        from mlflow.exceptions import MlflowException

        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        call = path.split("/mlflow/", 1)[-1]
        if method == "GET" or not call.startswith(CHANGES) or call in CHANGE_EXEMPT:
            return None
        body = _read_json(environ)
        body = body if isinstance(body, dict) else {}
        try:
            if body.get("experiment_id"):
                return str(body["experiment_id"])
            run_id = body.get("run_id") or body.get("run_uuid")
            if run_id:
                return str(self.stores().tracking.get_run(str(run_id)).info.experiment_id)
            if call.startswith("logged-models/"):
                model_id = call.split("/")[1]
                return str(self.stores().tracking.get_logged_model(model_id).experiment_id)
        except MlflowException:
            return None  # no such run or model: MLflow's handler answers that
        return None

    def _name_of(self, experiment_id: str) -> str | None:
        """An experiment's name, deleted ones included (``experiments/restore`` names the one it brings back)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.stores().tracking.get_experiment(experiment_id).name)
        except MlflowException:
            return None  # MLflow's handler names what is wrong


_STORE_INTERNALS = ("(raised as a result of Query-invoked autoflush", "(sqlite3.", "Error: (sqlite3.")
_CONSTRAINTS = {"FOREIGN KEY constraint failed": "It names an experiment or run that does not exist.",
                "UNIQUE constraint failed": "It already exists."}


def _without_store_internals(body: bytes) -> bytes:
    """An error answer without the SQL store's own text (the SQLite error and the statement with its parameters),
    which MLflow's handlers pass on from SQLAlchemy: what failed is said in a sentence instead."""
    import json

    try:
        error = json.loads(body)
    except ValueError:
        return body
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        return body
    cut = min((message.find(marker) for marker in _STORE_INTERNALS if marker in message), default=-1)
    if cut < 0:
        return body
    kept = message[:cut].strip().removesuffix("Error:").strip()
    said = next((sentence for constraint, sentence in _CONSTRAINTS.items() if constraint in message
                 and sentence.lower().removeprefix("it ").rstrip(".") not in kept.lower()), "")
    error["message"] = " ".join(part for part in (kept, said) if part)
    return json.dumps(error).encode()


def _read_json(environ: dict) -> Any:
    """The request's JSON body ({} when there is none; None when it is not JSON: MLflow's handler names that); the
    body stays readable for the handler."""
    import io
    import json

    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return None


def _write_json(environ: dict, body: dict) -> None:
    """Replace the request's body with ``body`` as JSON."""
    import io
    import json

    raw = json.dumps(body).encode()
    environ.update({"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)})


def _as_search(environ: dict) -> None:
    """The 2.0 list routes the Databricks SDK still calls (``ALIASES``) as the searches that replaced them:
    ``experiments/search`` is a POST, so the GET's query becomes its body."""
    from urllib.parse import parse_qsl

    path = environ.get("PATH_INFO", "")
    if path not in ALIASES or environ.get("REQUEST_METHOD") != "GET":
        return
    environ["PATH_INFO"] = ALIASES[path]
    if path.endswith("/experiments/list"):
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        environ.update({"REQUEST_METHOD": "POST", "QUERY_STRING": ""})
        _write_json(environ, {key: int(value) if key == "max_results" and value.isdigit() else value
                              for key, value in query.items()})


def _query_as_body(environ: dict) -> None:
    """A DELETE that names its object in the query string (as the Databricks SDK sends ``registered-models/delete``,
    ``model-versions/delete``…) gets it as the JSON body, where MLflow's handlers read the fields of non-GET calls."""
    from urllib.parse import parse_qsl

    if environ.get("REQUEST_METHOD") != "DELETE" or not environ.get("QUERY_STRING") or \
            int(environ.get("CONTENT_LENGTH") or 0):
        return
    _write_json(environ, dict(parse_qsl(environ["QUERY_STRING"])))


# Searches whose page size Databricks defaults when the request leaves it out (MLflow's handler takes 0, and refuses it).
_DEFAULT_PAGES = {"experiments/search": 1000}


def _with_default_page(environ: dict) -> None:
    """A search without ``max_results`` (the SDK's ``search_experiments()``) gets Databricks' default page size."""
    path = environ.get("PATH_INFO", "")
    default = next((size for call, size in _DEFAULT_PAGES.items() if path.endswith("/mlflow/" + call)), None)
    if default is None or environ.get("REQUEST_METHOD") != "POST":
        return
    body = _read_json(environ)
    if isinstance(body, dict) and not body.get("max_results"):
        _write_json(environ, {**body, "max_results": default})


def _as_callers_run(environ: dict) -> None:
    """``runs/create`` with ``user_id`` set to the caller the token names (``BearerAuth`` keeps it in the request's
    state), as Databricks records a run's user: the client sends its operating-system user, or any name it likes."""
    user = (environ.get("asgi.scope") or {}).get("state", {}).get("user")
    if not user or environ.get("REQUEST_METHOD") != "POST" or \
            not environ.get("PATH_INFO", "").endswith("/mlflow/runs/create"):
        return
    body = _read_json(environ)
    if isinstance(body, dict):
        _write_json(environ, {**body, "user_id": user})


# Calls that change an experiment, its runs or its logged models (POST, PATCH, DELETE), but for these reads and
# ``experiments/create`` (whose new name ``_experiment_refused`` checks).
CHANGES = ("experiments/", "runs/", "logged-models")
CHANGE_EXEMPT = frozenset({"experiments/search", "experiments/create", "runs/search", "logged-models/search"})
# The calls that name an experiment, and the field they name it in (restore names it by its id).
_EXPERIMENT_NAMING = {"experiments/create": "name", "experiments/update": "new_name",
                      "experiments/restore": "experiment_id"}
EXPERIMENT_NAME_RULE = "An experiment name must be an absolute path within the Databricks workspace, e.g. " \
                       "'/Users/<some-username>/my-experiment'."
WORKSPACE_PREFIX = "/Workspace"  # the same tree: /Workspace/Shared/x is /Shared/x
NO_EXPERIMENT = "No experiment was found. If using the Python fluent API, you can set an active experiment under " \
                "which to create runs by calling mlflow.set_experiment(\"experiment_name\") at the start of your program."


def _error(status: str, code: str, message: str) -> tuple[str, bytes]:
    import json

    return status, json.dumps({"error_code": code, "message": message}).encode()


def _names_an_experiment(environ: dict) -> str | None:
    """The field of a call that names an experiment (create, rename, restore), or None."""
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    return next((name for call, name in _EXPERIMENT_NAMING.items() if path.endswith("/mlflow/" + call)), None)


def _run_without_experiment(environ: dict) -> tuple[str, bytes] | None:
    """``runs/create`` naming no experiment: MLflow 3 sends none for a ``databricks`` URI when none was set, and
    Databricks answers that no experiment was found (there is no default experiment outside a notebook)."""
    if environ.get("REQUEST_METHOD") != "POST" or not environ.get("PATH_INFO", "").endswith("/mlflow/runs/create"):
        return None
    body = _read_json(environ)
    if isinstance(body, dict) and body.get("experiment_id") in (None, "", "None"):
        return _error("404 Not Found", "RESOURCE_DOES_NOT_EXIST", NO_EXPERIMENT)
    return None


def _experiment_refused(environ: dict, field: str, tree: WorkspaceTree | None,
                        name_of: Callable[[str], str | None]) -> tuple[str, bytes] | None:
    """Databricks keeps experiments in the workspace tree, so it refuses a name that is not an absolute workspace path
    (``mlflow.set_experiment("forecast")`` works against a plain MLflow server and fails on Databricks), one whose
    parent folder does not exist ("Parent directory /Shared/x does not exist": Databricks makes no folder for an
    experiment), one where the tree already holds something, and one where the caller may not write: refused here
    the same way, so code that runs locally runs there. A name under ``/Workspace`` is the same path without it
    (``get-by-name`` too). The status and JSON error body to answer, or None to go on."""
    import posixpath

    from odoolake.workspace.files.paths import clean_path

    body = _read_json(environ)
    if not isinstance(body, dict):
        return None
    name = name_of(str(body.get(field))) if field == "experiment_id" else body.get(field)
    if not isinstance(name, str) or not name:
        return None  # a malformed one: MLflow's handler names it
    invalid = _error("400 Bad Request", "INVALID_PARAMETER_VALUE",
                     f"Got an invalid experiment name '{name}'. {EXPERIMENT_NAME_RULE}")
    if not (name.startswith("/") and name.strip("/")) or any(ord(c) < 32 or c == "\x7f" for c in name):
        return invalid
    try:
        path = clean_path(name, strip_prefixes=(WORKSPACE_PREFIX,))
    except ApiError as exc:
        return _error("400 Bad Request", "INVALID_PARAMETER_VALUE",
                      f"Got an invalid experiment name '{name}': {exc.message.split(': ', 1)[-1]}")
    if path != name.removeprefix(WORKSPACE_PREFIX) or path == "/":  # a trailing slash, or /Workspace itself
        return invalid
    if field != "experiment_id" and path != name:
        _write_json(environ, {**body, field: path})
    if tree is None:
        return None
    parent = posixpath.dirname(path)
    if not tree.folder_exists(parent):
        return _error("404 Not Found", "RESOURCE_DOES_NOT_EXIST", f"Parent directory {parent} does not exist.")
    taken = tree.object_type_at(path)
    if taken not in (None, EXPERIMENT_OBJECT):  # another experiment's name: MLflow's handler refuses it itself
        return _error("400 Bad Request", "RESOURCE_ALREADY_EXISTS", f"{path} already exists in the workspace (a "
                      f"{str(taken).lower()}): an experiment needs a path of its own.")
    state = (environ.get("asgi.scope") or {}).get("state", {})
    try:
        tree.check_writable(path, str(state.get("user") or ""), state.get("role") == ADMIN_ROLE)
    except ApiError as exc:
        return _error("403 Forbidden", exc.error_code, exc.message)
    return None


def _without_workspace_prefix_in_query(environ: dict) -> None:
    """``experiments/get-by-name`` of ``/Workspace/x`` asks for ``/x``, the name the experiment is kept under."""
    if not environ.get("PATH_INFO", "").endswith("/mlflow/experiments/get-by-name"):
        return
    from urllib.parse import parse_qsl, urlencode

    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    fixed = [(k, v[len(WORKSPACE_PREFIX):] if k == "experiment_name" and v.startswith(WORKSPACE_PREFIX + "/") else v)
             for k, v in query]
    if fixed != query:
        environ["QUERY_STRING"] = urlencode(fixed)


# MLflow's REST paths; the Databricks-only ones below them are FastAPI routes (routes/mlflow.py).
MLFLOW_PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/preview/mlflow/", "/api/3.0/mlflow/")
DATABRICKS_ONLY = frozenset({"/api/2.0/mlflow/model-versions/list-artifacts",
                             "/api/2.0/mlflow/model-versions/get-signed-download-uri",
                             "/api/2.0/mlflow/databricks/registered-models/get",
                             "/api/2.0/mlflow/artifacts/list"})  # MLflow's handler would read dbfs:/ itself
# The 2.0 list routes the Databricks SDK still calls, answered by the searches that replaced them (same fields).
ALIASES = {"/api/2.0/mlflow/experiments/list": "/api/2.0/mlflow/experiments/search",
           "/api/2.0/mlflow/registered-models/list": "/api/2.0/mlflow/registered-models/search"}


class MlflowDispatch:
    """Pure ASGI middleware: MLflow's REST paths go to MLflow's handlers (a WSGI app), everything else on."""

    def __init__(self, app: Any, server: MlflowServer) -> None:
        from a2wsgi import WSGIMiddleware

        self.app = app
        self.server = server
        self.mlflow = WSGIMiddleware(server, workers=4)  # type: ignore[arg-type]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(MLFLOW_PREFIXES) and path not in DATABRICKS_ONLY and \
                ((path in ALIASES and scope["method"] == "GET") or self.server.handles(path, scope["method"])):
            await self.mlflow(scope, receive, send)  # requests are adjusted where MLflow reads them: MlflowServer
        else:
            await self.app(scope, receive, send)
