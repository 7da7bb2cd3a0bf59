"""`-t prod` against a second workspace started as the "remote" production host with its own token: the same
SDK deploy path a real Azure Databricks workspace gets. Production rules hold there, only the service principal
may deploy, and the deployed job runs."""

from __future__ import annotations

from datetime import date

from databricks.sdk import WorkspaceClient
from typer.testing import CliRunner

from odoolake.cli.main import app
from odoolake.datagen import GenConfig, generate
from odoolake.testing.workspace import task_logs

from .conftest import running_server
from .test_bundle_deploy import REPO_BUNDLE


def test_prod_target_deploys_to_a_remote_workspace_and_runs_there(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_BUNDLE.parent)
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    runner = CliRunner()
    with running_server(tmp_path / "laptop") as laptop, running_server(tmp_path / "remote", production=True) as remote:
        remote.workspace.roles.set_role("bir-etl-deployer", "service_principal")
        robot_token, _ = remote.workspace.tokens.create("bir-etl-deployer", "CI deploys")
        developer_token, _ = remote.workspace.tokens.create("dev@example.ph", "a developer")
        generate(GenConfig(months=2, end=date(2026, 10, 1), lines=4000, seed=5),
                 remote.workspace.paths.dbfs_to_local("dbfs:/raw/odoo"))
        args = ["-t", "prod", "--var", f"prod_host={remote.url}"]

        refused = runner.invoke(app, ["bundle", "deploy", *args], env={"DATABRICKS_TOKEN": developer_token})
        assert refused.exit_code == 1 and "only from a service principal" in refused.output

        deployed = runner.invoke(app, ["bundle", "deploy", *args], env={"DATABRICKS_TOKEN": robot_token})
        assert deployed.exit_code == 0, deployed.output
        ran = runner.invoke(app, ["bundle", "run", "bir_etl", *args], env={"DATABRICKS_TOKEN": robot_token})
        assert ran.exit_code == 0, ran.output + task_logs(remote.workspace.paths.home)
        assert "SUCCESS" in ran.output

        w = WorkspaceClient(host=remote.url, token=robot_token)
        [job] = list(w.jobs.list(name="BIR Month-End ETL"))  # production: no development prefix
        settings = w.jobs.get(job.job_id)
        assert settings.run_as_user_name == "bir-etl-deployer"
        assert settings.settings.schedule.pause_status.value == "UNPAUSED"
        root = "/Workspace/Shared/.bundle/odoo-ce-databricks/prod"
        assert next(t for t in settings.settings.tasks if t.task_key == "bronze_ingestion") \
            .notebook_task.notebook_path == f"{root}/files/src/etl/bronze_ingestion"
        [pipeline] = [p for p in w.pipelines.list_pipelines() if p.name == "Scout Transaction DLT"]
        assert not w.pipelines.get(pipeline.pipeline_id).spec.development
        laptop_jobs = list(WorkspaceClient(host=laptop.url, token=laptop.token).jobs.list())
        assert laptop_jobs == []  # the developer's own workspace was not touched


def test_oauth_machine_to_machine_as_ci_uses_it(tmp_path, monkeypatch):
    from databricks.sdk.errors import DatabricksError

    monkeypatch.chdir(REPO_BUNDLE.parent)
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    with running_server(tmp_path / "remote", production=True) as remote:
        remote.workspace.roles.set_role("bir-etl-deployer", "service_principal")
        secret = remote.workspace.oauth.create_secret("bir-etl-deployer")
        w = WorkspaceClient(host=remote.url, client_id="bir-etl-deployer", client_secret=secret)
        assert w.config.auth_type == "oauth-m2m"
        assert w.current_user.me().user_name == "bir-etl-deployer"
        deployed = CliRunner().invoke(app, ["bundle", "deploy", "-t", "prod", "--var", f"prod_host={remote.url}"],
                                      env={"DATABRICKS_CLIENT_ID": "bir-etl-deployer",
                                           "DATABRICKS_CLIENT_SECRET": secret})
        assert deployed.exit_code == 0, deployed.output
        try:
            WorkspaceClient(host=remote.url, client_id="bir-etl-deployer", client_secret="wrong").current_user.me()
            raise AssertionError("a wrong client secret must not authenticate")
        except (DatabricksError, ValueError) as exc:
            assert "invalid_client" in str(exc) or "authenticate" in str(exc).lower()
