"""MLflow's own client with ``tracking_uri="databricks"`` and ``registry_uri="databricks"`` against the workspace:
experiments, runs, params, metrics, tags, artifacts, ``log_model``, ``register_model``, ``load_model("models:/…")``,
``search_runs``, renames — answered by MLflow's server handlers over the workspace's store, artifacts through the
DBFS API. The client runs in its own process, as a user's script does (with only the Databricks environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

CLIENT = textwrap.dedent("""
    import json
    import mlflow
    import numpy as np
    from sklearn.linear_model import LinearRegression

    mlflow.set_tracking_uri("databricks")
    mlflow.set_registry_uri("databricks")
    out = {}
    experiment = mlflow.set_experiment("/Shared/clients-test")
    out["artifact_location"] = experiment.artifact_location
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("mae", 1.25)
        mlflow.log_metric("mae", 1.0, step=1)
        mlflow.set_tag("team", "tax")
        mlflow.log_text("hello", "notes/hello.txt")
        x, y = np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0])
        info = mlflow.sklearn.log_model(LinearRegression().fit(x, y), name="model", input_example=x[:1])
    client = mlflow.MlflowClient()
    got = client.get_run(run.info.run_id)
    out["params"], out["tags_team"] = got.data.params, got.data.tags.get("team")
    out["history"] = [m.value for m in client.get_metric_history(run.info.run_id, "mae")]
    out["artifacts"] = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    out["text"] = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt")
    version = mlflow.register_model(info.model_uri, "clients_model")
    out["version"] = version.version
    model = mlflow.pyfunc.load_model(f"models:/clients_model/{version.version}")
    out["prediction"] = float(model.predict(np.array([[4.0]]))[0])
    out["found"] = len(mlflow.search_runs(experiment_ids=[experiment.experiment_id],
                                          filter_string="params.alpha = '0.5'"))
    out["missed"] = len(mlflow.search_runs(experiment_ids=[experiment.experiment_id],
                                           filter_string="params.alpha = '0.7'"))
    client.rename_registered_model("clients_model", "clients_model_renamed")
    out["renamed"] = client.get_registered_model("clients_model_renamed").latest_versions[0].version
    try:
        client.set_registered_model_alias("clients_model_renamed", "champion", version.version)
    except Exception as exc:
        out["alias"] = str(exc)
    out["run_id"] = run.info.run_id
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def client_run(server, tmp_path_factory):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MLFLOW_", "DATABRICKS_", "SPARK", "PYSPARK"))}
    env.update(DATABRICKS_HOST=server.https_url, DATABRICKS_TOKEN=server.token, REQUESTS_CA_BUNDLE=server.ca_bundle,
               DATABRICKS_CONFIG_FILE=str(server.workspace.paths.home / "no-databrickscfg"))
    script = tmp_path_factory.mktemp("mlflow-client") / "train.py"  # a user's script (``-c`` confuses MLflow)
    script.write_text(CLIENT)
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[:6000]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_runs_params_metrics_tags_and_artifacts(client_run, server):
    assert client_run["artifact_location"] == "dbfs:/mlflow/experiments/" + client_run["artifact_location"].rsplit("/", 1)[1]
    assert client_run["params"] == {"alpha": "0.5"} and client_run["tags_team"] == "tax"
    assert client_run["history"] == [1.25, 1.0]
    assert client_run["text"] == "hello" and "notes" in client_run["artifacts"]
    run_dir = server.workspace.paths.dbfs_to_local(client_run["artifact_location"]) / client_run["run_id"]
    assert (run_dir / "artifacts" / "notes" / "hello.txt").read_text() == "hello"  # in the workspace's DBFS


def test_models_are_logged_registered_loaded_and_searched(client_run, server):
    assert client_run["version"] == "1" and abs(client_run["prediction"] - 8.0) < 1e-9  # y = 2x
    assert (client_run["found"], client_run["missed"]) == (1, 0)
    assert client_run["renamed"] == "1"
    # MLflow's client refuses aliases for the workspace model registry (it sends users to Unity Catalog): said, not
    # faked
    assert "unsupported for models in the Workspace Model Registry" in client_run["alias"]
    from mlflow import MlflowClient

    from odoolake.workspace.mlflow_server import store_uri

    store = MlflowClient(tracking_uri=store_uri(server.workspace.paths), registry_uri=store_uri(server.workspace.paths))
    assert store.get_registered_model("clients_model_renamed").name == "clients_model_renamed"  # the one store


def test_unknown_mlflow_routes_are_501_not_flask_pages(server):
    import httpx

    answer = httpx.post(f"{server.url}/api/2.0/mlflow/no-such-thing", headers={"Authorization": f"Bearer {server.token}"},
                        json={})
    assert answer.status_code == 501 and answer.json()["error_code"] == "NOT_IMPLEMENTED"
