"""A real workspace server on a free loopback port, driven by the official databricks-sdk."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from odoolake.testing.waiting import wait_until
from odoolake.testing.workspace import in_process_workspace
from odoolake.workspace.app import Workspace


@dataclass
class Server:
    url: str  # plain HTTP on the front door's port, as the legacy CLI uses it
    token: str
    workspace: Workspace
    front: Any = None  # the WorkspaceServer: its TLS and front door

    @property
    def https_url(self) -> str:
        return self.url.replace("http://", "https://")

    @property
    def ca_bundle(self) -> str:
        return str(self.workspace.tls.ca_bundle)

    @property
    def spark_url(self) -> str:
        return self.workspace.settings.spark_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(home, **settings_kwargs) -> Iterator[Server]:
    """A workspace server (front door included) in a thread of this process, with one token minted for the tests."""
    with in_process_workspace(home, "integration tests", **settings_kwargs) as running:
        yield Server(running.url, running.token, running.workspace, running.server)


def start_server_process(home, port: int) -> subprocess.Popen:
    """`odoolake up` in its own process (for SIGKILL, memory and load tests), returned once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "odoolake.cli.main", "up", "--home", str(home), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the workspace server process exited with code {proc.returncode}")
        return httpx.get(f"http://127.0.0.1:{port}/_odoolake/health").status_code == 200

    try:
        wait_until(answers, what=f"the workspace server process on port {port}")
    except (TimeoutError, RuntimeError):
        proc.kill()
        raise
    return proc


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("workspace")) as handle:
        yield handle


@pytest.fixture(scope="session")
def w(server: Server):
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=server.url, token=server.token)


def run_client_script(server: Server, folder, script: str, name: str) -> list[str]:
    """A user's script in its own process with only the Databricks environment (host, token, the workspace's CA),
    as ``python <name>`` runs it (``-c`` confuses MLflow); its stdout lines once it succeeded."""
    import os

    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MLFLOW_", "DATABRICKS_", "SPARK", "PYSPARK"))}
    env.update(DATABRICKS_HOST=server.https_url, DATABRICKS_TOKEN=server.token, REQUESTS_CA_BUNDLE=server.ca_bundle,
               DATABRICKS_CONFIG_FILE=str(server.workspace.paths.home / "no-databrickscfg"))
    path = folder / name
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[:6000]
    return proc.stdout.strip().splitlines()
