"""MLflow experiment and model registry routes (`/api/2.0/mlflow/…`) as `w.experiments` and `w.model_registry` call them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from odoolake.workspace.routes.common import field, json_body, query_int

router = APIRouter()
BASE = "/api/2.0/mlflow"


def _api(request: Request):
    return request.app.state.ws.mlflow


def _query(request: Request, name: str) -> str:
    from odoolake.workspace.errors import InvalidParameterValue

    value = request.query_params.get(name)
    if not value:
        raise InvalidParameterValue(f"Missing required parameter: {name}")
    return value


@router.post(f"{BASE}/experiments/create")
async def create_experiment(request: Request) -> dict:
    return {"experiment_id": _api(request).create_experiment(await json_body(request))}


@router.get(f"{BASE}/experiments/get")
def get_experiment(request: Request) -> dict:
    return {"experiment": _api(request).get_experiment(_query(request, "experiment_id"))}


@router.get(f"{BASE}/experiments/get-by-name")
def get_experiment_by_name(request: Request) -> dict:
    return {"experiment": _api(request).get_experiment_by_name(_query(request, "experiment_name"))}


@router.post(f"{BASE}/experiments/update")
async def update_experiment(request: Request) -> dict:
    body = await json_body(request)
    _api(request).update_experiment(field(body, "experiment_id", str, required=True),
                                    field(body, "new_name", str, required=True))
    return {}


@router.post(f"{BASE}/experiments/delete")
async def delete_experiment(request: Request) -> dict:
    _api(request).delete_experiment(field(await json_body(request), "experiment_id", str, required=True))
    return {}


@router.post(f"{BASE}/experiments/restore")
async def restore_experiment(request: Request) -> dict:
    _api(request).restore_experiment(field(await json_body(request), "experiment_id", str, required=True))
    return {}


@router.post(f"{BASE}/experiments/search")
async def search_experiments(request: Request) -> dict:
    return _api(request).search_experiments(await json_body(request))


@router.post(f"{BASE}/experiments/set-experiment-tag")
async def set_experiment_tag(request: Request) -> dict:
    body = await json_body(request)
    _api(request).set_experiment_tag(field(body, "experiment_id", str, required=True),
                                     field(body, "key", str, required=True), field(body, "value", str, default=""))
    return {}


@router.post(f"{BASE}/registered-models/create")
async def create_model(request: Request) -> dict:
    return {"registered_model": _api(request).create_model(await json_body(request))}


@router.get(f"{BASE}/registered-models/get")
def get_model(request: Request) -> dict:
    return {"registered_model": _api(request).get_model(_query(request, "name"))}


@router.get(f"{BASE}/databricks/registered-models/get")
def get_model_databricks(request: Request) -> dict:
    model = _api(request).get_model(_query(request, "name"))
    return {"registered_model_databricks": {**model, "id": model["name"], "permission_level": "CAN_MANAGE"}}


@router.patch(f"{BASE}/registered-models/update")
async def update_model(request: Request) -> dict:
    body = await json_body(request)
    return {"registered_model": _api(request).update_model(field(body, "name", str, required=True),
                                                           field(body, "description", str))}


@router.post(f"{BASE}/registered-models/rename")
async def rename_model(request: Request) -> dict:
    body = await json_body(request)
    return {"registered_model": _api(request).rename_model(field(body, "name", str, required=True),
                                                           field(body, "new_name", str, required=True))}


@router.delete(f"{BASE}/registered-models/delete")
def delete_model(request: Request) -> dict:
    _api(request).delete_model(_query(request, "name"))
    return {}


@router.get(f"{BASE}/registered-models/search")
def search_models(request: Request) -> dict:
    return _api(request).search_models(request.query_params.get("filter"),
                                       query_int(request, "max_results", default=100) or 100,
                                       request.query_params.get("page_token"))


@router.post(f"{BASE}/registered-models/set-tag")
async def set_model_tag(request: Request) -> dict:
    body = await json_body(request)
    _api(request).set_model_tag(field(body, "name", str, required=True), field(body, "key", str, required=True),
                                field(body, "value", str, default=""))
    return {}


@router.get(f"{BASE}/model-versions/get")
def get_version(request: Request) -> dict:
    return {"model_version": _api(request).get_version(_query(request, "name"), _query(request, "version"))}


@router.get(f"{BASE}/model-versions/search")
def search_versions(request: Request) -> dict:
    return _api(request).search_versions(request.query_params.get("filter"),
                                         query_int(request, "max_results", default=1000) or 1000)
