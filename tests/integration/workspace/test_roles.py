"""Roles: read-only users query but do not write; a production workspace takes deploys only from a service
principal; the owner is admin."""

from __future__ import annotations

import base64

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied
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
