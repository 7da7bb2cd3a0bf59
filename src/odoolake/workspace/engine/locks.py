"""One writer per table at a time, across threads and processes: Sail has no Delta conflict resolution for
concurrent blind writers, and delta-rs maintenance must not interleave with a data write."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from odoolake.workspace.files.dbfs import LOCK_SUFFIX

_table_locks: dict[str, threading.Lock] = {}
_table_locks_guard = threading.Lock()


@contextmanager
def table_lock(location: str | Path) -> Iterator[None]:
    """An exclusive ``flock`` on a hidden file beside the table (released by the kernel if the holder dies, so a
    killed writer cannot leave the table locked), plus a thread lock for writers in this process."""
    resolved = Path(location).resolve()
    with _table_locks_guard:
        local = _table_locks.setdefault(str(resolved), threading.Lock())
    resolved.parent.mkdir(parents=True, exist_ok=True)
    lock_file = resolved.parent / f".{resolved.name}{LOCK_SUFFIX}"
    with local, lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
