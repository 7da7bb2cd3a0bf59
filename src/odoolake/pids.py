"""Ending a process this one did not start (and so cannot reap): a workspace server or an engine host found by the
pid its state file records."""

from __future__ import annotations

import contextlib


def end_process(pid: int, timeout: float, *, terminate: bool) -> None:
    """Wait up to ``timeout`` seconds for ``pid`` to exit (sending SIGTERM first with ``terminate``), then SIGKILL
    it. Returns at once if it is not running."""
    import psutil  # imported here: the CLI's cold start does not pay for it

    try:
        process = psutil.Process(pid)
        if terminate:
            process.terminate()
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
