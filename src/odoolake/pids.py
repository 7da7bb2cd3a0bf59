"""Ending a process this one did not start (and so cannot reap): a workspace server or an engine host found by the
pid its state file records."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

# A recorded start above this is seconds since the epoch (create_time, as versions before 2026-12-05 recorded it),
# not since boot; compared within EPOCH_TOLERANCE, since the wall clock moves it.
EPOCH_RECORD, EPOCH_TOLERANCE = 1e9, 120.0


def started_at(pid: int) -> float:
    """When process ``pid`` started, recorded beside a pid to tell it from a later process given the same pid: on
    Linux the seconds from boot to its start, from the kernel's clock ticks (``/proc/<pid>/stat``), which no setting
    of the wall clock moves. psutil's create_time adds the boot time as the wall clock puts it now: on a shared
    machine it moved by 27 s under a running server, and ``odoolake down`` took its own server for another process.
    Elsewhere, create_time. NoSuchProcess when there is no such process."""
    import psutil  # imported here: the CLI's cold start does not pay for it

    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        raise psutil.NoSuchProcess(pid) from None
    except OSError:  # no /proc (not Linux)
        return float(psutil.Process(pid).create_time())
    fields = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on: the name may hold spaces
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime


def _same_process(pid: int, started: float) -> bool:
    """Whether ``pid`` is the process recorded as started at ``started`` (``started_at``)."""
    import psutil

    if started > EPOCH_RECORD:
        return abs(psutil.Process(pid).create_time() - started) <= EPOCH_TOLERANCE
    return started_at(pid) == started


def end_process(pid: int, timeout: float, *, terminate: bool, started: float | None = None) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit (sending SIGTERM first with ``terminate``), then SIGKILL
    it. False, and nothing sent, when ``pid`` is no longer the process that was recorded: one that did not start at
    ``started``, or one this process may not signal (another user's); True otherwise."""
    import psutil

    if started is not None:
        try:
            if not _same_process(pid, started):
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
