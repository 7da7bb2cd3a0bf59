"""The MLflow calls only Databricks answers (MLflow's own server has no handler for them); every other
``/api/2.0/mlflow/…`` call is answered by MLflow's handlers (``mlflow_server.py``).

- ``databricks/registered-models/get``: the workspace registry's model with its permission (the SDK's
  ``w.model_registry.get_model``).
- ``artifacts/list``: a run's artifacts, listed from the workspace's DBFS (MLflow's handler would read ``dbfs:/``
  itself, which it cannot).
- ``model-versions/list-artifacts`` and ``model-versions/get-signed-download-uri``: what MLflow's
  ``DatabricksModelsArtifactRepository`` calls for ``load_model("models:/name/version")``. The "signed" URI is the
  file's ``/dbfs/<path>`` on this workspace, with the caller's own bearer token as the header MLflow sends with it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request

from odoolake.workspace.errors import ApiError, InvalidParameterValue, ResourceDoesNotExist

router = APIRouter()
BASE = "/api/2.0/mlflow"


def _query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidParameterValue(f"Missing required parameter: {name}")
    return value


def _stores(request: Request):
    return request.app.state.ws.mlflow_server.stores()


def _mlflow_errors(call):
    from mlflow.exceptions import MlflowException

    try:
        return call()
    except MlflowException as exc:
        raise ApiError(str(exc.message).splitlines()[0], error_code=exc.error_code,
                       status=exc.get_http_status_code()) from None


@router.get(f"{BASE}/databricks/registered-models/get")
def get_model_databricks(request: Request) -> dict:
    name = _query(request, "name")
    model = _mlflow_errors(lambda: _stores(request).registry.get_registered_model(name))
    return {"registered_model_databricks": {
        "name": model.name, "id": model.name, "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp, "description": model.description or "",
        "tags": [{"key": k, "value": v} for k, v in (model.tags or {}).items()], "permission_level": "CAN_MANAGE"}}


def _version_root(request: Request) -> tuple[str, Path]:
    """The model version's artifact root as a DBFS path, and its local directory."""
    stores = _stores(request)
    name, version = _query(request, "name"), _query(request, "version")
    uri = _mlflow_errors(lambda: stores.registry.get_model_version_download_uri(name, version))
    if uri.startswith("models:/"):  # an MLflow 3 logged model: its artifacts are where the tracking store says
        uri = _mlflow_errors(lambda: stores.tracking.get_logged_model(uri[len("models:/"):].strip("/")))\
            .artifact_location
    if uri.startswith("runs:/"):
        run_id, _, sub = uri[len("runs:/"):].partition("/")
        uri = _mlflow_errors(lambda: stores.tracking.get_run(run_id)).info.artifact_uri.rstrip("/") + "/" + sub
    if not uri.startswith("dbfs:/"):
        raise ResourceDoesNotExist(f"Model {name} version {version} keeps its files at {uri}, outside this "
                                   "workspace's DBFS; log it again through the workspace (tracking URI databricks).")
    return request.app.state.ws.dbfs.local(uri)


def _relative(request: Request) -> str:
    path = request.query_params.get("path") or ""
    if path.startswith("/") or ".." in Path(path).parts:
        raise InvalidParameterValue(f"Invalid path {path!r}: expected a path relative to the model version.")
    return path


def _listing(root: Path, path: str) -> list[dict]:
    """The files and folders at ``path`` under ``root``, named relative to ``root`` (MLflow's ``FileInfo``)."""
    target = root / path if path else root
    if target.is_file():
        return [{"path": path, "is_dir": False, "file_size": target.stat().st_size}]
    if not target.is_dir():
        return []
    return [{"path": str(child.relative_to(root)), "is_dir": child.is_dir(),
             **({} if child.is_dir() else {"file_size": child.stat().st_size})} for child in sorted(target.iterdir())]


@router.get(f"{BASE}/model-versions/list-artifacts")
def list_artifacts(request: Request) -> dict:
    _, root = _version_root(request)
    return {"files": _listing(root, _relative(request))}


@router.get(f"{BASE}/artifacts/list")
def list_run_artifacts(request: Request) -> dict:
    """A run's artifacts (``w.experiments.list_artifacts``; MLflow's own handler would read ``dbfs:/`` itself)."""
    run_id = request.query_params.get("run_id") or request.query_params.get("run_uuid")
    if not run_id:
        raise InvalidParameterValue("Missing required parameter: run_id")
    uri = _mlflow_errors(lambda: _stores(request).tracking.get_run(run_id)).info.artifact_uri
    if not uri.startswith("dbfs:/"):
        raise ResourceDoesNotExist(f"Run {run_id} keeps its artifacts at {uri}, outside this workspace's DBFS.")
    _, root = request.app.state.ws.dbfs.local(uri)
    return {"root_uri": uri, "files": _listing(root, _relative(request))}


@router.get(f"{BASE}/model-versions/get-signed-download-uri")
def signed_download_uri(request: Request) -> dict:
    dbfs_root, root = _version_root(request)
    path = _relative(request)
    if not (root / path).is_file():
        raise ResourceDoesNotExist(f"Model version has no file {path!r}.")
    base = str(request.base_url).rstrip("/")
    return {"signed_uri": f"{base}/dbfs{dbfs_root.rstrip('/')}/{path}",
            "headers": [{"name": "Authorization", "value": request.headers.get("authorization", "")}]}
