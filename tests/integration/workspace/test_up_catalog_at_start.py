"""`odoolake up` starts the engine host with its catalog API served at once (the server's first SQL statement sets its
session's schema, a catalog call); a host started for anything else imports it at its first call."""

from __future__ import annotations

import psutil

from odoolake.testing.waiting import wait_until
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.launcher import engine_status

from .conftest import free_port, start_server_process

FLAG = "--catalog-at-start"


def _host_command(home) -> list[str]:
    status = wait_until(lambda: engine_status(home), what="the engine host's status")
    return psutil.Process(int(status["pid"])).cmdline()


def test_up_starts_the_engine_host_serving_its_catalog_at_once(tmp_path) -> None:
    home = tmp_path / "up"
    server = start_server_process(home, free_port())
    try:
        assert FLAG in _host_command(home)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_host_started_for_a_session_waits_for_its_first_catalog_call(tmp_path) -> None:
    home = tmp_path / "session"
    with LocalEngine.start(home) as engine:
        engine.lease()
        assert FLAG not in _host_command(home)
