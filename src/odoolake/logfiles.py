"""Log files of the processes that run for months (the workspace server, the engine host): each start appends to
its log, and a log past ``MAX_LOG_BYTES`` is moved aside first (``server.log`` → ``server.log.1`` → ``.2``), so the
disk holds at most ``KEEP_OLD + 1`` logs of a process and the newest start's lines are always in the plain name."""

from __future__ import annotations

import contextlib
from pathlib import Path

MAX_LOG_BYTES = 10 * 1024 * 1024
KEEP_OLD = 2


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
