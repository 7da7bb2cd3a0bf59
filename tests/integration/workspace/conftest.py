"""A real workspace server on a free loopback port, driven by the official databricks-sdk."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from odoolake.testing.waiting import wait_until
from odoolake.workspace.app import Workspace, WorkspaceSettings, create_app


@dataclass
class Server:
    url: str
    token: str
    workspace: Workspace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(home, **settings_kwargs) -> Iterator[Server]:
    """A workspace server in a thread of this process, with one token minted for the tests."""
    port = free_port()
    settings = WorkspaceSettings(home=home, port=port, **settings_kwargs)
    workspace = Workspace(settings)
    app = create_app(settings, workspace)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the workspace server thread died while starting")
        return uv.started

    wait_until(started, what="the workspace server to start")
    token, _ = workspace.tokens.create(workspace.user, "integration tests")
    yield Server(settings.base_url, token, workspace)
    uv.should_exit = True
    thread.join(timeout=15)


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
