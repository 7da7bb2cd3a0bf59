"""Stopping a session whose engine host has died: PySpark's ``stop()`` asks the server to release the session and
retries a dead socket for minutes (``odoolake up`` hung that long on shutdown after its host died). A session of a
live host is released as before."""

from __future__ import annotations

import psutil

from odoolake.config import WorkspacePaths
from odoolake.testing.waiting import wait_until
from odoolake.workspace.engine import LocalEngine


def test_a_session_of_a_dead_host_is_stopped_without_asking_the_host(tmp_path):
    engine = LocalEngine(WorkspacePaths.from_env(tmp_path).ensure())
    try:
        live, orphaned = engine.session(), engine.session()
        asked: list[str] = []
        release_live = live.client.release_session
        live.client.release_session = lambda: (asked.append("live"), release_live())[1]  # type: ignore[method-assign]
        # Recorded only: were it called, the real call would retry the dead socket for minutes.
        orphaned.client.release_session = lambda: asked.append("orphaned")  # type: ignore[method-assign]

        engine.stop_session(live)
        assert asked == ["live"]
        assert live.is_stopped

        host = psutil.Process(int(engine.lease().status["pid"]))
        host.kill()
        wait_until(lambda: not host.is_running() or host.status() == psutil.STATUS_ZOMBIE,
                   what="the engine host to die")
        engine.stop_session(orphaned)
        assert asked == ["live"], "the session of a dead host was released through its socket"
        assert orphaned.is_stopped
    finally:
        engine.close()
