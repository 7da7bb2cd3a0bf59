"""The legacy ``databricks-cli`` (PyPI 0.18) running the seed's commands against the local workspace.

Where the seed's commands do not exist in that CLI they are corrected: ``jobs get-run`` is ``runs get``, and
``workspace import/export`` take ``SOURCE_PATH TARGET_PATH`` positionally (there is no ``--file``/``--path``).
That CLI also drops the port from the host (``api_client.py`` rebuilds the URL from scheme and hostname), so
it can only reach a server on port 80: the fixture serves the same app on 127.77.0.1:80 as well.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from odoolake.testing.waiting import wait_until

CLI = Path(sys.executable).with_name("databricks")


LEGACY_HOST = "127.77.0.1"


@pytest.fixture(scope="module")
def port80(server):
    """The running app, also on LEGACY_HOST:80 (lifespan off: the workspace is already started)."""
    import socket
    import threading

    import uvicorn

    from odoolake.workspace.app import create_app

    try:
        with socket.socket() as probe:
            probe.bind((LEGACY_HOST, 80))
    except OSError as exc:
        pytest.skip(f"the legacy databricks-cli only reaches port 80, which this user cannot bind: {exc}")
    app = create_app(server.workspace.settings, server.workspace)
    uv = uvicorn.Server(uvicorn.Config(app, host=LEGACY_HOST, port=80, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    wait_until(lambda: uv.started, what=f"the app to listen on {LEGACY_HOST}:80")
    yield f"http://{LEGACY_HOST}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def cli(server, port80, tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    env = {**os.environ, "DATABRICKS_HOST": port80, "DATABRICKS_TOKEN": server.token, "HOME": str(home)}

    def run(*args: str) -> str:
        done = subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=120, check=False)
        assert done.returncode == 0, f"databricks {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return run


def test_workspace_ls_import_export(cli, tmp_path):
    nb = tmp_path / "bronze_ingestion.py"
    nb.write_text("# Databricks notebook source\nprint('bronze')\n")
    cli("workspace", "mkdirs", "/Shared/LegacyETL")
    cli("workspace", "import", "--language", "PYTHON", str(nb), "/Shared/LegacyETL/bronze_ingestion")
    assert "bronze_ingestion" in cli("workspace", "ls", "/Shared/LegacyETL")
    out = tmp_path / "exported.py"
    cli("workspace", "export", "--format", "SOURCE", "/Shared/LegacyETL/bronze_ingestion", str(out))
    assert "print('bronze')" in out.read_text()


def test_jobs_list_run_now_and_runs_get(cli, tmp_path):
    nb = tmp_path / "hello.py"
    nb.write_text("# Databricks notebook source\ndbutils.notebook.exit('hello')\n")
    cli("workspace", "import", "--language", "PYTHON", "--overwrite", str(nb), "/Shared/LegacyETL/hello")
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"name": "legacy-cli", "tasks": [
        {"task_key": "hello", "notebook_task": {"notebook_path": "/Shared/LegacyETL/hello"}}]}))
    job_id = json.loads(cli("jobs", "create", "--json-file", str(spec)))["job_id"]
    assert "legacy-cli" in cli("jobs", "list")
    run_id = json.loads(cli("jobs", "run-now", "--job-id", str(job_id)))["run_id"]

    def terminated() -> dict | None:
        run = json.loads(cli("runs", "get", "--run-id", str(run_id)))
        return run if run["state"]["life_cycle_state"] == "TERMINATED" else None

    assert wait_until(terminated, what=f"run {run_id} to terminate")["state"]["result_state"] == "SUCCESS"


def test_clusters_list_get_start(cli):
    listed = cli("clusters", "list")
    assert "odoolake-local" in listed
    cluster_id = listed.split()[0]
    assert json.loads(cli("clusters", "get", "--cluster-id", cluster_id))["state"] == "RUNNING"
    cli("clusters", "start", "--cluster-id", cluster_id)


def test_fs_ls_and_cp_both_ways(cli, tmp_path):
    local = tmp_path / "sample.csv"
    local.write_text("agency,amount\nRIM,1\n")
    cli("fs", "cp", str(local), "dbfs:/raw/sample.csv", "--overwrite")
    assert "sample.csv" in cli("fs", "ls", "dbfs:/raw/")
    back = tmp_path / "back.csv"
    cli("fs", "cp", "dbfs:/raw/sample.csv", str(back))
    assert back.read_text() == local.read_text()
