"""A workspace server (front door included) running in a thread of this process, for tests and benchmarks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odoolake.testing.waiting import wait_until


@dataclass
class InProcessWorkspace:
    workspace: Any  # odoolake.workspace.app.Workspace
    port: int
    token: str  # minted for the workspace's owner
    server: Any = None  # odoolake.workspace.frontdoor.server.WorkspaceServer

    @property
    def url(self) -> str:
        """Plain HTTP on the front door's port, as the legacy CLI uses it."""
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def in_process_workspace(home: Path, token_comment: str = "in-process", **settings_kwargs: Any
                         ) -> Iterator[InProcessWorkspace]:
    """Start the workspace on a free 127.0.0.1 port with ``home``, mint an owner token, and stop it afterwards."""
    from odoolake.workspace.app import Workspace, WorkspaceSettings, create_app
    from odoolake.workspace.engine.host import front_socket
    from odoolake.workspace.frontdoor.server import WorkspaceServer, bind

    listener = bind("127.0.0.1", 0)
    port = listener.getsockname()[1]
    settings = WorkspaceSettings(home=home, port=port, **settings_kwargs)
    workspace = Workspace(settings)
    server = WorkspaceServer(create_app(settings, workspace), listener, workspace.tls,
                             front_socket(workspace.paths.home), plain_http=True,
                             engine_up=workspace.engine.lease if workspace.engine.remote is None else None,
                             renew_certificates=workspace.renew_certificates)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive():
            raise RuntimeError("the workspace server thread died while starting")
        return bool(server.started)

    wait_until(started, what="the workspace server to start")
    token, _ = workspace.tokens.create(workspace.user, token_comment)
    try:
        yield InProcessWorkspace(workspace, port, token, server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def task_logs(root: Path, tail: int = 4000) -> str:
    """The tail of every task log (``stdout.log``) under ``root`` (a workspace home, or one run's folder), each
    headed by its path: what a failing test prints, since a task's client-side failures (a response gRPC could not
    decode, say) are logged there with their traceback and not in the run's error."""
    return "".join(f"\n--- {log}\n{log.read_text(errors='replace')[-tail:]}" for log in sorted(root.rglob("stdout.log")))
