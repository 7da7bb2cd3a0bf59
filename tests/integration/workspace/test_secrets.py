"""Secrets: the Secrets API with ACLs and values sealed at rest; a task reads only the secrets it asks for, as its
run's principal, and never finds one in its environment; every byte a task (or its child) writes is redacted."""

from __future__ import annotations

import base64
import contextlib
import json

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound, PermissionDenied, ResourceAlreadyExists
from databricks.sdk.service.jobs import JobRunAs, NotebookTask, RunResultState, Task
from databricks.sdk.service.workspace import AclPermission, ImportFormat, Language

SECRET = "odoo-api-key-7f3a9c"

LEAKY = """# Databricks notebook source
dbutils.widgets.text("from_param", "")
key = dbutils.secrets.get("odoo", "api_key")
print("the key is", key, "and the parameter is", dbutils.widgets.get("from_param"))
dbutils.jobs.taskValues.set(key="copy", value=key)
if dbutils.widgets.get("fail") == "yes":
    raise RuntimeError(f"could not log in with {key}")
dbutils.notebook.exit(f"used {key}")
"""

AROUND_THE_STREAMS = """# Databricks notebook source
import os, subprocess, sys
key = dbutils.secrets.get("odoo", "api_key")
os.write(1, f"fd one {key}\\n".encode())
os.write(2, f"fd two {key}\\n".encode())
sys.__stdout__.write(f"dunder {key}\\n"); sys.__stdout__.flush()
half = len(key) // 2
os.write(1, f"split {key[:half]}".encode()); os.write(1, f"{key[half:]} end\\n".encode())
subprocess.run(["sh", "-c", f"echo child {key}"], check=True)
print("environment has", sorted(k for k in os.environ if k.startswith("ODOOLAKE_SECRET")))
print("planted value present:", "planted-env-value" in "".join(os.environ.values()))
"""


def _notebook(w, path: str, source: str) -> None:
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(path, content=base64.b64encode(source.encode()).decode(), format=ImportFormat.SOURCE,
                        language=Language.PYTHON, overwrite=True)


@pytest.fixture(scope="module")
def odoo_scope(w):
    with contextlib.suppress(ResourceAlreadyExists):
        w.secrets.create_scope("odoo")
    w.secrets.put_secret("odoo", "api_key", string_value=SECRET)
    return "odoo"


def test_secret_values_are_redacted_everywhere(w, server, odoo_scope):
    _notebook(w, "/Shared/secrets/leaky", LEAKY)
    for fail in ("no", "yes"):
        job = w.jobs.create(name=f"leaky {fail}", tasks=[Task(task_key="leak", notebook_task=NotebookTask(
            notebook_path="/Shared/secrets/leaky",
            base_parameters={"from_param": "{{secrets/odoo/api_key}}", "fail": fail}))])
        run = w.jobs.run_now(job_id=job.job_id).result()
        expected = RunResultState.SUCCESS if fail == "no" else RunResultState.FAILED
        assert run.state.result_state == expected
        output = w.jobs.get_run_output(run.tasks[0].run_id)
        everything = json.dumps(output.as_dict()) + json.dumps(w.jobs.get_run(run.run_id).as_dict())
        assert SECRET not in everything
        if fail == "no":
            assert "the key is [REDACTED] and the parameter is [REDACTED]" in output.logs
            assert output.notebook_output.result == "used [REDACTED]"
        else:
            assert "could not log in with [REDACTED]" in output.error and "[REDACTED]" in output.error_trace
        stored = "".join(p.read_text() for p in (server.workspace.paths.home / "runs").rglob("*") if p.is_file())
        assert SECRET not in stored  # task spec, result and stdout.log on disk
    rows = server.workspace.db.connect().execute("SELECT body FROM task_outputs").fetchall()
    assert rows and not any(SECRET in r["body"] for r in rows)


def test_every_byte_a_task_writes_is_redacted_and_its_environment_holds_no_secret(w, server, odoo_scope,
                                                                                  monkeypatch):
    monkeypatch.setenv("ODOOLAKE_SECRET_PLANTED_VALUE", "planted-env-value")  # the server's own environment
    _notebook(w, "/Shared/secrets/streams", AROUND_THE_STREAMS)
    run = w.jobs.submit(run_name="streams", tasks=[Task(task_key="t", notebook_task=NotebookTask(
        notebook_path="/Shared/secrets/streams"))]).result()
    assert run.state.result_state == RunResultState.SUCCESS, run.tasks[0].state.state_message
    logs = w.jobs.get_run_output(run.tasks[0].run_id).logs
    for line in ("fd one [REDACTED]", "fd two [REDACTED]", "dunder [REDACTED]", "split [REDACTED] end",
                 "child [REDACTED]", "environment has []", "planted value present: False"):
        assert line in logs, logs
    assert SECRET not in logs
    stored = b"".join(p.read_bytes() for p in (server.workspace.paths.home / "runs").rglob("stdout.log"))
    assert SECRET.encode() not in stored


def test_the_secrets_api_with_acls_and_sealed_values(w, server):
    w.secrets.create_scope("erp")
    with pytest.raises(ResourceAlreadyExists, match="Scope erp already exists"):
        w.secrets.create_scope("erp")
    w.secrets.put_secret("erp", "password", string_value="s3cr3t-erp-pass")
    w.secrets.put_secret("erp", "cert", bytes_value=base64.b64encode(b"\x00\x01binary").decode())
    assert [s.key for s in w.secrets.list_secrets("erp")] == ["cert", "password"]
    assert base64.b64decode(w.secrets.get_secret("erp", "password").value) == b"s3cr3t-erp-pass"
    assert any(s.name == "erp" and s.backend_type.value == "DATABRICKS" for s in w.secrets.list_scopes())
    database = (server.workspace.paths.home / "workspace.db").read_bytes() + b"".join(
        p.read_bytes() for p in server.workspace.paths.home.glob("workspace.db-*"))
    assert b"s3cr3t-erp-pass" not in database and b"binary" not in database  # sealed at rest

    reader_token = server.workspace.tokens.create("erp-reader@example.ph", "secrets test")[0]
    reader = WorkspaceClient(host=server.url, token=reader_token)
    with pytest.raises(PermissionDenied, match="needs READ permission on secret scope erp"):
        reader.secrets.get_secret("erp", "password")
    with pytest.raises(BadRequest, match=r"erp-reader@example\.ph is not a user of this workspace"):
        w.secrets.put_acl("erp", "erp-reader@example.ph", AclPermission.READ)  # not one until an admin adds it
    server.workspace.roles.set_role("erp-reader@example.ph", "developer")
    w.secrets.put_acl("erp", "erp-reader@example.ph", AclPermission.READ)
    assert base64.b64decode(reader.secrets.get_secret("erp", "password").value) == b"s3cr3t-erp-pass"
    with pytest.raises(PermissionDenied, match="needs WRITE permission"):
        reader.secrets.put_secret("erp", "password", string_value="overwritten")
    with pytest.raises(PermissionDenied, match="needs MANAGE permission"):
        reader.secrets.put_acl("erp", "erp-reader@example.ph", AclPermission.MANAGE)
    assert {(a.principal, a.permission.value) for a in w.secrets.list_acls("erp")} == {
        (server.workspace.user, "MANAGE"), ("erp-reader@example.ph", "READ")}
    w.secrets.delete_acl("erp", "erp-reader@example.ph")
    with pytest.raises(PermissionDenied):
        reader.secrets.list_secrets("erp")

    with pytest.raises(BadRequest, match="Exactly one of string_value and bytes_value"):
        w.secrets.put_secret("erp", "both", string_value="a", bytes_value="YQ==")
    with pytest.raises(BadRequest, match="Invalid key"):
        w.secrets.put_secret("erp", "no spaces allowed", string_value="a")
    with pytest.raises(NotFound, match="Scope nope does not exist"):
        w.secrets.put_secret("nope", "k", string_value="a")
    assert [s.key for s in w.secrets.list_secrets("erp")] == ["cert", "password"]  # nothing bad was stored
    w.secrets.delete_secret("erp", "cert")
    w.secrets.delete_scope("erp")
    with pytest.raises(NotFound):
        w.secrets.list_secrets("erp")


def test_a_task_reads_secrets_as_its_run_principal_and_its_credential_does_nothing_else(w, server, odoo_scope):
    server.workspace.roles.set_role("etl-robot@example.ph", "service_principal")
    _notebook(w, "/Shared/secrets/whoami", "# Databricks notebook source\n"
              "import os, urllib.request\n"
              "req = urllib.request.Request(os.environ['ODOOLAKE_WORKSPACE_URL'] + '/api/2.2/jobs/list', headers="
              "{'Authorization': 'Bearer ' + os.environ['ODOOLAKE_TASK_CREDENTIAL']})\n"
              "try:\n    urllib.request.urlopen(req)\nexcept Exception as exc:\n    print('api refused:', exc)\n"
              "print('credential', os.environ['ODOOLAKE_TASK_CREDENTIAL'])\n"
              "dbutils.secrets.get('odoo', 'api_key')\n")
    job = w.jobs.create(name="as robot", run_as=JobRunAs(service_principal_name="etl-robot@example.ph"),
                        tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/secrets/whoami"))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    out = w.jobs.get_run_output(run.tasks[0].run_id)
    assert "etl-robot@example.ph needs READ permission on secret scope odoo" in out.error
    assert "api refused: HTTP Error 401" in out.logs and "credential [REDACTED]" in out.logs
    w.secrets.put_acl("odoo", "etl-robot@example.ph", AclPermission.READ)
    assert w.jobs.run_now(job_id=job.job_id).result().state.result_state == RunResultState.SUCCESS
    stale = httpx.get(f"{server.url}/_odoolake/task/secrets/get", params={"scope": "odoo", "key": "api_key"},
                      headers={"Authorization": f"Bearer {server.token}"})
    assert stale.status_code == 401  # a personal token is not a task credential, and no task is running
