"""Engine sessions and hosts in tests. PySpark's Spark Connect client gives a checkpointed DataFrame to the calling
thread's active session (its first), not to the session that made it: a test that checkpoints in its own session runs
there (``in_own_thread``)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")


def in_own_thread(work: Callable[[], T]) -> T:
    """``work()`` in a new thread, whose first session (made inside ``work``) is PySpark's active one there."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def engine_hosts(home: Path) -> list[psutil.Process]:
    """The engine host processes running for the workspace root ``home``."""
    return [p for p in psutil.process_iter(["cmdline"]) if "odoolake.workspace.engine.host" in (p.info["cmdline"] or [])
            and str(home) in (p.info["cmdline"] or [])]
