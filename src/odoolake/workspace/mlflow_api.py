"""The MLflow REST API's experiment and model-registry calls (``/api/2.0/mlflow/…``) over the workspace's store.

Only what clients of a Databricks workspace use to manage experiments and registered models (``w.experiments``,
``w.model_registry``, bundle deploy): runs are logged by MLflow itself, straight to the store. ``dbfs:/``
artifact locations are mapped to the local DBFS root, since MLflow can only write ``file:`` locations here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from odoolake.config import WorkspacePaths
from odoolake.ml import tracking
from odoolake.workspace.errors import ApiError, InvalidParameterValue


@contextmanager
def _translated() -> Iterator[None]:
    """MLflow's own errors, in the Databricks shape with MLflow's code and status."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise ApiError(str(exc.message).splitlines()[0], error_code=exc.error_code,
                       status=exc.get_http_status_code()) from None


def _tags(raw: Any, where: str) -> dict[str, str]:
    if raw in (None, []):
        return {}
    if not isinstance(raw, list) or not all(isinstance(t, dict) and isinstance(t.get("key"), str) for t in raw):
        raise InvalidParameterValue(f"Invalid {where}: expected a list of {{key, value}} objects.")
    return {t["key"]: str(t.get("value", "")) for t in raw}


def _experiment(e) -> dict:
    return {"experiment_id": e.experiment_id, "name": e.name, "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage, "creation_time": e.creation_time,
            "last_update_time": e.last_update_time, "tags": [{"key": k, "value": v} for k, v in e.tags.items()]}


def _version(v) -> dict:
    return {"name": v.name, "version": str(v.version), "creation_timestamp": v.creation_timestamp,
            "last_updated_timestamp": v.last_updated_timestamp, "description": v.description or "",
            "source": v.source, "run_id": v.run_id or "", "status": v.status, "current_stage": v.current_stage,
            "tags": [{"key": k, "value": val} for k, val in (v.tags or {}).items()]}


def _model(m) -> dict:
    return {"name": m.name, "creation_timestamp": m.creation_timestamp,
            "last_updated_timestamp": m.last_updated_timestamp, "description": m.description or "",
            "tags": [{"key": k, "value": v} for k, v in (m.tags or {}).items()],
            "aliases": [{"alias": a, "version": str(v)} for a, v in (m.aliases or {}).items()],
            "latest_versions": [_version(v) for v in (m.latest_versions or [])]}


class MlflowApi:
    def __init__(self, paths: WorkspacePaths) -> None:
        self.paths = paths
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = tracking.local_client(self.paths)
        return self._client

    def _artifact_location(self, location: Any) -> str | None:
        if location in (None, ""):
            return None
        if not isinstance(location, str):
            raise InvalidParameterValue("Invalid artifact_location: expected a string.")
        if location.startswith("dbfs:/"):
            try:
                return self.paths.dbfs_to_local(location).as_uri()
            except ValueError as exc:
                raise InvalidParameterValue(f"Invalid artifact_location: {exc}") from None
        if location.startswith("file:/"):
            return location
        raise InvalidParameterValue(f"Invalid artifact_location {location!r}: the local workspace stores artifacts "
                                    "under dbfs:/ (or file:/) only.")

    # -- experiments -------------------------------------------------------------------------------------------

    def create_experiment(self, body: dict) -> str:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameterValue("Missing required field: name")
        with _translated():
            return self.client.create_experiment(name, self._artifact_location(body.get("artifact_location")),
                                                 _tags(body.get("tags"), "tags"))

    def get_experiment(self, experiment_id: str) -> dict:
        with _translated():
            return _experiment(self.client.get_experiment(experiment_id))

    def get_experiment_by_name(self, name: str) -> dict:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            raise ApiError(f"Could not find experiment with name {name!r}", error_code="RESOURCE_DOES_NOT_EXIST",
                           status=404)
        return _experiment(found)

    def update_experiment(self, experiment_id: str, new_name: str) -> None:
        with _translated():
            self.client.rename_experiment(experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        with _translated():
            self.client.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        with _translated():
            self.client.restore_experiment(experiment_id)

    def search_experiments(self, body: dict) -> dict:
        from mlflow.entities import ViewType

        view = {"ACTIVE_ONLY": ViewType.ACTIVE_ONLY, "DELETED_ONLY": ViewType.DELETED_ONLY,
                "ALL": ViewType.ALL}.get(body.get("view_type") or "ACTIVE_ONLY")
        if view is None:
            raise InvalidParameterValue(f"Invalid view_type: {body.get('view_type')!r}")
        with _translated():
            found = self.client.search_experiments(view_type=view, max_results=int(body.get("max_results") or 1000),
                                                   filter_string=body.get("filter"),
                                                   page_token=body.get("page_token"))
        out: dict[str, Any] = {"experiments": [_experiment(e) for e in found]}
        if found.token:
            out["next_page_token"] = found.token
        return out

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        with _translated():
            self.client.set_experiment_tag(experiment_id, key, value)

    # -- registered models ---------------------------------------------------------------------------------------

    def create_model(self, body: dict) -> dict:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidParameterValue("Missing required field: name")
        with _translated():
            return _model(self.client.create_registered_model(name, _tags(body.get("tags"), "tags"),
                                                              body.get("description")))

    def get_model(self, name: str) -> dict:
        with _translated():
            return _model(self.client.get_registered_model(name))

    def update_model(self, name: str, description: str | None) -> dict:
        with _translated():
            return _model(self.client.update_registered_model(name, description))

    def rename_model(self, name: str, new_name: str) -> dict:
        with _translated():
            return _model(self.client.rename_registered_model(name, new_name))

    def delete_model(self, name: str) -> None:
        with _translated():
            self.client.delete_registered_model(name)

    def search_models(self, filter_string: str | None, max_results: int, page_token: str | None) -> dict:
        with _translated():
            found = self.client.search_registered_models(filter_string, max_results, page_token=page_token)
        out: dict[str, Any] = {"registered_models": [_model(m) for m in found]}
        if found.token:
            out["next_page_token"] = found.token
        return out

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        with _translated():
            self.client.set_registered_model_tag(name, key, value)

    def get_version(self, name: str, version: str) -> dict:
        with _translated():
            return _version(self.client.get_model_version(name, version))

    def search_versions(self, filter_string: str | None, max_results: int) -> dict:
        with _translated():
            found = self.client.search_model_versions(filter_string, max_results)
        return {"model_versions": [_version(v) for v in found]}
