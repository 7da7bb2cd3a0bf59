"""Log files of the processes that run for months (the workspace server, the engine host): each start appends to
its log, and a log past ``MAX_LOG_BYTES`` is moved aside first (``server.log`` → ``server.log.1`` → ``.2``), so the
disk holds at most ``KEEP_OLD + 1`` logs of a process and the newest lines are always in the plain name. While the
process runs it moves its own log aside the same way (``keep_rotating``): it writes the log through its stdout and
stderr, which it then points at a new file, so no line is lost or split and no other process is involved (a
log deleted while the process runs is started afresh the same way)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

LOG = logging.getLogger(__name__)

MAX_LOG_BYTES = 10 * 1024 * 1024
KEEP_OLD = 2
CHECK_SECONDS = 60.0


def rotated(path: Path, max_bytes: int = MAX_LOG_BYTES, keep: int = KEEP_OLD) -> Path:
    """``path``, after moving it aside if it has grown past ``max_bytes`` (the oldest beyond ``keep`` deleted). One
    process at a time: an engine host winding down and the next one starting may both look."""
    with _lock_of(path):
        try:
            if path.stat().st_size <= max_bytes:
                return path
        except FileNotFoundError:
            return path
        for n in range(keep, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            with contextlib.suppress(FileNotFoundError):
                if n == keep:
                    older.unlink()
                else:
                    older.rename(path.with_name(f"{path.name}.{n + 1}"))
        path.rename(path.with_name(f"{path.name}.1"))
    return path


@contextlib.contextmanager
def _lock_of(path: Path) -> Iterator[None]:
    with path.with_name(f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _writes_to(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), path.stat()
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def rotate_output(path: Path, max_bytes: int = MAX_LOG_BYTES, keep: int = KEEP_OLD) -> bool:
    """For a process whose stdout is the log ``path``: if the file has grown past ``max_bytes``, move it aside (as
    ``rotated``) and point stdout, and stderr if it wrote there too, at a new ``path``; if the file was deleted (to
    free disk space, say), point them at a new ``path`` too. Returns whether it did either."""
    out = os.fstat(1)
    deleted = out.st_nlink == 0
    if not deleted and (not _writes_to(1, path) or out.st_size <= max_bytes):
        return False
    err = os.fstat(2)
    also_stderr = (err.st_dev, err.st_ino) == (out.st_dev, out.st_ino)
    if not deleted:
        rotated(path, max_bytes, keep)
    mode = out.st_mode & 0o777  # the old file's: a mode the administrator set is kept
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, mode)
        os.fchmod(fd, mode)  # not narrowed by the umask
    except FileExistsError:  # made meanwhile by the next start of the process: both append to it
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.dup2(fd, 1)  # each dup2 is atomic: a write lands whole in the old file or in the new one
        if also_stderr:
            os.dup2(fd, 2)
    finally:
        os.close(fd)
    return True


def keep_rotating(path: Path, stopping: threading.Event | None = None, every: float = CHECK_SECONDS,
                  max_bytes: int = MAX_LOG_BYTES, keep: int = KEEP_OLD) -> threading.Thread | None:
    """Check every ``every`` seconds, until ``stopping`` is set, whether this process's log has outgrown
    ``max_bytes`` (or was deleted) and start a new one if so (``rotate_output``). None, and nothing started, when
    stdout is not ``path`` (a process run in a terminal). Python's stdout is made line-buffered (also under
    ``PYTHONUNBUFFERED``, where ``print`` writes a line and its newline apart), so that a printed line lands whole
    in one file."""
    if not _writes_to(1, path):
        return None
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(line_buffering=True, write_through=False)  # type: ignore[union-attr]
    stop = stopping or threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                rotate_output(path, max_bytes, keep)
            except OSError:  # a full disk, say: the process goes on writing where it was
                LOG.warning("could not move %s aside", path, exc_info=True)

    thread = threading.Thread(target=loop, name="odoolake-log-rotation", daemon=True)
    thread.start()
    return thread
