"""The engine host's warm-up session: made on Sail as the host starts, and released.

Sail builds its first session's state the first time; the host makes one session of its own after it answers, so
that the client that started it does not pay for that on its first statement (measured in `bench/cold_start.py`).
The session must not stay behind in Sail, and a warm-up that fails must not take the host down.
"""

from __future__ import annotations

import logging
import socket

import pytest

from odoolake.workspace.engine.host import warm_up
from odoolake.workspace.engine.protos import relations_pb2
from odoolake.workspace.engine.upstream import Upstream, UpstreamError

OWNER = "owner@localhost"


def test_the_warm_up_session_is_released(sail_address):
    upstream = Upstream(f"{sail_address[0]}:{sail_address[1]}")
    try:
        session = warm_up(upstream, OWNER)
        assert session.startswith("warm-up-")
        with pytest.raises(UpstreamError, match=f"session {session} is not running"):
            upstream.query_rows(session, OWNER, relations_pb2.Relation(sql=relations_pb2.SQL(query="SELECT 1")))
    finally:
        upstream.close()


def test_a_warm_up_that_fails_is_logged_not_raised(caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    upstream = Upstream(f"127.0.0.1:{port}")
    try:
        with caplog.at_level(logging.WARNING, logger="odoolake.engine"):
            warm_up(upstream, OWNER)
    finally:
        upstream.close()
    assert any("the engine's warm-up session failed" in r.getMessage() for r in caplog.records)
