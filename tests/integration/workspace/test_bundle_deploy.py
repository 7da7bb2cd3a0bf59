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
        assert job.settings.name.startswith("[dev ") and job.settings.schedule.pause_status.value == "PAUSED"
        nb = job.settings.tasks[0].notebook_task.notebook_path
        assert nb == f"{bundle.config['workspace']['file_path']}/src/etl/bronze_ingestion"
        assert w.workspace.get_status(nb).object_type.value == "NOTEBOOK"
        finished = run(w, bundle, "bir_etl")
        assert finished.state.result_state.value == "SUCCESS", [t.state.state_message for t in finished.tasks]
        tasks = {t.task_key: t for t in finished.tasks}
        assert set(tasks) >= {"bir_forms", "features", "train_forecaster", "score_forecast"}
        # two months of data is too little history to train on: the task says so instead of failing the month-end
        exit_value = w.jobs.get_run_output(tasks["train_forecaster"].run_id).notebook_output.result
        assert "Not enough history to train" in exit_value
        assert run_pipeline_update(w, bundle, "scout_dlt") == "COMPLETED"
        pipeline_id = read_state(w, bundle)["pipelines.scout_dlt"]
        assert w.pipelines.get(pipeline_id).spec.development is True  # development mode
        again = deploy(w, bundle)  # updates in place
        assert [a.kind for a in again.actions if a.resource == "jobs.bir_etl"] == ["update"]
        assert int(read_state(w, bundle)["jobs.bir_etl"]) == job_id
        other = w.jobs.create(name="not from the bundle")
        assert destroy(w, bundle) == ["jobs.bir_etl", "pipelines.scout_dlt"]
        assert w.jobs.get(other.job_id).settings.name == "not from the bundle"  # only what the bundle created
        try:
            w.jobs.get(job_id)
            raise AssertionError("the bundle's job should be gone")
        except NotFound:
            pass
