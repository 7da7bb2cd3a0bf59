"""MLflow's own client with ``tracking_uri="databricks"`` and ``registry_uri="databricks"`` against the workspace:
experiments, runs, params, metrics, tags, artifacts, ``log_model``, ``register_model``, ``load_model("models:/…")``,
``search_runs``, renames — answered by MLflow's server handlers over the workspace's store, artifacts through the
DBFS API. The client runs in its own process, as a user's script does (with only the Databricks environment)."""

from __future__ import annotations

import json
import textwrap

import pytest
from databricks.sdk.service.workspace import ImportFormat, Language

from odoolake.workspace.mlflow_server import NO_EXPERIMENT

from .conftest import run_client_script

ODD_NAMES = ("report#v1.txt", "report#v2.txt", "data?x.csv", "data?y.csv", "pct%41.txt", "space d.txt")
CLIENT = textwrap.dedent("""
    ODD_NAMES = __ODD_NAMES__
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
        for odd in ODD_NAMES:  # cut at '#' or '?', and '%41' decoded, when written through /dbfs/<path> URLs
            mlflow.log_text(f"content of {odd}", f"odd/{odd}")
        x, y = np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0])
        info = mlflow.sklearn.log_model(LinearRegression().fit(x, y), name="model", input_example=x[:1])
    client = mlflow.MlflowClient()
    got = client.get_run(run.info.run_id)
    out["params"], out["tags_team"] = got.data.params, got.data.tags.get("team")
    out["user_id"] = got.info.user_id
    out["history"] = [m.value for m in client.get_metric_history(run.info.run_id, "mae")]
    out["artifacts"] = sorted(a.path for a in client.list_artifacts(run.info.run_id))
    out["text"] = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt")
    out["odd"] = sorted(a.path for a in client.list_artifacts(run.info.run_id, "odd"))
    out["spaced"] = open(client.download_artifacts(run.info.run_id, "odd/space d.txt")).read()
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

    @mlflow.trace
    def answer(question):
        return question.upper()

    answer("hi")
    mlflow.flush_trace_async_logging(terminate=False)
    out["traces"] = len(mlflow.search_traces(locations=[experiment.experiment_id]))  # v4 route, then v3
    print(json.dumps(out))
""").replace("__ODD_NAMES__", repr(ODD_NAMES))


@pytest.fixture(scope="module")
def client_run(server, tmp_path_factory):
    lines = run_client_script(server, tmp_path_factory.mktemp("mlflow-client"), CLIENT, "train.py")
    # the links MLflow prints when a run ends ("🏃 View run <name> at: <url>", "🧪 View experiment at: <url>")
    links = {line.split(" View ", 1)[1].split()[0]: line.rsplit(" at: ", 1)[1] for line in lines if " at: " in line}
    return {**json.loads(lines[-1]), "links": links}


def test_runs_params_metrics_tags_and_artifacts(client_run, server):
    experiment_id = client_run["artifact_location"].rsplit("/", 1)[1]
    assert client_run["artifact_location"] == f"dbfs:/databricks/mlflow-tracking/{experiment_id}"  # Databricks' own
    assert client_run["params"] == {"alpha": "0.5"} and client_run["tags_team"] == "tax"
    assert client_run["history"] == [1.25, 1.0]
    assert client_run["text"] == "hello" and "notes" in client_run["artifacts"]
    assert client_run["traces"] == 1  # search_traces failed: its first route answered 501, so it never fell back
    run_dir = server.workspace.paths.dbfs_to_local(client_run["artifact_location"]) / client_run["run_id"]
    assert (run_dir / "artifacts" / "notes" / "hello.txt").read_text() == "hello"  # in the workspace's DBFS
    # each its own file, as written: through /dbfs/<path> URLs '#' and '?' cut the name (two files were left, each
    # the last one written) and '%41' was decoded. (MLflow's client cannot download a name with '#' or '?' by a
    # runs:/ URI: its own URI parsing cuts it, on Databricks too.)
    assert client_run["odd"] == sorted(f"odd/{name}" for name in ODD_NAMES)
    stored = {p.name: p.read_text() for p in (run_dir / "artifacts" / "odd").iterdir()}
    assert stored == {name: f"content of {name}" for name in ODD_NAMES}
    assert client_run["spaced"] == "content of space d.txt"


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


def test_the_run_and_experiment_links_mlflow_prints_open_pages(client_run, server):
    import base64
    import ssl

    import httpx

    run_url, experiment_url = client_run["links"]["run"], client_run["links"]["experiment"]
    assert run_url.startswith(f"{server.https_url}/ml/experiments/") and run_url.endswith(f"/runs/{client_run['run_id']}")
    browser = httpx.Client(verify=ssl.create_default_context(cafile=server.ca_bundle))
    refused = browser.get(run_url)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    signed_in = {"Authorization": "Basic " + base64.b64encode(f"me:{server.token}".encode()).decode()}
    page = browser.get(run_url, headers=signed_in)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "FINISHED" in text and "<code>alpha</code></td><td><code>0.5</code>" in text
    assert "<code>mae</code></td><td>1</td>" in text  # the latest value of the metric, not its first (1.25)
    assert "<code>team</code></td><td>tax</td>" in text and "notes/hello.txt" in text
    assert "odoolake ml ui" in text and f"#/experiments/{experiment_url.rsplit('/', 1)[1]}/runs/" in text
    listing = browser.get(experiment_url, headers=signed_in)
    assert listing.status_code == 200 and "/Shared/clients-test" in listing.text
    assert f"/runs/{client_run['run_id']}\"" in listing.text  # the run is listed, linked to its page
    elsewhere = browser.get(f"{experiment_url}0/runs/{client_run['run_id']}", headers=signed_in)
    assert elsewhere.status_code == 404 and "RESOURCE_DOES_NOT_EXIST" not in elsewhere.text
    unknown = browser.get(run_url[:-4] + "beef", headers=signed_in)
    assert unknown.status_code == 404 and "beef" in unknown.text
    tracking = server.workspace.mlflow_server.stores().tracking
    tracking.delete_run(client_run["run_id"])
    try:
        assert "FINISHED</b> (deleted)" in browser.get(run_url, headers=signed_in).text
    finally:
        tracking.restore_run(client_run["run_id"])


def test_unknown_mlflow_routes_are_endpoint_not_found_as_databricks_answers_them(server):
    """Databricks answers a route it does not serve 404 ENDPOINT_NOT_FOUND, and MLflow's client falls back on it
    (search_traces asks v4 first, then v3); a 501 made search_traces fail."""
    import httpx

    answer = httpx.post(f"{server.url}/api/2.0/mlflow/no-such-thing", headers={"Authorization": f"Bearer {server.token}"},
                        json={})
    assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "not served by the local workspace" in answer.json()["message"]


def test_a_run_is_recorded_as_the_tokens_user_whatever_the_client_says(client_run, server):
    """A run recorded the user the client sent (its operating-system user, or any name); Databricks records the
    caller its token names."""
    import httpx

    headers = {"Authorization": f"Bearer {server.token}"}
    me = httpx.get(f"{server.url}/api/2.0/preview/scim/v2/Me", headers=headers).json()["userName"]
    assert client_run["user_id"] == me
    experiment = httpx.get(f"{server.url}/api/2.0/mlflow/experiments/get-by-name", headers=headers,
                           params={"experiment_name": "/Shared/clients-test"}).json()["experiment"]["experiment_id"]
    claimed = httpx.post(f"{server.url}/api/2.0/mlflow/runs/create", headers=headers,
                         json={"experiment_id": experiment, "user_id": "someone.else@example.ph"}).json()
    assert claimed["run"]["info"]["user_id"] == me


def test_store_errors_say_what_failed_without_the_databases_text(server):
    """A duplicate experiment answered the SQLite error and the INSERT statement with its parameters."""
    import httpx

    headers = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.url}/api/2.0/mlflow/experiments/create"
    httpx.post(url, headers=headers, json={"name": "/Shared/twice"})
    again = httpx.post(url, headers=headers, json={"name": "/Shared/twice"})
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    message = again.json()["message"]
    assert "/Shared/twice" in message and "already exists" in message
    assert "sqlite3" not in message and "[SQL:" not in message and "INSERT" not in message
    orphan = httpx.post(f"{server.url}/api/2.0/mlflow/runs/create", headers=headers, json={"experiment_id": "987654"})
    assert orphan.status_code >= 400 and "sqlite3" not in orphan.text and "autoflush" not in orphan.text, orphan.text
    assert int(again.headers["content-length"]) == len(again.content)


@pytest.mark.parametrize(("call", "field"), [("experiments/create", "name"), ("experiments/update", "new_name")])
def test_an_experiment_name_that_is_no_workspace_path_is_refused_as_databricks_refuses_it(server, call, field):
    """``mlflow.set_experiment("forecast")`` works on a plain MLflow server and fails on Databricks."""
    import httpx

    from odoolake.workspace.mlflow_server import EXPERIMENT_NAME_RULE

    headers = {"Authorization": f"Bearer {server.token}"}
    made = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create", headers=headers,
                      json={"name": f"/Shared/named-by-path-{field}"}).json()
    for name in ("forecast", "Shared/forecast", "/"):
        body = {"name": name} if field == "name" else {"experiment_id": made["experiment_id"], "new_name": name}
        answer = httpx.post(f"{server.url}/api/2.0/mlflow/{call}", headers=headers, json=body)
        assert answer.status_code == 400, name
        assert answer.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                                 "message": f"Got an invalid experiment name '{name}'. {EXPERIMENT_NAME_RULE}"}
    listed = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/search", headers=headers,
                        json={"max_results": 1000}).json()["experiments"]
    assert f"/Shared/named-by-path-{field}" in {e["name"] for e in listed}
    assert not {"forecast", "Shared/forecast", "/"} & {e["name"] for e in listed}


def test_the_sdks_experiment_listing_and_artifact_calls_answer(client_run, w):
    """``w.experiments.search_experiments()`` without max_results answered 400 (``Invalid value 0``);
    ``list_experiments`` and ``w.model_registry.list_models`` (the 2.0 list routes the SDK still calls) were not
    served; ``w.experiments.list_artifacts`` answered 500 ("Failed to get credentials for DBFS")."""
    names = {e.name for e in w.experiments.search_experiments()}
    assert "/Shared/clients-test" in names
    assert "/Shared/clients-test" in {e.name for e in w.experiments.list_experiments()}
    assert "clients_model_renamed" in {m.name for m in w.model_registry.list_models()}
    listed = w.experiments.list_artifacts(run_id=client_run["run_id"])
    assert {(f.path, f.is_dir) for f in listed} >= {("notes", True)}
    inside = w.experiments.list_artifacts(run_id=client_run["run_id"], path="notes")
    assert [(f.path, f.is_dir, f.file_size) for f in inside] == [("notes/hello.txt", False, 5)]


def test_experiments_live_in_the_workspace_tree_as_on_databricks(server, w):
    """Databricks keeps experiments in the workspace tree: ``/Shared`` and each user's ``/Users/<name>`` exist, an
    experiment's parent folder must exist ("Parent directory … does not exist": code that made experiments in
    missing folders locally failed there), ``/Workspace/x`` is ``/x``, a folder lists its experiments
    (``MLFLOW_EXPERIMENT``), and deleting an experiment's path deletes the experiment."""
    import httpx
    from databricks.sdk.errors import BadRequest, NotFound, ResourceAlreadyExists

    headers = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.url}/api/2.0/mlflow/experiments"
    me = w.current_user.me().user_name
    assert {o.path for o in w.workspace.list("/")} >= {"/Shared", "/Users"}
    assert f"/Users/{me}" in {o.path for o in w.workspace.list("/Users")}
    missing = httpx.post(f"{base}/create", headers=headers, json={"name": "/Shared/no-such-folder/forecast"})
    assert missing.status_code == 404 and missing.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Parent directory /Shared/no-such-folder does not exist."}
    w.workspace.mkdirs("/Shared/tree-test")
    made = httpx.post(f"{base}/create", headers=headers, json={"name": "/Workspace/Shared/tree-test/forecast"})
    assert made.status_code == 200, made.text
    found = httpx.get(f"{base}/get-by-name", headers=headers,
                      params={"experiment_name": "/Workspace/Shared/tree-test/forecast"}).json()["experiment"]
    assert found["name"] == "/Shared/tree-test/forecast" and found["experiment_id"] == made.json()["experiment_id"]
    listed = w.api_client.do("GET", "/api/2.0/workspace/list", query={"path": "/Shared/tree-test"})["objects"]
    assert [(o["path"], o["object_type"], str(o["object_id"])) for o in listed] == [
        ("/Shared/tree-test/forecast", "MLFLOW_EXPERIMENT", found["experiment_id"])]
    with pytest.raises(ResourceAlreadyExists, match="an MLflow experiment"):
        w.workspace.mkdirs("/Shared/tree-test/forecast/inside")
    renamed = httpx.post(f"{base}/update", headers=headers,
                         json={"experiment_id": found["experiment_id"], "new_name": "/Shared/nowhere/forecast"})
    assert renamed.status_code == 404 and "Parent directory /Shared/nowhere does not exist" in renamed.text
    with pytest.raises(BadRequest, match="is not empty"):  # a folder holding an experiment
        w.workspace.delete("/Shared/tree-test")
    w.workspace.delete("/Shared/tree-test/forecast")
    gone = httpx.get(f"{base}/get", headers=headers, params={"experiment_id": found["experiment_id"]}).json()
    assert gone["experiment"]["lifecycle_stage"] == "deleted"
    with pytest.raises(NotFound):
        w.workspace.get_status("/Shared/tree-test/forecast")
    w.workspace.delete("/Shared/tree-test")  # empty now


def test_the_folder_of_an_experiment_made_outside_the_api_appears(server, w):
    """``odoolake ml train`` writes MLflow's store directly: the folder of the experiment it makes is in the tree
    (Databricks has no experiment without its folder)."""
    server.workspace.mlflow_server.stores().tracking.create_experiment("/Shared/made-directly/forecast")
    assert w.workspace.get_status("/Shared/made-directly").object_type.value == "DIRECTORY"
    listed = w.api_client.do("GET", "/api/2.0/workspace/list", query={"path": "/Shared/made-directly"})["objects"]
    assert [(o["path"], o["object_type"]) for o in listed] == [("/Shared/made-directly/forecast", "MLFLOW_EXPERIMENT")]


def test_experiment_names_the_tree_cannot_hold_are_refused_with_a_clear_400(server, w):
    """From a hostile review: '..' or '//' in a name was a 500 (MLflow's client retried for four minutes); an
    experiment could be made, renamed or restored over a notebook or folder and then vanished from the tree;
    ``start_run`` without an experiment got "Invalid experiment ID 'None'"."""
    import httpx

    headers = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.url}/api/2.0/mlflow"
    w.workspace.mkdirs("/Shared/names")
    for name in ("/Shared/../Users/x", "/Shared//names/x", "/Shared/./x", "/Shared/names/trail/", "/Shared/a\nb",
                 "/Workspace/"):
        refused = httpx.post(f"{base}/experiments/create", headers=headers, json={"name": name})
        assert refused.status_code == 400, (name, refused.text)
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE", name
    w.workspace.import_("/Shared/names/nb", content="cHJpbnQoMSk=", language=Language.PYTHON,
                        format=ImportFormat.SOURCE)
    for taken, kind in (("/Shared/names/nb", "a notebook"), ("/Shared/names", "a directory"),
                        ("/Shared", "a directory")):
        refused = httpx.post(f"{base}/experiments/create", headers=headers, json={"name": taken})
        assert refused.status_code == 400 and refused.json() == {
            "error_code": "RESOURCE_ALREADY_EXISTS",
            "message": f"{taken} already exists in the workspace ({kind}): an experiment needs a path of its own."}
    made = httpx.post(f"{base}/experiments/create", headers=headers, json={"name": "/Shared/names/exp"}).json()
    onto = httpx.post(f"{base}/experiments/update", headers=headers,
                      json={"experiment_id": made["experiment_id"], "new_name": "/Shared/names/nb"})
    assert onto.status_code == 400 and "already exists in the workspace (a notebook)" in onto.text
    httpx.post(f"{base}/experiments/delete", headers=headers, json={"experiment_id": made["experiment_id"]})
    w.workspace.import_("/Shared/names/exp", content="cHJpbnQoMSk=", language=Language.PYTHON,
                        format=ImportFormat.SOURCE)  # a notebook where the deleted experiment was
    back = httpx.post(f"{base}/experiments/restore", headers=headers, json={"experiment_id": made["experiment_id"]})
    assert back.status_code == 400 and "already exists in the workspace (a notebook)" in back.text
    nowhere = httpx.post(f"{base}/runs/create", headers=headers, json={"start_time": 1})
    assert nowhere.status_code == 404 and nowhere.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                                             "message": NO_EXPERIMENT}


def test_users_change_only_shared_and_their_own_folder(server, w):
    """Databricks' default workspace permissions: a developer wrote in another user's home, at the root, and made
    a folder for a user that does not exist."""
    import httpx
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import PermissionDenied

    server.workspace.roles.set_role("tree-dev@example.ph", "developer")
    dev = WorkspaceClient(host=server.url, token=server.workspace.tokens.create("tree-dev@example.ph", "tree")[0])
    owner = w.current_user.me().user_name
    dev.workspace.mkdirs("/Users/tree-dev@example.ph/mine")
    dev.workspace.mkdirs("/Shared/devs-too")
    for path in (f"/Users/{owner}/intrudes", "/at-the-root", "/Users/nobody@example.ph"):
        with pytest.raises(PermissionDenied, match="users change what is under /Shared and their own"):
            dev.workspace.mkdirs(path)
    with pytest.raises(PermissionDenied):
        dev.workspace.delete(f"/Users/{owner}")
    refused = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/create",
                         headers={"Authorization": f"Bearer {dev.config.token}"}, json={"name": f"/Users/{owner}/x"})
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    w.workspace.mkdirs("/admins-may")  # the owner is an admin


def test_a_user_changes_no_experiment_or_run_in_another_users_folder(server, w):
    """An admin's experiment in their own folder: a developer's rename, delete, tags, new runs and every change to
    its runs are refused (403 naming the rule) and leave it as it was; the same calls on an experiment in /Shared
    go through."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import PermissionDenied
    from databricks.sdk.service.ml import Param, RunInfoStatus, UpdateRunStatus

    server.workspace.roles.set_role("exp-dev@example.ph", "developer")
    dev = WorkspaceClient(host=server.url, token=server.workspace.tokens.create("exp-dev@example.ph", "exp")[0])
    owner = w.current_user.me().user_name
    private = w.experiments.create_experiment(f"/Users/{owner}/private-forecast").experiment_id
    run_id = w.experiments.create_run(experiment_id=private).run.info.run_id
    w.experiments.log_metric("mae", 1.5, 1, run_id=run_id)
    changes = {
        "rename": lambda: dev.experiments.update_experiment(private, new_name="/Shared/taken"),
        "delete": lambda: dev.experiments.delete_experiment(private),
        "tag": lambda: dev.experiments.set_experiment_tag(private, "owner", "dev"),
        "new run": lambda: dev.experiments.create_run(experiment_id=private),
        "metric": lambda: dev.experiments.log_metric("mae", 9.0, 2, run_id=run_id),
        "batch": lambda: dev.experiments.log_batch(run_id=run_id, params=[Param(key="alpha", value="9")]),
        "run tag": lambda: dev.experiments.set_tag("team", "dev", run_id=run_id),
        "run update": lambda: dev.experiments.update_run(run_id=run_id, status=UpdateRunStatus.KILLED),
        "run delete": lambda: dev.experiments.delete_run(run_id),
    }
    for what, change in changes.items():
        with pytest.raises(PermissionDenied, match="users change what is under /Shared and their own"):
            change()
            pytest.fail(f"{what}: not refused")
    kept = w.experiments.get_experiment(private).experiment
    assert (kept.name, kept.lifecycle_stage) == (f"/Users/{owner}/private-forecast", "active")
    run = w.experiments.get_run(run_id).run
    assert [m.value for m in run.data.metrics or []] == [1.5] and not run.data.params
    assert not [t for t in run.data.tags or [] if t.key == "team"]
    assert run.info.lifecycle_stage == "active" and run.info.status != RunInfoStatus.KILLED
    shared = dev.experiments.create_experiment("/Shared/dev-may-change").experiment_id
    own_run = w.experiments.create_run(experiment_id=shared).run.info.run_id  # the admin's run in /Shared
    dev.experiments.log_metric("mae", 2.0, 1, run_id=own_run)
    dev.experiments.set_experiment_tag(shared, "owner", "dev")
    dev.experiments.delete_run(own_run)
    dev.experiments.delete_experiment(shared)
    assert w.experiments.get_experiment(shared).experiment.lifecycle_stage == "deleted"
