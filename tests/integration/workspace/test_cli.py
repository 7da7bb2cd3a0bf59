"""``odoolake up --detach``, ``tokens create/list/revoke`` (owner mode and through the API), ``down``."""

import json
import os
import subprocess
import sys

from databricks.sdk import WorkspaceClient

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
        revoked = odoolake("tokens", "revoke", token["token_info"]["token_id"], env=env)
        assert revoked.returncode == 0
        again = odoolake("up", "--detach", "--port", str(port), env=env)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        stopped = odoolake("down", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
