"""``odoolake up --detach``, ``tokens create/list/revoke`` (owner mode and through the API), ``down``."""

import json
import os
import subprocess
import sys

from databricks.sdk import WorkspaceClient

from odoolake.workspace.engine.host import status_file
from odoolake.workspace.engine.launcher import host_gone, no_host
from tests.integration.workspace.conftest import free_port


def odoolake(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odoolake.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_up_tokens_down(tmp_path):
    port = free_port()
    env = {**os.environ, "ODOOLAKE_HOME": str(tmp_path / "home"), "COLUMNS": "200",
           "DATABRICKS_CONFIG_FILE": str(tmp_path / "databrickscfg")}
    env.pop("DATABRICKS_TOKEN", None)
    env.pop("DATABRICKS_HOST", None)
    started = odoolake("up", "--detach", "--port", str(port), "--write-profile", "local", env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        assert f"https://127.0.0.1:{port}" in started.stdout and "wrote profile local" in started.stdout
        created = odoolake("tokens", "create", "--comment", "ci", "--lifetime-seconds", "3600", "-o", "json", env=env)
        assert created.returncode == 0, created.stderr
        token = json.loads(created.stdout)
        assert token["token_value"].startswith("dapi") and token["token_info"]["comment"] == "ci"
        w = WorkspaceClient(host=f"http://127.0.0.1:{port}", token=token["token_value"])
        assert w.current_user.me().user_name
        via_profile = odoolake("tokens", "list", "-o", "json", "--profile", "local", env=env)
        assert via_profile.returncode == 0, via_profile.stderr
        assert "ci" in [t["comment"] for t in json.loads(via_profile.stdout)["token_infos"]]
        shown = odoolake("tokens", "list", "--profile", "local", env={**env, "COLUMNS": "80"})
        assert shown.returncode == 0 and " UTC" in shown.stdout  # times people read, not epoch milliseconds
        assert token["token_info"]["token_id"] in shown.stdout  # whole: revoke needs it
        revoked = odoolake("tokens", "revoke", token["token_info"]["token_id"], env=env)
        assert revoked.returncode == 0
        again = odoolake("up", "--detach", "--port", str(port), env=env)
        assert again.returncode == 1 and "already running" in again.stderr
        assert not no_host(tmp_path / "home")  # the workspace holds its engine
        engine_pid = json.loads(status_file(tmp_path / "home").read_text())["pid"]
    finally:
        stopped = odoolake("down", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert no_host(tmp_path / "home")  # down returns once the engine has exited too: a restart finds none
    assert host_gone({"pid": engine_pid})  # exited, not only withdrawn: a start removes only a gone host's folder


def test_spark_connect_on_the_host_up_was_given_passes_the_name_check_on_the_first_up(tmp_path):
    """The engine host serves Spark Connect's TLS with the certificate it finds when it starts: `up --host` makes
    that one name the host first (it used to be made with loopback names only, and the name added too late)."""
    port, host = free_port(), "127.0.0.2"  # a loopback address, but not one of the certificate's usual names
    home = tmp_path / "home"
    env = {**os.environ, "ODOOLAKE_HOME": str(home), "COLUMNS": "200",
           "DATABRICKS_CONFIG_FILE": str(tmp_path / "databrickscfg")}
    started = odoolake("up", "--detach", "--host", host, "--port", str(port), env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        created = odoolake("tokens", "create", "--comment", "tls", "-o", "json", env=env)
        token = json.loads(created.stdout)["token_value"]
        client = ("from pyspark.sql import SparkSession\nimport sys\n"
                  "spark = SparkSession.builder.remote(sys.argv[1]).create()\n"
                  "print(spark.sql('SELECT 41 + 1 AS n').first()['n'])\n")
        script = tmp_path / "client.py"  # a file: PySpark looks for a Spark installation when run with -c
        script.write_text(client)
        ran = subprocess.run([sys.executable, str(script), f"sc://{host}:{port}/;use_ssl=true;token={token}"],
                             capture_output=True, text=True, timeout=90,  # a failed name check: retried until then
                             env={"PATH": "/usr/bin:/bin",
                                  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": str(home / "tls" / "ca-bundle.pem")})
        assert ran.stdout.strip().splitlines()[-1:] == ["42"], ran.stderr[-2000:]
    finally:
        odoolake("down", env=env)
