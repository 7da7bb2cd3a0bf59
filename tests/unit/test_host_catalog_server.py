"""The engine host's catalog API server (``host._CatalogServer``): imported at Sail's first call, or at once when the
host was started for the workspace server (``serve_now``), whose first SQL statement makes a catalog call."""

from __future__ import annotations

import socket
from pathlib import Path

from odoolake.config import WorkspacePaths
from odoolake.testing.waiting import wait_until
from odoolake.workspace.catalog.store import CatalogStore
from odoolake.workspace.engine import host


def _started(tmp_path: Path) -> host._CatalogServer:
    server = host._CatalogServer()
    server.start(CatalogStore(WorkspacePaths.from_env(str(tmp_path)), "owner@localhost"), "secret",
                 on_failure=lambda: None)
    wait_until(server.waiting.is_set, what="the catalog thread waiting")
    return server


def test_the_catalog_server_waits_for_a_first_call_then_serves_it(tmp_path: Path) -> None:
    server = _started(tmp_path)
    try:
        assert not server.serving  # the thread waits in select: nothing imported or started
        with socket.create_connection(("127.0.0.1", server.port)):
            wait_until(lambda: server.serving, what="the catalog server started by a first call")
    finally:
        server.stop()


def test_serve_now_starts_the_catalog_server_with_no_call(tmp_path: Path) -> None:
    server = _started(tmp_path)
    try:
        server.serve_now()
        wait_until(lambda: server.serving, what="the catalog server started without a call")
        assert not server.waiting.is_set()
    finally:
        server.stop()
