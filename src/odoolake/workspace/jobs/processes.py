"""Task processes as a unit: the process, every child it starts, their memory, and stopping them all.

A task process leads its own session and process group, and is the child subreaper of what it starts
(task_process.py), so a child that forks into the background is still counted and still stopped. Where the
machine delegates a cgroup v2 subtree to the workspace (``ODOOLAKE_TASK_CGROUP`` names it), each task also gets
its own cgroup with ``memory.max``: the kernel enforces the limit and the whole cgroup is killed at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

LOG = logging.getLogger(__name__)
CGROUP_ENV = "ODOOLAKE_TASK_CGROUP"


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


RECOUNT_SECONDS = 2.0  # how long a PSS recount stands while the resident sum stays over the limit
RECOUNT_GROWTH = 1.05  # ... unless the resident sum grew by more than this since


class TreeMemory:
    """The memory a process and its descendants use together, in bytes, as a watchdog sampling it against a limit
    needs it.

    The sum of their RSS is cheap (one small read per process) but counts a shared page in every process that maps
    it: a task that starts a subprocess is counted twice over while the fork lasts (the child maps all of its
    parent's pages until it execs), and a watchdog sampling then would stop a task for memory it does not use. So
    a sum past the limit is counted again as the sum of proportional set sizes (PSS), which splits each shared page
    between its sharers. PSS costs a walk of the page tables (about 17 ms per GiB mapped), too much for every
    sample of a task that stays over the limit in RSS (forked workers, say): a recount stands for
    ``RECOUNT_SECONDS``, the resident sum scaled by its PSS/RSS ratio, unless the resident sum grows by more than
    ``RECOUNT_GROWTH``. (Pages a child un-shares by writing them do not change the resident sum; they are seen at
    the next recount.) Where PSS cannot be read (not Linux), RSS stands.
    """

    def __init__(self, pid: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.pid = pid
        self.clock = clock
        self._recount: tuple[float, int, float] | None = None  # (when, resident sum then, PSS / RSS)

    def measure(self, limit: int | None = None) -> int:
        family = tree(self.pid)
        resident = _sum(family, _resident)
        if limit is None or resident <= limit:
            return resident
        now = self.clock()
        if self._recount is not None:
            when, then, ratio = self._recount
            if now - when < RECOUNT_SECONDS and resident <= then * RECOUNT_GROWTH:
                return int(resident * ratio)
        proportional = _sum(family, _proportional)
        self._recount = (now, resident, proportional / resident)
        return proportional


def _sum(family: list[psutil.Process], measure: Callable[[psutil.Process], int]) -> int:
    total = 0
    for proc in family:
        try:
            total += measure(proc)
        except psutil.Error:  # gone since it was listed
            continue
    return total


def _resident(proc: psutil.Process) -> int:
    return int(proc.memory_info().rss)


def _proportional(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_full_info().pss)
    except (AttributeError, psutil.AccessDenied):
        return _resident(proc)


def kill_tree(pid: int) -> None:
    """SIGKILL the task process, its process group and every descendant (listed first: killing the leader would
    hand its children to another parent)."""
    family = tree(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # the task leads its own group (start_new_session)
    for proc in family:
        try:
            proc.kill()
        except psutil.Error:
            continue


@dataclass
class TaskCgroup:
    """One task's cgroup v2 directory: memory.max set, the process moved in, killed and removed as a whole."""

    path: Path

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def memory(self) -> int:
        try:
            return int((self.path / "memory.current").read_text())
        except (OSError, ValueError):
            return 0

    def oom_killed(self) -> bool:
        try:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
        except (OSError, ValueError):
            return False
        return int(events.get("oom_kill", 0)) > 0

    def kill(self) -> None:
        kill_file = self.path / "cgroup.kill"
        try:
            if kill_file.exists():
                kill_file.write_text("1")
                return
            for pid in (self.path / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    continue
        except OSError:
            LOG.debug("could not kill cgroup %s", self.path, exc_info=True)

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            LOG.debug("cgroup %s not removed (processes still exiting?)", self.path, exc_info=True)


def delegated_cgroup() -> Path | None:
    """The cgroup v2 directory named by ODOOLAKE_TASK_CGROUP, if it is writable and delegates the memory controller.

    cgroup v2 forbids processes in a cgroup whose children use controllers, so the server cannot use its own
    cgroup; the directory must be prepared for it (e.g. ``systemd-run --user -p Delegate=yes`` and a leaf for the
    server). Without one, process groups and the runner's watchdog do the job.
    """
    configured = os.environ.get(CGROUP_ENV)
    if not configured:
        return None
    base = Path(configured)
    try:
        controllers = (base / "cgroup.subtree_control").read_text().split()
    except OSError:
        LOG.warning("%s=%s is not a cgroup v2 directory; using process groups only", CGROUP_ENV, base)
        return None
    if "memory" not in controllers or not os.access(base, os.W_OK):
        LOG.warning("%s=%s does not delegate the memory controller to us; using process groups only", CGROUP_ENV, base)
        return None
    return base


def new_cgroup(base: Path | None, name: str, memory_bytes: int) -> TaskCgroup | None:
    if base is None:
        return None
    try:
        path = base / name
        path.mkdir(exist_ok=True)
        (path / "memory.max").write_text(str(memory_bytes))
        swap = path / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
        return TaskCgroup(path)
    except OSError:
        LOG.warning("cannot create the task cgroup %s; using process groups only", base / name, exc_info=True)
        return None
