"""Roles: read-only users query but do not write; a production workspace takes deploys only from a service
principal; the owner is admin."""

from __future__ import annotations

import base64

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, PermissionDenied, Unauthenticated
from databricks.sdk.service.jobs import NotebookTask, Task
from databricks.sdk.service.sql import StatementState
from databricks.sdk.service.workspace import ImportFormat, Language

from odoolake.bundles.deploy import deploy
from odoolake.bundles.loader import load_bundle

from .conftest import running_server
from .test_bundle_deploy import REPO_BUNDLE


def _token(srv, user: str, role: str | None) -> str:
    if role:
        srv.workspace.roles.set_role(user, role)
    return srv.workspace.tokens.create(user, f"{role} test")[0]


def test_read_only_users_query_but_cannot_write(tmp_path):
    with running_server(tmp_path / "ws") as srv:
        owner = WorkspaceClient(host=srv.url, token=srv.token)
        reader = WorkspaceClient(host=srv.url, token=_token(srv, "auditor@example.ph", "read_only"))
        wh = next(iter(owner.warehouses.list())).id
        owner.statement_execution.execute_statement(
            statement="CREATE TABLE default.audit_demo AS SELECT 1 AS x", warehouse_id=wh, wait_timeout="30s")
        assert [j.job_id for j in reader.jobs.list()] == [j.job_id for j in owner.jobs.list()]
        result = reader.statement_execution.execute_statement(statement="SELECT COUNT(*) FROM default.audit_demo",
                                                               warehouse_id=wh, wait_timeout="30s")
        assert result.result.data_array == [["1"]]
        for sql in ("DROP TABLE default.audit_demo", "INSERT INTO default.audit_demo VALUES (2)",
                    "CREATE TABLE default.mine AS SELECT 1 AS x"):
            refused = reader.statement_execution.execute_statement(statement=sql, warehouse_id=wh, wait_timeout="30s")
            assert refused.status.state == StatementState.FAILED, sql
            assert refused.status.sql_state == "42501"  # insufficient privilege
            assert "[READ_ONLY_PRINCIPAL] auditor@example.ph is read-only" in refused.status.error.message
        two = reader.statement_execution.execute_statement(statement="SELECT 1; DELETE FROM default.audit_demo",
                                                           warehouse_id=wh, wait_timeout="30s")
        assert two.status.state == StatementState.FAILED and "one SQL statement" in two.status.error.message
        with pytest.raises(PermissionDenied, match=r"auditor@example.ph is read-only"):
            reader.jobs.create(name="nope", tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/x"))])
        with pytest.raises(PermissionDenied):
            reader.workspace.mkdirs("/Shared/nope")
        assert reader.tokens.create(comment="mine").token_value  # their own tokens stay theirs to manage
        after = owner.statement_execution.execute_statement(statement="SELECT COUNT(*) FROM default.audit_demo",
                                                             warehouse_id=wh, wait_timeout="30s")
        assert after.result.data_array == [["1"]]  # nothing the reader tried was written


def test_production_workspace_accepts_deploys_only_from_the_service_principal(tmp_path):
    with running_server(tmp_path / "prod", production=True) as srv:
        developer = WorkspaceClient(host=srv.url, token=_token(srv, "dev@example.ph", "developer"))
        admin = WorkspaceClient(host=srv.url, token=srv.token)
        robot = WorkspaceClient(host=srv.url, token=_token(srv, "ci-deployer@example.ph", "service_principal"))
        bundle = load_bundle(REPO_BUNDLE, "local", user="ci-deployer@example.ph", env={})
        for who in (developer, admin):
            with pytest.raises(PermissionDenied, match=r"production workspace.*only from a service principal"):
                deploy(who, bundle)
        result = deploy(robot, bundle)
        job_id = int(result.ids["jobs.bir_etl"])
        assert robot.jobs.get(job_id).settings.name == "BIR Month-End ETL"
        with pytest.raises(PermissionDenied):
            developer.jobs.delete(job_id)
        source = base64.b64encode(b"# Databricks notebook source\nprint(1)\n").decode()
        with pytest.raises(PermissionDenied):
            developer.workspace.import_("/Shared/hotfix", content=source, format=ImportFormat.SOURCE,
                                        language=Language.PYTHON, overwrite=True)
        runs = httpx.post(f"{srv.url}/api/2.1/jobs/run-now", json={"job_id": job_id},
                          headers={"Authorization": f"Bearer {developer.config.token}"})
        assert runs.status_code == 200  # operating the deployed job stays open to developers
        developer.jobs.cancel_all_runs(job_id=job_id)


def test_tokens_are_revoked_only_by_their_owner_or_an_admin(server, w):
    reader_token = _token(server, "reader@example.ph", "read_only")
    reader = WorkspaceClient(host=server.url, token=reader_token)
    developer = WorkspaceClient(host=server.url, token=_token(server, "builder@example.ph", "developer"))
    admin_token = w.tokens.create(comment="admin's own")
    for stranger in (reader, developer):
        with pytest.raises(PermissionDenied, match="only its owner or an admin may revoke it"):
            stranger.tokens.delete(admin_token.token_info.token_id)
    assert WorkspaceClient(host=server.url, token=admin_token.token_value).current_user.me().user_name  # still valid
    mine = reader.tokens.create(comment="reader's second")
    reader.tokens.delete(mine.token_info.token_id)  # their own: allowed
    builders = developer.tokens.create(comment="builder's")
    w.tokens.delete(builders.token_info.token_id)  # an admin may revoke anyone's
    with pytest.raises(Unauthenticated):
        WorkspaceClient(host=server.url, token=builders.token_value).current_user.me()


def test_current_user_is_in_admins_only_when_an_admin(server, w):
    """SCIM Me said every principal was in ``admins``: tools read that group as the right to administer."""
    def groups(token: str) -> list[str]:
        me = WorkspaceClient(host=server.url, token=token).current_user.me()
        return sorted(g.display for g in me.groups or [])

    assert groups(server.token) == ["admins", "users"]
    assert groups(_token(server, "reader-me@example.ph", "read_only")) == ["users"]
    assert groups(_token(server, "dev-me@example.ph", "developer")) == ["users"]


def test_read_only_users_cancel_their_own_statements_only(server, w):
    reader = WorkspaceClient(host=server.url, token=_token(server, "canceller@example.ph", "read_only"))
    wh = next(iter(w.warehouses.list())).id
    own = reader.statement_execution.execute_statement(statement="SELECT 2 AS two", warehouse_id=wh,
                                                       wait_timeout="0s")
    reader.statement_execution.cancel_execution(own.statement_id)  # allowed (a no-op once it has finished)
    theirs = w.statement_execution.execute_statement(statement="SELECT 3 AS three", warehouse_id=wh, wait_timeout="0s")
    with pytest.raises(PermissionDenied, match="only its owner or an admin may cancel it"):
        reader.statement_execution.cancel_execution(theirs.statement_id)
    with pytest.raises(BadRequest, match="Invalid statement: expected a non-empty SQL string, got list"):
        reader.api_client.do("POST", "/api/2.0/sql/statements", body={"statement": ["SELECT 1"], "warehouse_id": wh})


def test_production_refuses_every_path_that_changes_deployed_code_or_data(tmp_path):
    import io

    from databricks.sdk.service.jobs import SparkPythonTask

    with running_server(tmp_path / "prod", production=True) as srv:
        robot = WorkspaceClient(host=srv.url, token=_token(srv, "ci-deployer@example.ph", "service_principal"))
        developer = WorkspaceClient(host=srv.url, token=_token(srv, "dev@example.ph", "developer"))
        admin = WorkspaceClient(host=srv.url, token=srv.token)
        wh = next(iter(robot.warehouses.list())).id
        deployed = b"# Databricks notebook source\nprint('deployed by CI')\n"
        robot.workspace.mkdirs("/Shared/etl")
        robot.workspace.upload("/Shared/etl/job", deployed, format=ImportFormat.SOURCE, language=Language.PYTHON)
        robot.dbfs.upload("/scripts/etl.py", io.BytesIO(b"print('deployed')\n"))
        robot.files.upload("/Volumes/main/default/vol/rates.csv", io.BytesIO(b"atc,rate\nWC158,0.01\n"))
        robot.statement_execution.execute_statement(statement="CREATE TABLE default.prod_t AS SELECT 1 AS x",
                                                    warehouse_id=wh, wait_timeout="30s")
        rewrite = "print('hacked')\n"
        attempts = {
            "dbfs put": lambda c: c.dbfs.upload("/scripts/etl.py", io.BytesIO(rewrite.encode()), overwrite=True),
            "dbfs delete": lambda c: c.dbfs.delete("/scripts/etl.py"),
            "dbfs mkdirs": lambda c: c.dbfs.mkdirs("/scripts/new"),
            "files put": lambda c: c.files.upload("/Volumes/main/default/vol/rates.csv", io.BytesIO(b"atc,rate\n"),
                                                  overwrite=True),
            "files delete": lambda c: c.files.delete("/Volumes/main/default/vol/rates.csv"),
            "workspace import": lambda c: c.workspace.upload("/Shared/etl/job", b"# Databricks notebook source\n1",
                                                             format=ImportFormat.SOURCE, language=Language.PYTHON,
                                                             overwrite=True),
            "import-file": lambda c: c.api_client.do("POST", "/api/2.0/workspace-files/import-file/Shared/etl/x.py",
                                                     data=b"print(1)", query={"overwrite": "true"}),
            "runs submit": lambda c: c.jobs.submit(run_name="hotfix", tasks=[Task(
                task_key="t", spark_python_task=SparkPythonTask(python_file="dbfs:/scripts/etl.py"))]),
        }
        for who in (developer, admin):
            for name, attempt in attempts.items():
                with pytest.raises(PermissionDenied, match="production workspace"):
                    attempt(who)
                    pytest.fail(f"{name} was accepted")
            # SQL writes are the engine's rule, as every path to it: the statement fails, naming the rule.
            for sql in ("INSERT INTO default.prod_t VALUES (2)", "DROP TABLE default.prod_t"):
                refused = who.statement_execution.execute_statement(statement=sql, warehouse_id=wh, wait_timeout="30s")
                assert refused.status.state == StatementState.FAILED, sql
                assert "[PRODUCTION_WRITE] This is a production workspace" in refused.status.error.message
        assert robot.workspace.download("/Shared/etl/job").read() == deployed
        assert robot.dbfs.download("/scripts/etl.py").read() == b"print('deployed')\n"
        assert robot.files.download("/Volumes/main/default/vol/rates.csv").contents.read() == b"atc,rate\nWC158,0.01\n"
        count = developer.statement_execution.execute_statement(statement="SELECT COUNT(*) FROM default.prod_t",
                                                                warehouse_id=wh, wait_timeout="30s")
        assert count.result.data_array == [["1"]]  # developers still read
        robot.statement_execution.execute_statement(statement="INSERT INTO default.prod_t VALUES (2)",
                                                    warehouse_id=wh, wait_timeout="30s")  # the service principal writes
