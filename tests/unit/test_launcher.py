"""Telling a dead engine host from a busy one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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


def _wait_for_arguments(pid: int, within: float = 30.0) -> None:
    """Wait until a process just started shows its command line: ``Popen`` returns once the child's exec has begun,
    and on a loaded machine the kernel may not have set up the new program's arguments yet (``cmdline()`` is empty)."""
    import psutil

    deadline = time.monotonic() + within
    while not psutil.Process(pid).cmdline():
        assert time.monotonic() < deadline, f"process {pid} showed no command line within {within} s"
        time.sleep(0.01)


def test_a_host_that_does_not_answer_in_time_is_not_taken_for_none(tmp_path):
    """A host too busy to answer the status call still runs if the process its status file names is a host of this
    root; a stale file (a dead pid, or one reused by another program) means no host."""
    import json

    from odoolake.workspace.engine import host
    from odoolake.workspace.engine.launcher import no_host

    home = tmp_path / "ws"
    host.run_dir(home).mkdir(parents=True)
    assert no_host(home)  # no status file
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "odoolake.workspace.engine.host",
                             "--home", str(home)])  # a host's command line; it never answers a call
    try:
        _wait_for_arguments(busy.pid)
        host.status_file(home).write_text(json.dumps({"pid": busy.pid}))
        assert not no_host(home)
        host.status_file(home).write_text(json.dumps({"pid": os.getpid()}))  # alive, but no host of this root
        assert no_host(home)
    finally:
        busy.kill()
        busy.wait()
    host.status_file(home).write_text(json.dumps({"pid": busy.pid}))
    assert no_host(home)  # the host has exited
