"""Ending a process this one did not start (and so cannot reap): a workspace server or an engine host found by the
pid its state file records."""

from __future__ import annotations

import contextlib
import os
import signal


def end_process(pid: int, timeout: float, *, terminate: bool) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit (sending SIGTERM first with ``terminate``), then SIGKILL
    it. False when ``pid`` is a process this one may not signal (another user's: the pid was reused since it was
    recorded, so what it named is gone), True otherwise."""
    import psutil  # imported here: the CLI's cold start does not pay for it

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
