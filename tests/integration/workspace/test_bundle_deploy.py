"""Bundle validate → deploy → run → re-deploy → destroy of databricks/ against a local workspace, via the SDK."""

from datetime import date
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound

from odoolake.bundles.deploy import deploy, destroy, read_state, run, run_pipeline_update
from odoolake.bundles.loader import load_bundle
from odoolake.datagen import GenConfig, generate
from tests.integration.workspace.conftest import running_server

REPO_BUNDLE = Path(__file__).resolve().parents[3] / "databricks"


def test_round_trip_of_the_project_bundle(tmp_path):
    with running_server(tmp_path / "ws") as server:
        w = WorkspaceClient(host=server.url, token=server.token)
        generate(GenConfig(months=2, end=date(2026, 10, 1), lines=4000, seed=5),
                 server.workspace.paths.dbfs_to_local("dbfs:/raw/odoo"))
        user = w.current_user.me().user_name
        bundle = load_bundle(REPO_BUNDLE, "local", user=user, env={})
        first = deploy(w, bundle)
        assert [a.kind for a in first.actions if a.resource == "jobs.bir_etl"] == ["create"]
        job_id = int(read_state(w, bundle)["jobs.bir_etl"])
        job = w.jobs.get(job_id)
        users = [e for e in w.jobs.get_permissions(str(job_id)).access_control_list if e.group_name == "users"]
        assert [p.permission_level.value for p in users[0].all_permissions] == ["CAN_MANAGE_RUN"]  # the bundle's CAN_RUN
        # local: development mode (schedules paused) without a name prefix, one developer per local workspace
        assert job.settings.name == "BIR Month-End ETL" and job.settings.schedule.pause_status.value == "PAUSED"
        state = read_state(w, bundle)
        experiment = w.experiments.get_experiment(state["experiments.bir_forecasting"]).experiment
        assert experiment.name == "/Shared/Experiments/BIR_Tax_Forecasting"
        assert experiment.artifact_location == "dbfs:/mlflow/bir_forecasting"  # kept as given, as on Databricks
        assert w.model_registry.get_model("bir_tax_forecaster").registered_model_databricks.name == "bir_tax_forecaster"
        endpoint = next(a for a in first.actions if a.resource == "model_serving_endpoints.bir_forecast")
        assert endpoint.kind == "skip" and "deferred" in endpoint.detail and "champion" in endpoint.detail
        nb = next(t for t in job.settings.tasks if t.task_key == "bronze_ingestion").notebook_task.notebook_path
        assert nb == f"{bundle.config['workspace']['file_path']}/src/etl/bronze_ingestion"
        assert w.workspace.get_status(nb).object_type.value == "NOTEBOOK"
        wheel = job.settings.tasks[0].libraries[0].whl  # built by the bundle's artifacts and uploaded
        assert wheel.startswith(bundle.config["workspace"]["artifact_path"] + "/.internal/odoolake-")
        assert w.workspace.get_status(wheel).object_type.value == "FILE"
        finished = run(w, bundle, "bir_etl")
        assert finished.state.result_state.value == "SUCCESS", [
            (t.task_key, w.jobs.get_run_output(t.run_id).error) for t in finished.tasks
            if t.state.result_state and t.state.result_state.value != "SUCCESS"]
        tasks = {t.task_key: t for t in finished.tasks}
        assert set(tasks) >= {"bir_forms", "features", "train_forecaster", "score_forecast"}
        # two months of data is too little history to train on: the task says so instead of failing the month-end
        exit_value = w.jobs.get_run_output(tasks["train_forecaster"].run_id).notebook_output.result
        assert "Not enough history to train" in exit_value
        assert run_pipeline_update(w, bundle, "scout_dlt").state == "COMPLETED"
        assert run_pipeline_update(w, bundle, "scout_dlt", validate_only=True).state == "COMPLETED"
        pipeline_id = read_state(w, bundle)["pipelines.scout_dlt"]
        assert w.pipelines.get(pipeline_id).spec.development is True  # development mode
        again = deploy(w, bundle)  # updates in place
        assert [a.kind for a in again.actions if a.resource == "jobs.bir_etl"] == ["update"]
        assert int(read_state(w, bundle)["jobs.bir_etl"]) == job_id
        other = w.jobs.create(name="not from the bundle")
        assert sorted(destroy(w, bundle)) == ["experiments.bir_forecasting", "jobs.bir_etl", "models.bir_tax_forecaster",
                                              "pipelines.scout_dlt"]
        try:
            w.model_registry.get_model("bir_tax_forecaster")
            raise AssertionError("the bundle's registered model should be gone")
        except NotFound:
            pass
        assert w.jobs.get(other.job_id).settings.name == "not from the bundle"  # only what the bundle created
        try:
            w.jobs.get(job_id)
            raise AssertionError("the bundle's job should be gone")
        except NotFound:
            pass
        # deployed again: the experiment destroy deleted keeps its name, so it is restored, and is the bundle's
        # (it stayed deleted, adopted, and a later destroy left it)
        redeployed = {a.resource: (a.kind, a.detail) for a in deploy(w, bundle).actions}
        assert redeployed["experiments.bir_forecasting"] == ("update", "restored the deleted experiment "
                                                                       "/Shared/Experiments/BIR_Tax_Forecasting")
        ident = read_state(w, bundle)["experiments.bir_forecasting"]
        assert w.experiments.get_experiment(ident).experiment.lifecycle_stage == "active"
        assert "experiments.bir_forecasting" in destroy(w, bundle)
        assert w.experiments.get_experiment(ident).experiment.lifecycle_stage == "deleted"


def test_ml_resources_adopt_what_training_created_and_serve_it(forecast_lake):
    """On a lake where training already registered bir_tax_forecaster, deploy adopts the experiment and model,
    creates the endpoint following the champion alias, and destroy removes only the endpoint."""
    with running_server(forecast_lake.paths.home) as server:
        w = WorkspaceClient(host=server.url, token=server.token)
        bundle = load_bundle(REPO_BUNDLE, "local", user=w.current_user.me().user_name, env={})
        result = deploy(w, bundle)
        kinds = {a.resource: (a.kind, a.detail) for a in result.actions}
        assert kinds["experiments.bir_forecasting"][0] == "update" and "adopted" in kinds["experiments.bir_forecasting"][1]
        assert kinds["models.bir_tax_forecaster"][0] == "update" and "adopted" in kinds["models.bir_tax_forecaster"][1]
        assert kinds["model_serving_endpoints.bir_forecast"][0] == "create"
        answer = w.serving_endpoints.query("bir-forecast", dataframe_records=[{"agency": "BOM", "period": "2026-12"}])
        assert answer.served_model_name == "bir_tax_forecaster-champion" and len(answer.predictions) == 1
        assert answer.predictions[0]["p10"] <= answer.predictions[0]["p50"] <= answer.predictions[0]["p90"]
        assert deploy(w, bundle).actions  # idempotent re-deploy updates the endpoint's config in place
        assert w.serving_endpoints.get("bir-forecast").config.config_version == 2
        assert "model_serving_endpoints.bir_forecast" in destroy(w, bundle)
        w.model_registry.get_model("bir_tax_forecaster")  # adopted: still there, with its versions
        try:
            w.serving_endpoints.get("bir-forecast")
            raise AssertionError("the bundle's endpoint should be gone")
        except NotFound:
            pass
