"""Telling a dead engine host from a busy one."""

from __future__ import annotations

import os
import subprocess
import sys

from odoolake.workspace.engine.launcher import host_gone


def test_a_host_is_gone_only_when_its_process_is():
    assert not host_gone({"pid": os.getpid()})  # alive (however slowly it would answer an admin call)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert host_gone({"pid": child.pid})  # exited and reaped
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert host_gone({"pid": zombie.pid})
    finally:
        zombie.wait()
    assert host_gone({})  # a host that never answered with its status
