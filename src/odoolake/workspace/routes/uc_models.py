"""Registered models in Unity Catalog over REST (``catalog/models.py``).

- ``/api/2.0/mlflow/unity-catalog/…``: what MLflow's ``databricks-uc`` registry client calls (MLflow 3's default
  registry when the tracking URI is ``databricks``). GET requests carry their arguments in the query, the others in
  a JSON body, as MLflow's client sends them. The workspace answers ``is-databricks-sdk-models-artifact-repository-
  enabled`` with true, so the client moves a version's files through the Files API (``/Models/…``) rather than with
  cloud credentials, which a local workspace has none of.
- ``/api/2.1/unity-catalog/models``: the SDK's ``w.registered_models`` (create, list, get, update, delete, aliases;
  bundles' ``registered_models``) and ``w.model_versions`` (list, get, get by alias, update, delete).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from odoolake.workspace.catalog.models import ModelName, RegisteredModels
from odoolake.workspace.catalog.routes import listing_page
from odoolake.workspace.errors import InvalidParameterValue, NotImplementedLocally, PermissionDenied
from odoolake.workspace.identity.roles import ADMIN
from odoolake.workspace.routes.common import json_body

router = APIRouter()
MLFLOW = "/api/2.0/mlflow/unity-catalog"
UC = "/api/2.1/unity-catalog/models"


def _models(request: Request) -> RegisteredModels:
    return request.app.state.ws.registered_models


async def _args(request: Request) -> dict[str, Any]:
    """A call's arguments: the query's, then the JSON body's (MLflow sends DELETE's in a body, the SDK in the query)."""
    args: dict[str, Any] = dict(request.query_params)
    if request.method != "GET":
        args.update(await json_body(request))
    return args


def _required(args: dict, name: str) -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise InvalidParameterValue(f"Missing required parameter: {name}")
    return value


def _text(args: dict, name: str) -> str | None:
    value = args.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidParameterValue(f"Invalid {name}: expected a string, got {type(value).__name__}.")
    return value


# -- MLflow's Unity Catalog registry ----------------------------------------------------------------------------

@router.get(f"{MLFLOW}/registered-models:is-databricks-sdk-models-artifact-repository-enabled")
def sdk_files_enabled() -> dict:
    return {"is_databricks_sdk_models_artifact_repository_enabled": True}


@router.post(f"{MLFLOW}/registered-models/create")
async def create_model(request: Request) -> dict:
    args = await _args(request)
    return {"registered_model": _models(request).create_model(
        _required(args, "name"), request.state.user, _text(args, "description") or "", args.get("tags"))}


@router.get(f"{MLFLOW}/registered-models/get")
async def get_model(request: Request) -> dict:
    return {"registered_model": _models(request).get_model(_required(await _args(request), "name"))}


@router.patch(f"{MLFLOW}/registered-models/update")
async def update_model(request: Request) -> dict:
    args = await _args(request)
    return {"registered_model": _models(request).update_model(
        _required(args, "name"), _text(args, "description"), _text(args, "new_name"))}


@router.delete(f"{MLFLOW}/registered-models/delete")
async def delete_model(request: Request) -> dict:
    _models(request).delete_model(_required(await _args(request), "name"))
    return {}


@router.get(f"{MLFLOW}/registered-models/search")
async def search_models(request: Request) -> dict:
    args = await _args(request)
    models, token = _models(request).search_models(args.get("max_results"), args.get("page_token"))
    return {"registered_models": models, **({"next_page_token": token} if token else {})}


@router.post(f"{MLFLOW}/registered-models/set-tag")
async def set_model_tag(request: Request) -> dict:
    args = await _args(request)
    _models(request).set_model_tag(_required(args, "name"), _required(args, "key"), args.get("value"))
    return {}


@router.delete(f"{MLFLOW}/registered-models/delete-tag")
async def delete_model_tag(request: Request) -> dict:
    args = await _args(request)
    _models(request).delete_model_tag(_required(args, "name"), _required(args, "key"))
    return {}


@router.post(f"{MLFLOW}/registered-models/alias")
async def set_alias(request: Request) -> dict:
    args = await _args(request)
    _models(request).set_alias(_required(args, "name"), _required(args, "alias"), _required(args, "version"))
    return {}


@router.delete(f"{MLFLOW}/registered-models/alias")
async def delete_alias(request: Request) -> dict:
    args = await _args(request)
    _models(request).delete_alias(_required(args, "name"), _required(args, "alias"))
    return {}


@router.get(f"{MLFLOW}/registered-models/alias")
async def version_by_alias(request: Request) -> dict:
    args = await _args(request)
    return {"model_version": _models(request).version_by_alias(_required(args, "name"), _required(args, "alias"))}


@router.post(f"{MLFLOW}/model-versions/create")
async def create_version(request: Request) -> dict:
    args = await _args(request)
    return {"model_version": _models(request).create_version(
        _required(args, "name"), _required(args, "source"), request.state.user, run_id=_text(args, "run_id") or "",
        description=_text(args, "description") or "", tags=args.get("tags"),
        run_tracking_server_id=_text(args, "run_tracking_server_id") or "", model_id=_text(args, "model_id") or "")}


@router.post(f"{MLFLOW}/model-versions/finalize")
async def finalize_version(request: Request) -> dict:
    args = await _args(request)
    return {"model_version": _models(request).finalize_version(_required(args, "name"), _required(args, "version"))}


@router.get(f"{MLFLOW}/model-versions/get")
async def get_version(request: Request) -> dict:
    args = await _args(request)
    return {"model_version": _models(request).get_version(_required(args, "name"), _required(args, "version"))}


@router.patch(f"{MLFLOW}/model-versions/update")
async def update_version(request: Request) -> dict:
    args = await _args(request)
    return {"model_version": _models(request).update_version(
        _required(args, "name"), _required(args, "version"), _text(args, "description"))}


@router.delete(f"{MLFLOW}/model-versions/delete")
async def delete_version(request: Request) -> dict:
    args = await _args(request)
    _models(request).delete_version(_required(args, "name"), _required(args, "version"))
    return {}


@router.get(f"{MLFLOW}/model-versions/search")
async def search_versions(request: Request) -> dict:
    args = await _args(request)
    versions, token = _models(request).search_versions(args.get("filter"), args.get("max_results"),
                                                       args.get("page_token"))
    return {"model_versions": versions, **({"next_page_token": token} if token else {})}


@router.post(f"{MLFLOW}/model-versions/set-tag")
async def set_version_tag(request: Request) -> dict:
    args = await _args(request)
    _models(request).set_version_tag(_required(args, "name"), _required(args, "version"), _required(args, "key"),
                                     args.get("value"))
    return {}


@router.delete(f"{MLFLOW}/model-versions/delete-tag")
async def delete_version_tag(request: Request) -> dict:
    args = await _args(request)
    _models(request).delete_version_tag(_required(args, "name"), _required(args, "version"),
                                        _required(args, "key"))
    return {}


@router.get(f"{MLFLOW}/model-versions/get-download-uri")
async def download_uri(request: Request) -> dict:
    args = await _args(request)
    version = _models(request).get_version(_required(args, "name"), _required(args, "version"))
    return {"artifact_uri": version["storage_location"]}


@router.post(f"{MLFLOW}/model-versions/emit-lineage")
async def emit_lineage(request: Request) -> dict:
    args = await _args(request)
    info = args.get("model_version_lineage_info") or {}
    _models(request).record_lineage(_required(args, "name"), _required(args, "version"),
                                    info.get("direction") if isinstance(info, dict) else None, info)
    return {}


@router.post(f"{MLFLOW}/model-versions/generate-temporary-credentials")
def temporary_credentials() -> dict:
    raise NotImplementedLocally("A local workspace has no cloud storage credentials to lend: a model version's files "
                                "move through the Files API (/api/2.0/fs/files/Models/…), which MLflow uses when "
                                "is-databricks-sdk-models-artifact-repository-enabled answers true, as it does here.")


# -- the SDK's w.registered_models and w.model_versions ----------------------------------------------------------

def _model_info(model: dict) -> dict:
    name = ModelName.parse(model["name"])
    return {"full_name": name.full, "catalog_name": name.catalog, "schema_name": name.schema, "name": name.model,
            "owner": model["user_id"], "created_by": model["user_id"], "comment": model["description"],
            "created_at": model["creation_timestamp"], "updated_at": model["last_updated_timestamp"],
            "aliases": [{"alias_name": a["alias"], "version_num": int(a["version"])} for a in model["aliases"]]}


def _version_info(version: dict) -> dict:
    name = ModelName.parse(version["name"])
    return {"model_name": name.model, "catalog_name": name.catalog, "schema_name": name.schema,
            "version": int(version["version"]), "source": version["source"], "run_id": version.get("run_id"),
            "status": version["status"], "storage_location": version["storage_location"],
            "comment": version["description"], "created_by": version["user_id"],
            "created_at": version["creation_timestamp"], "updated_at": version["last_updated_timestamp"],
            "aliases": [{"alias_name": a["alias"], "version_num": int(version["version"])}
                        for a in version["aliases"]]}


@router.get(UC)
def list_models(request: Request) -> dict:
    catalog, schema = request.query_params.get("catalog_name"), request.query_params.get("schema_name")
    if schema and not catalog:
        raise InvalidParameterValue("schema_name needs catalog_name.")
    return listing_page([_model_info(m) for m in _models(request).models(catalog, schema)], request,
                     "registered_models")


def _owner(request: Request, args: dict, current: str | None) -> str | None:
    """The ``owner`` asked for, if any: a model's owner (or an admin) may hand it to someone else."""
    owner = _text(args, "owner")
    if owner is None or owner == (current or request.state.user):
        return None
    if request.state.role != ADMIN and request.state.user != current:
        raise PermissionDenied(f"{request.state.user} may not make {owner} the owner: only the model's owner or an "
                               "admin may.")
    return owner


@router.post(UC)
async def create_uc_model(request: Request) -> dict:
    args = await _args(request)
    if args.get("storage_location"):
        raise InvalidParameterValue("Invalid storage_location: a local workspace keeps every model's files under its "
                                    "own root (<home>/models); leave storage_location out locally.")
    full_name = ".".join(str(_required(args, key)) for key in ("catalog_name", "schema_name", "name"))
    owner = _owner(request, args, None) or request.state.user
    return _model_info(_models(request).create_model(full_name, owner, _text(args, "comment") or ""))


@router.patch(UC + "/{full_name}")
async def update_uc_model(full_name: str, request: Request) -> dict:
    args = await _args(request)
    new_name = _text(args, "new_name")
    if new_name and "." not in new_name:  # the SDK's new_name is the model's own name, in the same schema
        new_name = f"{ModelName.parse(full_name).catalog}.{ModelName.parse(full_name).schema}.{new_name}"
    models = _models(request)
    owner = _owner(request, args, models.get_model(full_name)["user_id"])
    return _model_info(models.update_model(full_name, _text(args, "comment"), new_name, owner))


@router.put(UC + "/{full_name}/aliases/{alias}")
async def set_uc_alias(full_name: str, alias: str, request: Request) -> dict:
    version = _required(await _args(request), "version_num")
    _models(request).set_alias(full_name, alias, version)
    return {"alias_name": alias.lower(), "version_num": int(version)}


@router.delete(UC + "/{full_name}/aliases/{alias}")
def delete_uc_alias(full_name: str, alias: str, request: Request) -> dict:
    _models(request).delete_alias(full_name, alias)
    return {}


@router.get(UC + "/{full_name}/aliases/{alias}")
def get_uc_version_by_alias(full_name: str, alias: str, request: Request) -> dict:
    return _version_info(_models(request).version_by_alias(full_name, alias))


@router.patch(UC + "/{full_name}/versions/{version}")
async def update_uc_version(full_name: str, version: str, request: Request) -> dict:
    args = await _args(request)
    return _version_info(_models(request).update_version(full_name, version, _text(args, "comment")))


@router.get(UC + "/{full_name}")
def get_uc_model(full_name: str, request: Request) -> dict:
    return _model_info(_models(request).get_model(full_name))


@router.delete(UC + "/{full_name}")
def delete_uc_model(full_name: str, request: Request) -> dict:
    _models(request).delete_model(full_name)
    return {}


@router.get(UC + "/{full_name}/versions")
def list_versions(full_name: str, request: Request) -> dict:
    return listing_page([_version_info(v) for v in _models(request).versions(full_name)], request, "model_versions")


@router.get(UC + "/{full_name}/versions/{version}")
def get_uc_version(full_name: str, version: str, request: Request) -> dict:
    return _version_info(_models(request).get_version(full_name, version))


@router.delete(UC + "/{full_name}/versions/{version}")
def delete_uc_version(full_name: str, version: str, request: Request) -> dict:
    _models(request).delete_version(full_name, version)
    return {}
