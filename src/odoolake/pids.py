"""Ending a process this one did not start (and so cannot reap): a workspace server or an engine host found by the
pid its state file records."""

from __future__ import annotations

import contextlib
import os
import signal


def started_at(pid: int) -> float:
    """When process ``pid`` started (``psutil.Process.create_time``): recorded beside a pid, it tells the process
    from a later one given the same pid."""
    import psutil  # imported here: the CLI's cold start does not pay for it

    return psutil.Process(pid).create_time()


def end_process(pid: int, timeout: float, *, terminate: bool, started: float | None = None) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit (sending SIGTERM first with ``terminate``), then SIGKILL
    it. False, and nothing sent, when ``pid`` is no longer the process that was recorded: one that did not start at
    ``started``, or one this process may not signal (another user's); True otherwise."""
    import psutil

    if started is not None:
        try:
            if psutil.Process(pid).create_time() != started:
                return False  # the pid was reused: what it named is gone
        except psutil.NoSuchProcess:
            return True
    try:
        os.kill(pid, signal.SIGTERM if terminate else 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return True
