"""MLflow 3's default registry with ``tracking_uri="databricks"``: Unity Catalog (``databricks-uc``).

The real MLflow client, in its own process with only the Databricks environment, registers a model under a
three-part name, loads it by version and by alias, searches it and edits it; the SDK lists it; a serving endpoint
serves it by its three-part name. Unity Catalog's rules are checked against the workspace: the schema must exist,
a version's files are finalized once, names have three parts, read-only users cannot register."""

from __future__ import annotations

import json
import textwrap

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

from odoolake.workspace.catalog.models import ModelName

from .conftest import run_client_script

MODEL = "main.default.uc_doubler"
CLIENT = textwrap.dedent("""
    import json
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input["x"] * 2

    mlflow.set_tracking_uri("databricks")  # the registry is left to MLflow's default
    out = {"registry_uri": mlflow.get_registry_uri()}
    mlflow.set_experiment("/Shared/uc-models-test")
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Doubler(),
                                       signature=infer_signature(frame, frame["x"] * 2))
    first = mlflow.register_model(info.model_uri, "__MODEL__")
    second = mlflow.register_model(info.model_uri, "__MODEL__")
    client = mlflow.MlflowClient()
    out["versions"] = [first.version, second.version]
    out["status"] = first.status
    out["run_id"], out["registered_run_id"] = run.info.run_id, first.run_id
    client.set_registered_model_alias("__MODEL__", "champion", first.version)
    out["by_alias"] = client.get_model_version_by_alias("__MODEL__", "champion").version
    out["prediction"] = mlflow.pyfunc.load_model("models:/__MODEL__@champion").predict(
        pd.DataFrame({"x": [21.0]})).tolist()
    out["by_name"] = sorted(v.version for v in client.search_model_versions("name = '__MODEL__'"))
    out["by_run"] = sorted(v.version for v in client.search_model_versions(f"run_id = '{run.info.run_id}'"))
    client.update_registered_model("__MODEL__", description="doubles x")
    client.set_model_version_tag("__MODEL__", second.version, "stage", "candidate")
    got = client.get_model_version("__MODEL__", second.version)
    out["tags"], out["user_id"] = got.tags, got.user_id
    out["model"] = {"description": client.get_registered_model("__MODEL__").description,
                    "aliases": client.get_registered_model("__MODEL__").aliases}
    client.delete_model_version("__MODEL__", second.version)
    out["after_delete"] = sorted(v.version for v in client.search_model_versions("name = '__MODEL__'"))
    for bad in ("main.no_such_schema.m", "two_part.name"):
        try:
            mlflow.register_model(info.model_uri, bad)
            out[bad] = "registered"
        except Exception as exc:
            out[bad] = str(exc)
    print(json.dumps(out))
""").replace("__MODEL__", MODEL)


@pytest.fixture(scope="module")
def client_run(server, tmp_path_factory):
    lines = run_client_script(server, tmp_path_factory.mktemp("mlflow-uc"), CLIENT, "register.py")
    return json.loads(lines[-1])


def test_mlflow_registers_loads_and_searches_models_in_unity_catalog(client_run, server):
    assert client_run["registry_uri"] == "databricks-uc"
    assert client_run["versions"] == ["1", "2"] and client_run["status"] == "READY"
    assert client_run["registered_run_id"] == client_run["run_id"]
    assert client_run["by_alias"] == "1" and client_run["prediction"] == [42.0]
    assert client_run["by_name"] == ["1", "2"] and client_run["by_run"] == ["1", "2"]
    assert client_run["tags"] == {"stage": "candidate"}
    assert client_run["user_id"] == server.workspace.tokens.authenticate(server.token)
    assert client_run["model"] == {"description": "doubles x", "aliases": {"champion": "1"}}
    assert client_run["after_delete"] == ["1"]
    files = server.workspace.registered_models.version_dir(ModelName.parse(MODEL), 1)
    assert (files / "MLmodel").is_file() and not files.with_name("2").exists()  # deleted with its version


def test_unity_catalogs_rules_are_the_workspaces(client_run, server):
    assert "Schema 'main.no_such_schema' does not exist" in client_run["main.no_such_schema.m"]
    assert "RESOURCE_DOES_NOT_EXIST" in client_run["main.no_such_schema.m"]
    assert "Invalid model name 'two_part.name': Unity Catalog model names have three parts" in \
        client_run["two_part.name"]
    headers = {"Authorization": f"Bearer {server.token}"}
    # a finalized version's files do not change
    put = httpx.put(f"{server.url}/api/2.0/fs/files/Models/main/default/uc_doubler/1/MLmodel", content=b"x",
                    headers=headers)
    assert put.status_code == 400 and put.json()["error_code"] == "INVALID_STATE"
    assert "finalized" in put.json()["message"]
    finalize = httpx.post(f"{server.url}/api/2.0/mlflow/unity-catalog/model-versions/finalize",
                          json={"name": MODEL, "version": "1"}, headers=headers)
    assert finalize.status_code == 400 and "only a pending version can be finalized" in finalize.json()["message"]
    # a schema with models is not dropped from under them
    server.workspace.catalog.create_schema("main", "with_models")
    server.workspace.registered_models.create_model("main.with_models.m", "tester")
    drop = httpx.delete(f"{server.url}/api/2.1/unity-catalog/schemas/main.with_models?force=true", headers=headers)
    assert drop.status_code == 409 and drop.json()["error_code"] == "SCHEMA_NOT_EMPTY"
    assert "has 1 registered model(s); delete them first" in drop.json()["message"]
    warehouse = next(iter(w_of(server).warehouses.list())).id
    cascade = w_of(server).statement_execution.execute_statement(
        warehouse_id=warehouse, statement="DROP SCHEMA main.with_models CASCADE", wait_timeout="30s")
    assert cascade.status.state.value == "FAILED"  # it said "Use DROP SCHEMA ... CASCADE", to one who had
    assert "holds registered models (Unity Catalog), which CASCADE does not drop" in cascade.status.error.message
    assert server.workspace.registered_models.get_model("main.with_models.m")["name"] == "main.with_models.m"


def w_of(server) -> WorkspaceClient:
    return WorkspaceClient(host=server.url, token=server.token)


def test_read_only_users_read_models_but_do_not_register_them(client_run, server):
    server.workspace.roles.set_role("uc-reader@example.ph", "read_only")
    token = server.workspace.tokens.create("uc-reader@example.ph", "uc models")[0]
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{server.url}/api/2.0/mlflow/unity-catalog"
    got = httpx.get(f"{base}/registered-models/get", params={"name": MODEL}, headers=headers)
    assert got.status_code == 200 and got.json()["registered_model"]["name"] == MODEL
    made = httpx.post(f"{base}/registered-models/create", json={"name": "main.default.not_mine"}, headers=headers)
    assert made.status_code == 403 and made.json()["error_code"] == "PERMISSION_DENIED"
    lineage = httpx.post(f"{base}/model-versions/emit-lineage", headers=headers,  # sent by load_model: a warning
                         json={"name": MODEL, "version": "1", "model_version_lineage_info": {"direction": "DOWNSTREAM"}})
    assert lineage.status_code == 200, lineage.text


def test_the_sdk_lists_unity_catalog_models_and_versions(client_run, w):
    listed = {m.full_name: m for m in w.registered_models.list(catalog_name="main", schema_name="default")}
    assert listed[MODEL].comment == "doubles x"
    assert [(v.version, v.status.value) for v in w.model_versions.list(MODEL)] == [(1, "READY")]
    assert w.registered_models.get(MODEL).aliases[0].alias_name == "champion"


def test_a_serving_endpoint_serves_a_unity_catalog_model_by_its_three_part_name(client_run, w):
    for ref in ("1", "champion"):
        name = f"uc-doubler-{ref}"
        entity = ServedEntityInput(entity_name=MODEL, entity_version=ref, workload_size="Small",
                                   scale_to_zero_enabled=True)
        w.serving_endpoints.create_and_wait(name, config=EndpointCoreConfigInput(name=name, served_entities=[entity]))
        try:
            answer = w.serving_endpoints.query(name, dataframe_records=[{"x": 4.0}])
            assert answer.predictions == [{"x": 8.0}]  # MLflow's scoring server answers a Series as records
        finally:
            w.serving_endpoints.delete(name)


BUNDLE = """bundle:
  name: uc-models
targets:
  local:
    default: true
    workspace: {host: __HOST__}
resources:
  registered_models:
    forecaster:
      catalog_name: main
      schema_name: __SCHEMA__
      name: __NAME__
      comment: __COMMENT__
    adopted:
      catalog_name: main
      schema_name: default
      name: uc_doubler
"""


def _bundle(tmp_path, server, name: str, comment: str, schema: str = "default"):
    from odoolake.bundles.loader import load_bundle

    text = BUNDLE.replace("__HOST__", server.url).replace("__NAME__", name).replace("__COMMENT__", comment)\
        .replace("__SCHEMA__", schema)
    (tmp_path / "databricks.yml").write_text(text)
    return load_bundle(tmp_path, "local", user="tester@example.ph", env={})


def test_a_bundle_deploys_recreates_and_destroys_its_unity_catalog_models(client_run, server, w, tmp_path):
    """A changed name, catalog or schema recreates the model, as the Databricks CLI does (``bundle plan``:
    "recreate registered_models…"); a changed comment updates it in place."""
    from odoolake.bundles.deploy import deploy, destroy, read_state

    server.workspace.catalog.create_schema("main", "bundle_other")
    first = deploy(w, _bundle(tmp_path, server, "bundle_forecaster", "first"))
    kinds = {a.resource: (a.kind, a.detail) for a in first.actions}
    assert kinds["registered_models.forecaster"][0] == "create"
    assert kinds["registered_models.adopted"][0] == "update" and "adopted" in kinds["registered_models.adopted"][1]
    assert w.registered_models.get("main.default.bundle_forecaster").comment == "first"
    deploy(w, _bundle(tmp_path, server, "bundle_forecaster", "second"))
    assert w.registered_models.get("main.default.bundle_forecaster").comment == "second"
    for name, schema in (("bundle_forecaster_v2", "default"), ("bundle_forecaster_v2", "bundle_other")):
        again = deploy(w, _bundle(tmp_path, server, name, "second", schema))
        step = next(a for a in again.actions if a.resource == "registered_models.forecaster")
        assert step.kind == "create" and step.detail.startswith("recreated: "), step
        assert w.registered_models.get(f"main.{schema}.{name}").comment == "second"
    for gone in ("main.default.bundle_forecaster", "main.default.bundle_forecaster_v2"):
        with pytest.raises(NotFound):
            w.registered_models.get(gone)
    bundle = _bundle(tmp_path, server, "bundle_forecaster_v2", "second", "bundle_other")
    assert read_state(w, bundle)["registered_models.forecaster"] == "main.bundle_other.bundle_forecaster_v2"
    refused = _bundle(tmp_path, server, "bundle_forecaster_v3", "second", "bundle_other")
    refused.resources("registered_models")["forecaster"]["storage_location"] = "abfss://models@x.dfs.core.windows.net/"
    with pytest.raises(Exception, match="Invalid storage_location"):  # the old model was deleted before this
        deploy(w, refused)
    assert w.registered_models.get("main.bundle_other.bundle_forecaster_v2").comment == "second"
    assert read_state(w, bundle)["registered_models.forecaster"] == "main.bundle_other.bundle_forecaster_v2"
    assert destroy(w, bundle) == ["registered_models.forecaster"]
    with pytest.raises(NotFound):
        w.registered_models.get("main.bundle_other.bundle_forecaster_v2")
    assert w.registered_models.get(MODEL).full_name == MODEL  # adopted: left with its versions


def test_the_sdks_aliases_version_updates_and_owner(client_run, server, w):
    w.registered_models.set_alias(MODEL, "staging", 1)
    assert w.model_versions.get_by_alias(MODEL, "staging").version == 1
    assert w.model_versions.update(MODEL, 1, comment="the first").comment == "the first"
    assert w.model_versions.get(MODEL, 1).comment == "the first"
    w.registered_models.delete_alias(MODEL, "staging")
    with pytest.raises(NotFound, match="has no alias 'staging'"):
        w.model_versions.get_by_alias(MODEL, "staging")
    server.workspace.roles.set_role("uc-dev@example.ph", "developer")
    developer = WorkspaceClient(host=server.url, token=server.workspace.tokens.create("uc-dev@example.ph", "uc")[0])
    with pytest.raises(PermissionDenied, match="only the model's owner or an admin"):  # it was silently ignored
        developer.registered_models.update(MODEL, owner="uc-dev@example.ph")
    mine = developer.registered_models.create(catalog_name="main", schema_name="default", name="devs_model")
    assert mine.owner == "uc-dev@example.ph"
    assert w.registered_models.update("main.default.devs_model", owner="someone@example.ph").owner == \
        "someone@example.ph"  # an admin may


def test_an_endpoint_stops_answering_once_its_model_is_deleted(client_run, server, w):
    """It answered from memory until the server restarted (while its state said NOT_READY)."""
    import shutil

    from databricks.sdk.errors import DatabricksError

    from odoolake.testing.waiting import wait_until

    registry = server.workspace.registered_models
    registry.create_model("main.default.short_lived", "tester")
    made = registry.create_version("main.default.short_lived", "models:/copied", "tester")
    shutil.copytree(registry.version_dir(ModelName.parse(MODEL), 1),
                    registry.version_dir(ModelName.parse("main.default.short_lived"), 1), dirs_exist_ok=True)
    registry.finalize_version("main.default.short_lived", made["version"])
    entity = ServedEntityInput(entity_name="main.default.short_lived", entity_version="1", workload_size="Small",
                               scale_to_zero_enabled=True)
    w.serving_endpoints.create_and_wait("short-lived", config=EndpointCoreConfigInput(name="short-lived",
                                                                                      served_entities=[entity]))
    try:
        assert w.serving_endpoints.query("short-lived", dataframe_records=[{"x": 1.0}]).predictions == [{"x": 2.0}]
        registry.delete_model("main.default.short_lived")

        def refused() -> bool:
            try:
                w.serving_endpoints.query("short-lived", dataframe_records=[{"x": 1.0}])
            except DatabricksError as exc:
                return "does not exist" in str(exc)
            return False

        wait_until(refused, what="the endpoint of a deleted model refusing to answer")
    finally:
        w.serving_endpoints.delete("short-lived")
