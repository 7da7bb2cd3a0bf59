"""Log files of the processes that run for months (the workspace server, the engine host): each start appends to
its log, and a log past ``MAX_LOG_BYTES`` is moved aside first (``server.log`` → ``server.log.1`` → ``.2``), so the
disk holds at most ``KEEP_OLD + 1`` logs of a process and the newest lines are always in the plain name. While the
process runs it moves its own log aside the same way (``keep_rotating``): it writes the log through its stdout and
stderr, which it then points at a new file, so no line is lost or split and no other process is involved."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path

LOG = logging.getLogger(__name__)

MAX_LOG_BYTES = 10 * 1024 * 1024
KEEP_OLD = 2
CHECK_SECONDS = 60.0


def rotated(path: Path, max_bytes: int = MAX_LOG_BYTES, keep: int = KEEP_OLD) -> Path:
    """``path``, after moving it aside if it has grown past ``max_bytes`` (the oldest beyond ``keep`` deleted)."""
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


def _writes_to(fd: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(fd), path.stat()
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def rotate_output(path: Path, max_bytes: int = MAX_LOG_BYTES, keep: int = KEEP_OLD) -> bool:
    """If this process's stdout is ``path`` and it has grown past ``max_bytes``: move it aside (as ``rotated``) and
    point stdout, and stderr if it wrote there too, at a new ``path``. Returns whether it did."""
    if not _writes_to(1, path) or os.fstat(1).st_size <= max_bytes:
        return False
    also_stderr = _writes_to(2, path)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    rotated(path, max_bytes, keep)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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
    ``max_bytes`` and move it aside if so (``rotate_output``). None, and nothing started, when stdout is not
    ``path`` (a process run in a terminal)."""
    if not _writes_to(1, path):
        return None
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
