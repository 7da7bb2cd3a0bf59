"""Model serving in the local workspace: the SDK's serving-endpoints API, MLflow's input formats and errors,
the classic /model/{name}/{version}/invocations URL, auth, and the hot swap when the champion alias moves."""

from __future__ import annotations

import json

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.serving import EndpointCoreConfigInput, EndpointTag, ServedEntityInput

from odoolake.ml import ALIAS, MODEL_NAME, tracking
from odoolake.ml.backtest import BacktestConfig
from odoolake.ml.train import train
from odoolake.testing.waiting import wait_until

from .conftest import running_server

ROW = {"agency": "RIM", "period": "2026-11"}  # the forecast lake's data ends 2026-10
OTHER = {"agency": "LAS", "period": "2027-01-01"}  # a date in the month, as Odoo sends period_start


@pytest.fixture(scope="module")
def serving(forecast_lake):
    if len(_versions(forecast_lake.paths)) < 2:  # a second version to switch to (another backtest configuration)
        train(forecast_lake.spark, forecast_lake.paths, BacktestConfig(origins=13))
    with running_server(forecast_lake.paths.home) as srv:
        yield srv, WorkspaceClient(host=srv.url, token=srv.token)


def _versions(paths) -> list[str]:
    return sorted((str(v.version) for v in tracking.client(paths).search_model_versions(f"name='{MODEL_NAME}'")), key=int)


def _expected(paths, version: str, rows: list[dict]) -> list[dict]:
    """What the version's training run recorded for these rows: its forecast table, read independently."""
    import mlflow
    import pandas as pd

    client = tracking.client(paths)
    run_id = client.get_model_version(MODEL_NAME, version).run_id
    tracking.configure(paths)
    table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="forecast/forecast.csv"))
    out = []
    for row in rows:
        hit = table[(table["agency"] == row["agency"]) & (table["period"] == row["period"][:7])].iloc[0]
        out.append({"p10": hit["p10"], "p50": hit["p50"], "p90": hit["p90"], "horizon": int(hit["horizon"])})
    return out


def _numbers(predictions: list[dict]) -> list[dict]:
    return [{k: p[k] for k in ("p10", "p50", "p90", "horizon")} for p in predictions]


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
    assert _numbers(got.predictions) == _expected(forecast_lake.paths, version, [ROW])
    assert got.predictions[0]["agency"] == "RIM" and got.predictions[0]["origin"] == "2026-10"

    other = next(v for v in _versions(forecast_lake.paths) if v != version)
    updated = w.serving_endpoints.update_config_and_wait(
        "bir-forecast-sdk", served_entities=[ServedEntityInput(entity_name=MODEL_NAME, entity_version=other,
                                                               workload_size="Small", scale_to_zero_enabled=True)])
    assert updated.config.config_version == 2
    again = w.serving_endpoints.query("bir-forecast-sdk", dataframe_records=[ROW])
    assert again.served_model_name == f"{MODEL_NAME}-{other}"

    w.serving_endpoints.patch("bir-forecast-sdk", add_tags=[EndpointTag(key="team", value="finance"),
                                                            EndpointTag(key="tier", value="gold")])
    patched = w.serving_endpoints.patch("bir-forecast-sdk", add_tags=[EndpointTag(key="team", value="tax")],
                                        delete_tags=["tier"])
    assert [(t.key, t.value) for t in patched.tags] == [("team", "tax")]
    with pytest.raises(BadRequest, match="each tag needs a string key"):
        w.api_client.do("PATCH", "/api/2.0/serving-endpoints/bir-forecast-sdk/tags",
                        body={"add_tags": [{"value": "no key"}], "delete_tags": ["team"]})
    assert [(t.key, t.value) for t in w.serving_endpoints.get("bir-forecast-sdk").tags] == [("team", "tax")]
    with pytest.raises(NotFound):
        w.serving_endpoints.patch("no-such-endpoint", add_tags=[EndpointTag(key="team", value="tax")])
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
    ("application/json", json.dumps({"dataframe_records": [ROW, OTHER]})),
    ("application/json", json.dumps({"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values()),
                                                                                        list(OTHER.values())]}})),
    ("application/json", json.dumps({"inputs": {k: [ROW[k], OTHER[k]] for k in ROW}})),
    ("application/json", json.dumps({"instances": [ROW, OTHER]})),
    ("application/json", json.dumps({"inputs": [ROW, OTHER], "params": {}, "client_request_id": "odoo-42"})),
    ("text/csv", "agency,period\nRIM,2026-11\nLAS,2027-01-01\n"),
])
def test_classic_invocations_accept_every_mlflow_input_format(serving, forecast_lake, content_type, body):
    srv, _ = serving
    version = _champion(forecast_lake.paths)
    r = httpx.post(f"{srv.url}/model/{MODEL_NAME}/{version}/invocations", content=body,
                   headers={"Authorization": f"Bearer {srv.token}", "Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert r.headers["served-model-name"] == f"{MODEL_NAME}-{version}"
    assert _numbers(r.json()["predictions"]) == _expected(forecast_lake.paths, version, [ROW, OTHER])


def test_wrong_input_gets_a_400_naming_the_field(serving, forecast_lake):
    srv, _ = serving
    url = f"{srv.url}/model/{MODEL_NAME}/{_champion(forecast_lake.paths)}/invocations"
    auth = {"Authorization": f"Bearer {srv.token}"}

    def refused(records: list[dict]) -> dict:
        r = httpx.post(url, json={"dataframe_records": records}, headers=auth)
        assert r.status_code == 400, r.text
        return r.json()

    missing = refused([{"agency": "RIM"}])
    assert missing["error_class"] == "SCHEMA_ENFORCEMENT_FAILED" and "missing inputs ['period']" in missing["message"]
    null = refused([{"agency": None, "period": "2026-11"}])
    assert null["error_code"] == "INVALID_PARAMETER_VALUE" and "Invalid agency: agency is missing in row 0" in (
        null["message"])
    unknown = refused([ROW, {"agency": "NOPE", "period": "2026-11"}])
    assert "Invalid agency: agency 'NOPE' in row 1 is not one this model version forecasts" in unknown["message"]
    assert "Invalid period: period 'November' in row 0 is not a month" in refused(
        [{"agency": "RIM", "period": "November"}])["message"]
    assert "Invalid period" in refused([{"agency": "RIM", "period": 202611}])["message"]
    late = refused([{"agency": "RIM", "period": "2027-06"}])
    assert "period 2027-06 in row 0 is outside this model version's forecast horizon (2026-11..2027-01)" in (
        late["message"])
    r = httpx.post(url, json={"rows": [ROW]}, headers=auth)
    assert r.status_code == 400 and "exactly one of the input fields" in r.json()["message"]
    r = httpx.post(url, content=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
    r = httpx.post(url, content=b"x", headers={**auth, "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_a_version_without_a_signature_is_refused(serving, forecast_lake):
    import mlflow
    import pandas as pd

    srv, _ = serving
    paths = forecast_lake.paths
    tracking.configure(paths)

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
            return model_input

    with mlflow.start_run(run_name="no-signature") as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Echo())
    client = tracking.client(paths)
    version = client.create_model_version(MODEL_NAME, source=info.model_uri, run_id=run.info.run_id).version
    try:
        r = httpx.post(f"{srv.url}/model/{MODEL_NAME}/{version}/invocations", json={"dataframe_records": [ROW]},
                       headers={"Authorization": f"Bearer {srv.token}"})
        assert r.status_code == 400
        assert r.json()["error_class"] == "NO_SIGNATURE" and "has no input signature" in r.json()["message"]
        made = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers={"Authorization": f"Bearer {srv.token}"},
                          json={"name": "unsigned", "config": {"served_entities": [
                              {"entity_name": MODEL_NAME, "entity_version": version}]}})
        assert made.status_code == 400 and "has no input signature" in made.json()["message"]  # not READY and 400s
    finally:
        client.delete_model_version(MODEL_NAME, version)


def test_a_model_the_workspace_cannot_load_is_refused_by_name_not_a_500(serving, forecast_lake, tmp_path):
    """A pyfunc whose code only the client had: endpoint create and invocations answered 500 (ModuleNotFoundError),
    and the server dropped the keep-alive connection after them."""
    import sys

    import mlflow

    srv, _ = serving
    paths = forecast_lake.paths
    tracking.configure(paths)
    (tmp_path / "clients_only_module.py").write_text(
        "import mlflow\nclass Doubler(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n        return model_input * 2\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import pandas as pd
        from clients_only_module import Doubler
        with mlflow.start_run(run_name="client-only-code") as run:
            info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(), input_example=pd.DataFrame({"x": [1.0]}))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("clients_only_module", None)
    client = tracking.client(paths)
    version = client.create_model_version(MODEL_NAME, source=info.model_uri, run_id=run.info.run_id).version
    auth = {"Authorization": f"Bearer {srv.token}"}
    try:
        with httpx.Client(headers=auth) as http:  # one keep-alive connection throughout
            made = http.post(f"{srv.url}/api/2.0/serving-endpoints", json={"name": "unloadable", "config": {
                "served_entities": [{"entity_name": MODEL_NAME, "entity_version": version}]}})
            assert made.status_code == 400 and made.json()["error_code"] == "INVALID_STATE", made.text
            assert "cannot be loaded by the local workspace (ModuleNotFoundError" in made.json()["message"]
            scored = http.post(f"{srv.url}/model/{MODEL_NAME}/{version}/invocations", json={"inputs": {"x": [1.0]}})
            assert scored.status_code == 400 and "clients_only_module" in scored.json()["message"]
            assert http.get(f"{srv.url}/api/2.0/serving-endpoints").status_code == 200
        # two loads failed: the version's build logs say why once (an alias retried it every second, and each time
        # an ERROR line pushed older lines out), whole
        from odoolake.workspace.serving.logs import version_source

        built = srv.workspace.models.logs.text([version_source(MODEL_NAME, version)], build=True).splitlines()
        assert len(built) == 1 and " ERROR " in built[0]
        assert "cannot be loaded: ModuleNotFoundError: No module named 'clients_only_module'" in built[0]
        # an endpoint following an alias moved onto it says so (it said READY while every call failed)
        _, w = serving
        client.set_registered_model_alias(MODEL_NAME, "probe", _champion(paths))
        w.serving_endpoints.create_and_wait("probe-ep", config=EndpointCoreConfigInput(name="probe-ep", served_entities=[
            ServedEntityInput(entity_name=MODEL_NAME, entity_version="probe", name="p", workload_size="Small",
                              scale_to_zero_enabled=True)]))
        try:
            client.set_registered_model_alias(MODEL_NAME, "probe", version)
            wait_until(lambda: w.serving_endpoints.get("probe-ep").state.ready.value == "NOT_READY", timeout=60,
                       what="the endpoint to say its alias's version does not load")
            state = w.serving_endpoints.get("probe-ep").config.served_entities[0].state
            assert state.deployment.value == "DEPLOYMENT_FAILED" and "cannot be loaded" in state.deployment_state_message
        finally:
            w.serving_endpoints.delete("probe-ep")
            client.delete_registered_model_alias(MODEL_NAME, "probe")
    finally:
        client.delete_model_version(MODEL_NAME, version)


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
        models.refresh_aliases()  # what the watcher thread does each second (it may have done it already)
        assert models.peek(MODEL_NAME, ALIAS).version == target
        got = w.serving_endpoints.query("bir-forecast-champion", dataframe_records=[ROW])
        assert _numbers(got.predictions) == _expected(paths, target, [ROW])
    finally:
        client.set_registered_model_alias(MODEL_NAME, ALIAS, start)
        w.serving_endpoints.delete("bir-forecast-champion")


def test_one_served_model_of_an_endpoint_is_called_by_its_name(serving, forecast_lake):
    """``/serving-endpoints/<e>/served-models/<name>/invocations`` reaches that model whatever the traffic split
    (it was 404 ENDPOINT_NOT_FOUND)."""
    srv, _ = serving
    auth = {"Authorization": f"Bearer {srv.token}"}
    first, second = _versions(forecast_lake.paths)[:2]
    made = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers=auth, json={"name": "pinned", "config": {
        "served_entities": [{"entity_name": MODEL_NAME, "entity_version": first, "name": "live"},
                            {"entity_name": MODEL_NAME, "entity_version": second, "name": "shadow"}],
        "traffic_config": {"routes": [{"served_model_name": "live", "traffic_percentage": 100},
                                      {"served_model_name": "shadow", "traffic_percentage": 0}]}}})
    assert made.status_code == 200, made.text
    try:
        url = f"{srv.url}/serving-endpoints/pinned/served-models/shadow/invocations"
        r = httpx.post(url, headers=auth, json={"dataframe_records": [ROW]})
        assert r.status_code == 200 and r.headers["served-model-name"] == "shadow"
        assert _numbers(r.json()["predictions"]) == _expected(forecast_lake.paths, second, [ROW])
        missing = httpx.post(url.replace("shadow", "nobody"), headers=auth, json={"dataframe_records": [ROW]})
        assert missing.status_code == 404 and "serves no model named 'nobody'" in missing.json()["message"]
    finally:
        httpx.delete(f"{srv.url}/api/2.0/serving-endpoints/pinned", headers=auth)


def test_an_endpoint_whose_version_was_deleted_is_not_ready(serving, forecast_lake):
    """After its model version was deleted the endpoint still said READY while every call answered 404."""
    _, w = serving
    client = tracking.client(forecast_lake.paths)
    existing = client.get_model_version(MODEL_NAME, _champion(forecast_lake.paths))
    copy = client.create_model_version(MODEL_NAME, source=existing.source, run_id=existing.run_id).version
    try:
        w.serving_endpoints.create_and_wait("short-lived", config=EndpointCoreConfigInput(
            name="short-lived", served_entities=[ServedEntityInput(entity_name=MODEL_NAME, entity_version=copy)]))
        assert w.serving_endpoints.get("short-lived").state.ready.value == "READY"
        client.delete_model_version(MODEL_NAME, copy)
        got = w.serving_endpoints.get("short-lived")
        assert got.state.ready.value == "NOT_READY"
        (entity,) = got.config.served_entities
        assert entity.state.deployment.value == "DEPLOYMENT_FAILED" and f"no version {copy}" in \
            entity.state.deployment_state_message
    finally:
        w.serving_endpoints.delete("short-lived")


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
    served = {"entity_name": MODEL_NAME, "entity_version": version}
    for extra, field in (({"rate_limits": [{"calls": 10, "renewal_period": "minute"}]}, "rate_limits"),
                         ({"ai_gateway": {"usage_tracking_config": {"enabled": True}}}, "ai_gateway")):
        r = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers=auth,
                       json={"name": "ext", "config": {"served_entities": [served]}, **extra})
        assert r.status_code == 400 and f"Invalid {field}" in r.json()["message"], r.text
    r = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers=auth, json={"name": "ext", "config": {
        "served_entities": [{**served, "min_provisioned_throughput": 0, "max_provisioned_throughput": 100}]}})
    assert r.status_code == 400 and "min_provisioned_throughput" in r.json()["message"], r.text
    for entity, config, field in (  # accepted with 200 and then missing from the endpoint
            ({"workload_type": "GPU_SMALL"}, {}, "workload_type"),
            ({"min_provisioned_concurrency": 4, "max_provisioned_concurrency": 8}, {}, "min_provisioned_concurrency"),
            ({"environment_vars": {"API_KEY": "x"}}, {}, "environment_vars"),
            ({}, {"auto_capture_config": {"catalog_name": "main", "schema_name": "ml"}}, "auto_capture_config")):
        r = httpx.post(f"{srv.url}/api/2.0/serving-endpoints", headers=auth,
                       json={"name": "ext", "config": {"served_entities": [{**served, **entity}], **config}})
        assert r.status_code == 400 and field in r.json()["message"], r.text
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
    rows = [{"agency": a, "period": "2026-12"} for a in ("BOM", "CKVC", "JAP", "RIM", "LAS")]
    version = _champion(forecast_lake.paths)
    url = f"{srv.url}/model/{MODEL_NAME}/{version}/invocations"  # the seed's URL shape
    got = addon.predict_batch(url, srv.token, rows, timeout=10)
    assert _numbers(got) == _expected(forecast_lake.paths, version, rows)  # five records, one request

    w.serving_endpoints.create_and_wait("bir-forecast-odoo", config=EndpointCoreConfigInput(
        name="bir-forecast-odoo", served_entities=[ServedEntityInput(
            entity_name=MODEL_NAME, entity_version=version, workload_size="Small", scale_to_zero_enabled=True)]))
    try:
        endpoint = f"{srv.url}/serving-endpoints/bir-forecast-odoo/invocations"
        assert addon.predict_batch(endpoint, srv.token, rows[:1])[0]["p50"] == got[0]["p50"]
        with pytest.raises(addon.PredictionError, match=r"HTTP 400: Invalid agency: agency 'ACME' in row 0"):
            addon.predict_batch(endpoint, srv.token, [{"agency": "ACME", "period": "2026-12"}])
        with pytest.raises(addon.PredictionError, match="Record 2 has no period; nothing was sent"):
            addon.predict_batch(endpoint, srv.token, [rows[0], {"agency": "RIM", "period": False}])
        for bad in (0, -1, "soon", None):
            with pytest.raises(addon.PredictionError, match="The timeout setting must be a positive number"):
                addon.predict_batch(endpoint, srv.token, rows, timeout=bad)
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


def test_a_served_models_logs_and_build_logs_through_the_sdk(serving, forecast_lake):
    """``w.serving_endpoints.logs`` and ``build_logs`` (they were ENDPOINT_NOT_FOUND): the model's loads in both; in its
    logs also each request, a refused one with its message. An unknown endpoint or served model is a 404 naming it."""
    srv, w = serving
    version = _versions(forecast_lake.paths)[0]
    w.serving_endpoints.create_and_wait("logged", config=EndpointCoreConfigInput(name="logged", served_entities=[
        ServedEntityInput(entity_name=MODEL_NAME, entity_version=version, name="first", workload_size="Small",
                          scale_to_zero_enabled=True)]))
    try:
        auth = {"Authorization": f"Bearer {srv.token}"}
        url = f"{srv.url}/serving-endpoints/logged/invocations"
        assert httpx.post(url, headers=auth, json={"dataframe_records": [ROW]}).status_code == 200
        assert httpx.post(url, headers=auth, json={"dataframe_records": [{"agency": "RIM"}]}).status_code == 400
        logs = w.serving_endpoints.logs("logged", "first").logs
        lines = logs.splitlines()
        assert any(f"loaded model {MODEL_NAME} version " in line for line in lines)
        ok = [line for line in lines if "POST /serving-endpoints/logged/invocations 200 in " in line]
        refused = [line for line in lines if "POST /serving-endpoints/logged/invocations 400 in " in line]
        assert ok and " INFO " in ok[-1]
        assert refused and " WARNING " in refused[-1] and "missing inputs ['period']" in refused[-1]
        built = w.serving_endpoints.build_logs("logged", "first").logs
        assert "loaded model" in built and "/invocations" not in built  # loads only
        w.serving_endpoints.create_and_wait("logged-too", config=EndpointCoreConfigInput(name="logged-too", served_entities=[
            ServedEntityInput(entity_name=MODEL_NAME, entity_version=version, name="twin", workload_size="Small",
                              scale_to_zero_enabled=True)]))
        try:  # the same model version served elsewhere: its loads, not the other endpoint's requests
            twin = w.serving_endpoints.logs("logged-too", "twin").logs
            assert f"loaded model {MODEL_NAME} version {version}" in twin and "POST " not in twin
        finally:
            w.serving_endpoints.delete("logged-too")
        with pytest.raises(NotFound, match="serves no model named 'second'"):
            w.serving_endpoints.logs("logged", "second")
        with pytest.raises(NotFound, match="'nowhere' does not exist"):
            w.serving_endpoints.build_logs("nowhere", "first")
    finally:
        w.serving_endpoints.delete("logged")
