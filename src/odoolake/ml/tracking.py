"""Where MLflow keeps runs and models: the workspace's own SQLite store locally, the workspace on Databricks.

MLflow 3 refuses the file store and, with a SQLite backend and no server, writes artifacts to ``./mlruns``
under whatever directory the process runs in. Both URIs and the experiment's artifact location are therefore
always set explicitly, from the workspace root.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from odoolake.config import WorkspacePaths

EXPERIMENT = "/Shared/Experiments/BIR_Tax_Forecasting"
EXPERIMENT_ARTIFACTS = "dbfs:/mlflow/bir_forecasting"
MODEL_NAME = "bir_tax_forecaster"
ALIAS = "champion"

# The user's choice, read before anything here runs: mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI itself,
# so reading the environment later would see our own last value instead.
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")
_USER_REGISTRY_URI = os.environ.get("MLFLOW_REGISTRY_URI")


@dataclass(frozen=True)
class TrackingConfig:
    tracking_uri: str
    registry_uri: str
    artifact_location: str


def store_file(paths: WorkspacePaths) -> Path:
    return paths.mlflow_db


def local_config(paths: WorkspacePaths) -> TrackingConfig:
    db = store_file(paths)
    db.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{db}"
    _dbfs_on_local_disk(paths)
    return TrackingConfig(uri, uri, paths.dbfs_to_local(EXPERIMENT_ARTIFACTS).as_uri())


def _dbfs_on_local_disk(paths: WorkspacePaths) -> None:
    """With the local store, ``dbfs:/`` artifact locations (what experiments created through the workspace's API
    keep, as on Databricks) are files under the local DBFS root: MLflow's own DBFS repository would call a
    Databricks host. Registered through MLflow's artifact-repository registry, for this process only."""
    from mlflow.store.artifact.artifact_repository_registry import _artifact_repository_registry
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    def local_dbfs(artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None):
        return LocalArtifactRepository(paths.dbfs_to_local(artifact_uri.split("?")[0]).as_uri(),
                                       tracking_uri=tracking_uri, registry_uri=registry_uri)

    _artifact_repository_registry.register("dbfs", local_dbfs)


def resolve(paths: WorkspacePaths | None = None) -> TrackingConfig:
    """``MLFLOW_TRACKING_URI`` wins; on a Databricks cluster the workspace; otherwise the local store."""
    if _USER_TRACKING_URI:
        return TrackingConfig(_USER_TRACKING_URI, _USER_REGISTRY_URI or _USER_TRACKING_URI, EXPERIMENT_ARTIFACTS)
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return TrackingConfig("databricks", "databricks", EXPERIMENT_ARTIFACTS)
    return local_config(paths or WorkspacePaths.from_env())


def configure(paths: WorkspacePaths | None = None, experiment: str = EXPERIMENT) -> TrackingConfig:
    """Point the ``mlflow`` module at the store and select (creating if needed) the experiment."""
    import mlflow

    config = resolve(paths)
    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.registry_uri)
    _restore_user_environment()
    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(experiment) is None:
        if config.tracking_uri.startswith("databricks"):  # Databricks makes no folder for an experiment
            _workspace_folder(config.tracking_uri, posixpath.dirname(experiment))
        client.create_experiment(experiment, artifact_location=config.artifact_location)
    mlflow.set_experiment(experiment)
    return config


def _workspace_folder(tracking_uri: str, folder: str) -> None:
    """Make the workspace folder an experiment is created in (``databricks://<profile>`` names the profile)."""
    from databricks.sdk import WorkspaceClient

    profile = tracking_uri.partition("://")[2] or None
    WorkspaceClient(profile=profile).workspace.mkdirs(folder)


def _restore_user_environment() -> None:
    """Put MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI back as the user set them.

    ``mlflow.set_*_uri`` also exports them, and every process started afterwards (a job's task process) would
    take our last workspace's store for the user's explicit choice and log into it. (A test session that trained
    in one workspace then ran another workspace's month-end job did exactly that.) The module-level URIs stay set.
    """
    for name, value in (("MLFLOW_TRACKING_URI", _USER_TRACKING_URI), ("MLFLOW_REGISTRY_URI", _USER_REGISTRY_URI)):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def client(paths: WorkspacePaths | None = None):
    """An ``MlflowClient`` bound to the store without touching the module-level URIs."""
    return _client_for(resolve(paths))


def local_client(paths: WorkspacePaths):
    """An ``MlflowClient`` on the workspace's own store, whatever the environment says (the workspace server's)."""
    return _client_for(local_config(paths))


def _client_for(config: TrackingConfig):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.registry_uri)
