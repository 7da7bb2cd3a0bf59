"""Model serving in the local workspace: the SDK's serving-endpoints API, MLflow's input formats and errors,
the classic /model/{name}/{version}/invocations URL, auth, and the hot swap when the champion alias moves."""

from __future__ import annotations

import json

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

from odoolake.ml import ALIAS, MODEL_NAME, tracking
from odoolake.ml.train import train

from .conftest import running_server

ROW = {"prev_month_wht": 120_000.0, "prev_year_wht": 150_000.0, "income_tax": 40_000.0, "vat": 900_000.0}


@pytest.fixture(scope="module")
def serving(forecast_lake):
    if len(_versions(forecast_lake.paths)) < 2:  # a second version to switch to (not promoted: same holdout error)
        train(forecast_lake.spark, forecast_lake.paths)
    with running_server(forecast_lake.paths.home) as srv:
        yield srv, WorkspaceClient(host=srv.url, token=srv.token)


def _versions(paths) -> list[str]:
    return sorted((str(v.version) for v in tracking.client(paths).search_model_versions(f"name='{MODEL_NAME}'")), key=int)


def _expected(paths, version: str, rows: list[dict]) -> list[float]:
    import mlflow.pyfunc
    import pandas as pd

    client = tracking.client(paths)
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri(MODEL_NAME, version))
    return [float(v) for v in model.predict(pd.DataFrame(rows))]


def _champion(paths) -> str:
    return str(tracking.client(paths).get_model_version_by_alias(MODEL_NAME, ALIAS).version)


def test_endpoint_lifecycle_through_the_sdk(serving, forecast_lake):
    _, w = serving
    version = _champion(forecast_lake.paths)
    ep = w.serving_endpoints.create_and_wait(
        "bir-forecast-sdk", config=EndpointCoreConfigInput(name="bir-forecast-sdk", served_entities=[
            ServedEntityInput(entity_name=MODEL_NAME, entity_version=version, workload_size="Small",
                              scale_to_zero_enabled=True)]))
    assert ep.state.ready.value == "READY" and ep.state.config_update.value == "NOT_UPDATING"
    assert ep.config.served_entities[0].name == f"{MODEL_NAME}-{version}"
    assert "bir-forecast-sdk" in [e.name for e in w.serving_endpoints.list()]
    got = w.serving_endpoints.query("bir-forecast-sdk", dataframe_records=[ROW])
    assert got.served_model_name == f"{MODEL_NAME}-{version}"
    assert got.predictions == pytest.approx(_expected(forecast_lake.paths, version, [ROW]))

    other = next(v for v in _versions(forecast_lake.paths) if v != version)
    updated = w.serving_endpoints.update_config_and_wait(
        "bir-forecast-sdk", served_entities=[ServedEntityInput(entity_name=MODEL_NAME, entity_version=other,
                                                               workload_size="Small", scale_to_zero_enabled=True)])
    assert updated.config.config_version == 2
    again = w.serving_endpoints.query("bir-forecast-sdk", dataframe_records=[ROW])
    assert again.served_model_name == f"{MODEL_NAME}-{other}"
    w.serving_endpoints.delete("bir-forecast-sdk")
    with pytest.raises(NotFound):
        w.serving_endpoints.get("bir-forecast-sdk")


def test_unknown_model_version_is_refused_at_create(serving):
    _, w = serving
    with pytest.raises(NotFound, match="has no version 999"):
        w.serving_endpoints.create("bir-missing", config=EndpointCoreConfigInput(name="bir-missing", served_entities=[
            ServedEntityInput(entity_name=MODEL_NAME, entity_version="999", workload_size="Small",
                              scale_to_zero_enabled=True)]))


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", json.dumps({"dataframe_records": [ROW, ROW]})),
    ("application/json", json.dumps({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())] * 2}})),
    ("application/json", json.dumps({"inputs": {k: [v, v] for k, v in ROW.items()}})),
    ("application/json", json.dumps({"instances": [ROW, ROW]})),
    ("application/json", json.dumps({"inputs": [ROW, ROW], "params": {}, "client_request_id": "odoo-42"})),
    ("text/csv", ",".join(ROW) + "\n" + ("{},{},{},{}\n".format(*ROW.values())) * 2),
])
def test_classic_invocations_accept_every_mlflow_input_format(serving, forecast_lake, content_type, body):
    srv, _ = serving
    version = _champion(forecast_lake.paths)
    r = httpx.post(f"{srv.url}/model/{MODEL_NAME}/{version}/invocations", content=body,
                   headers={"Authorization": f"Bearer {srv.token}", "Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert r.headers["served-model-name"] == f"{MODEL_NAME}-{version}"
    assert r.json()["predictions"] == pytest.approx(_expected(forecast_lake.paths, version, [ROW, ROW]))


def test_wrong_input_gets_mlflows_errors(serving, forecast_lake):
    srv, _ = serving
    url = f"{srv.url}/model/{MODEL_NAME}/{_champion(forecast_lake.paths)}/invocations"
    auth = {"Authorization": f"Bearer {srv.token}"}
    missing = {k: v for k, v in ROW.items() if k != "vat"}
    r = httpx.post(url, json={"dataframe_records": [missing]}, headers=auth)
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "missing inputs" in r.json()["message"]
    assert r.json()["error_class"] == "SCHEMA_ENFORCEMENT_FAILED"
    r = httpx.post(url, json={"dataframe_records": [{**ROW, "vat": "lots"}]}, headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
    r = httpx.post(url, json={"rows": [ROW]}, headers=auth)
    assert r.status_code == 400 and "exactly one of the input fields" in r.json()["message"]
    r = httpx.post(url, content=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
    r = httpx.post(url, content=b"x", headers={**auth, "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_auth_and_unknown_models(serving, forecast_lake):
    srv, _ = serving
    url = f"{srv.url}/model/{MODEL_NAME}/{_champion(forecast_lake.paths)}/invocations"
    assert httpx.post(url, json={"dataframe_records": [ROW]}).status_code == 401
    bad = httpx.post(url, json={"dataframe_records": [ROW]}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error_code"] == "UNAUTHENTICATED"
    auth = {"Authorization": f"Bearer {srv.token}"}
    r = httpx.post(f"{srv.url}/model/no_such_model/1/invocations", json={"dataframe_records": [ROW]}, headers=auth)
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = httpx.post(f"{srv.url}/serving-endpoints/no-such-endpoint/invocations", json={"dataframe_records": [ROW]},
                   headers=auth)
    assert r.status_code == 404 and "no-such-endpoint" in r.json()["message"]


def test_alias_endpoint_loads_once_and_swaps_when_the_alias_moves(serving, forecast_lake):
    srv, w = serving
    paths = forecast_lake.paths
    client = tracking.client(paths)
    start = _champion(paths)
    w.serving_endpoints.create_and_wait("bir-forecast-champion", config=EndpointCoreConfigInput(
        name="bir-forecast-champion", served_entities=[ServedEntityInput(
            entity_name=MODEL_NAME, entity_version=ALIAS, workload_size="Small", scale_to_zero_enabled=True)]))
    models = srv.workspace.models
    first = models.get(MODEL_NAME, ALIAS)
    assert first.version == start
    for _ in range(3):
        assert models.get(MODEL_NAME, ALIAS) is first  # cached: no reload per request
    target = next(v for v in _versions(paths) if v != start)
    client.set_registered_model_alias(MODEL_NAME, ALIAS, target)
    try:
        assert models.refresh_aliases() == [(MODEL_NAME, ALIAS, target)]  # what the watcher thread does each second
        got = w.serving_endpoints.query("bir-forecast-champion", dataframe_records=[ROW])
        assert got.predictions == pytest.approx(_expected(paths, target, [ROW]))
    finally:
        client.set_registered_model_alias(MODEL_NAME, ALIAS, start)
        w.serving_endpoints.delete("bir-forecast-champion")


def test_external_models_and_bad_traffic_are_refused(serving, forecast_lake):
    srv, _ = serving
    auth = {"Authorization": f"Bearer {srv.token}"}
    version = _champion(forecast_lake.paths)
    r = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers=auth, json={"name": "ext", "config": {
        "served_entities": [{"name": "gpt", "external_model": {"name": "gpt-4o", "provider": "openai"}}]}})
    assert r.status_code == 400 and "external_model" in r.json()["message"]
    r = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers=auth, json={"name": "split", "config": {
        "served_entities": [{"entity_name": MODEL_NAME, "entity_version": version, "name": "a"},
                            {"entity_name": MODEL_NAME, "entity_version": version, "name": "b"}],
        "traffic_config": {"routes": [{"served_model_name": "a", "traffic_percentage": 60},
                                      {"served_model_name": "b", "traffic_percentage": 30}]}}})
    assert r.status_code == 400 and "add up to 100" in r.json()["message"]
    r = httpx.put(f"{srv.url}/api/2.0/serving-endpoints/split/rate-limits", headers=auth, json={})
    assert r.status_code == 501
    listed = httpx.get(f"{srv.url}/api/2.0/serving-endpoints", headers=auth).json()["endpoints"]
    assert not {"ext", "split"} & {e["name"] for e in listed}  # nothing half-created


def _addon_client():
    """The addon's serving_client module, loaded by path (the addon package itself imports odoo)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "addons" / "ipai_finance_ppm" / "models" / "serving_client.py"
    spec = importlib.util.spec_from_file_location("ipai_serving_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_odoo_addons_http_call_against_the_real_endpoint(serving, forecast_lake):
    srv, w = serving
    addon = _addon_client()
    rows = [{"prev_month_wht": 1000.0 * i, "prev_year_wht": 1500.0 * i, "income_tax": 300.0, "vat": 9000.0 * i}
            for i in range(1, 6)]
    version = _champion(forecast_lake.paths)
    url = f"{srv.url}/model/{MODEL_NAME}/{version}/invocations"  # the seed's URL shape
    got = addon.predict_batch(url, srv.token, rows, timeout=10)
    assert got == pytest.approx(_expected(forecast_lake.paths, version, rows))  # five records, one request

    w.serving_endpoints.create_and_wait("bir-forecast-odoo", config=EndpointCoreConfigInput(
        name="bir-forecast-odoo", served_entities=[ServedEntityInput(
            entity_name=MODEL_NAME, entity_version=version, workload_size="Small", scale_to_zero_enabled=True)]))
    try:
        endpoint = f"{srv.url}/serving-endpoints/bir-forecast-odoo/invocations"
        assert addon.predict_batch(endpoint, srv.token, rows[:1]) == pytest.approx(got[:1])
        with pytest.raises(addon.PredictionError, match=r"refused the token \(HTTP 401\)") as refused:
            addon.predict_batch(endpoint, "dapi-wrong", rows)
        assert "dapi-wrong" not in str(refused.value)
        with pytest.raises(addon.PredictionError, match="HTTP 404"):
            addon.predict_batch(f"{srv.url}/serving-endpoints/nope/invocations", srv.token, rows)
        with pytest.raises(addon.PredictionError, match="not set"):
            addon.predict_batch("", srv.token, rows)
        with pytest.raises(addon.PredictionError, match="could not be reached"):
            addon.predict_batch("http://127.0.0.1:9/invocations", srv.token, rows, timeout=2)
        import socket

        with socket.socket() as silent:  # accepts connections (backlog) and never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            with pytest.raises(addon.PredictionError, match=r"did not answer within 0.5 s"):
                addon.predict_batch(f"http://127.0.0.1:{silent.getsockname()[1]}/x", srv.token, rows, timeout=0.5)
    finally:
        w.serving_endpoints.delete("bir-forecast-odoo")
