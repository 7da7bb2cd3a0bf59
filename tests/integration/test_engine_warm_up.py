"""The engine host's warm-up session: made on Sail as the host starts, and released.

Sail builds its first session's state the first time; the host makes one session of its own after it answers, so
that the client that started it does not pay for that on its first statement (measured in `bench/first_session.py`
and `bench/cold_start.py`). The session must not stay behind in Sail, and a warm-up that fails, or that a host
stopping at once cuts short, must not leave more than a line in the host's log.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from odoolake.config import WorkspacePaths
from odoolake.testing.waiting import wait_until
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.host import log_file, run_dir, status_file, warm_up
from odoolake.workspace.engine.launcher import engine_status
from odoolake.workspace.engine.protos import relations_pb2
from odoolake.workspace.engine.upstream import Upstream, UpstreamError

OWNER = "owner@localhost"
MADE = "engine warm-up session made"


def _select_1() -> relations_pb2.Relation:
    return relations_pb2.Relation(sql=relations_pb2.SQL(query="SELECT 1"))


def _not_running(upstream: Upstream, session: str) -> None:
    with pytest.raises(UpstreamError, match=f"session {session} is not running"):
        upstream.query_rows(session, OWNER, _select_1())


def test_the_warm_up_session_is_made_then_released(sail_address, caplog):
    upstream = Upstream(f"{sail_address[0]}:{sail_address[1]}")
    try:
        with caplog.at_level(logging.INFO, logger="odoolake.engine"):
            session = warm_up(upstream, OWNER)
        assert session.startswith("warm-up-")
        assert [r.getMessage() for r in caplog.records] == [MADE]
        _not_running(upstream, session)
    finally:
        upstream.close()


def test_a_warm_up_whose_query_fails_still_releases_its_session(sail_address, caplog, monkeypatch):
    upstream = Upstream(f"{sail_address[0]}:{sail_address[1]}")
    query_rows = upstream.query_rows
    bad = relations_pb2.Relation(sql=relations_pb2.SQL(query="SELEC 1"))
    monkeypatch.setattr(upstream, "query_rows", lambda session, user, _, **kw: query_rows(session, user, bad, **kw))
    try:
        with caplog.at_level(logging.INFO, logger="odoolake.engine"):
            session = warm_up(upstream, OWNER)
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert caplog.records[0].getMessage().startswith("the engine's warm-up session failed: ")
        _not_running(upstream, session)
    finally:
        upstream.close()


def test_a_warm_up_with_nothing_listening_is_logged_not_raised(caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    upstream = Upstream(f"127.0.0.1:{port}")
    try:
        with caplog.at_level(logging.WARNING, logger="odoolake.engine"):
            warm_up(upstream, OWNER)
    finally:
        upstream.close()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("the engine's warm-up session failed: ")
    assert messages[1].startswith("the engine's warm-up session warm-up-")
    assert messages[1].endswith(" was not released: Sail did not answer")


def _engine_log(home) -> str:
    path = log_file(home)
    return path.read_text() if path.exists() else ""


def test_a_host_warms_up_once_it_answers(tmp_path, monkeypatch):
    monkeypatch.setenv("ODOOLAKE_ENGINE_LOG", "INFO")
    paths = WorkspacePaths.from_env(tmp_path).ensure()
    with LocalEngine(paths) as engine:
        engine.lease()
        wait_until(lambda: MADE in _engine_log(paths.home), what="the host's warm-up session")
    wait_until(lambda: engine_status(paths.home) is None, what="the host to stop")
    log = _engine_log(paths.home)
    assert "Traceback" not in log and "warm-up session failed" not in log and "not released" not in log, log


def test_a_host_stopped_as_soon_as_it_answers_stops_cleanly(tmp_path):
    """SIGTERM the moment the host's status file appears, while its warm-up session is under way: the host stops
    with exit code 0, withdraws its status file, and logs no warm-up failure and no traceback."""
    for round_no in range(3):  # the signal lands at a different point of the warm-up each time
        paths = WorkspacePaths.from_env(tmp_path / f"round{round_no}").ensure()
        env = {**os.environ, "ODOOLAKE_ENGINE_LOG": "INFO"}
        paths.make(run_dir(paths.home))  # as the launcher makes it
        with log_file(paths.home).open("w") as log:
            host = subprocess.Popen([sys.executable, "-m", "odoolake.workspace.engine.host", "--home",
                                     str(paths.home), "--owner", OWNER], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120  # polled closely: the signal must land within the warm-up's 0.1 s
            while not status_file(paths.home).exists() and host.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            host.send_signal(signal.SIGTERM)
            assert host.wait(timeout=120) == 0, _engine_log(paths.home)
        finally:
            if host.poll() is None:
                host.kill()
        assert not status_file(paths.home).exists()
        text = _engine_log(paths.home)
        assert "Traceback" not in text and "warm-up session failed" not in text and "not released" not in text, text
