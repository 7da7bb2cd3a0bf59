"""CPU seconds of a benchmark's processes: the one sum the scripts here read beside wall time.

Each process counts its user and system time. A process that exits between being listed and being read adds nothing
more; with ``tree_cpu`` the time of descendants that exited and were waited for still counts (psutil's
``children_user``/``children_system``). This process's own CPU alone is ``time.process_time()``.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil


def cpu_of(processes: Iterable[psutil.Process]) -> float:
    """User + system seconds of ``processes`` (each thread of each)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # exited since it was listed
            continue
        total += times.user + times.system
    return total


def engine_cpu(process: psutil.Process | None = None) -> float:
    """The descendants of ``process`` (default: this one): the engine host a benchmark started, Sail's threads in
    it, and whatever they started."""
    return cpu_of((process or psutil.Process()).children(recursive=True))


def tree_cpu(process: psutil.Process | None = None, tree: list[psutil.Process] | None = None) -> float:
    """``process`` (default: this one) with its descendants, those running and those that exited and were waited
    for; ``tree``, when the caller has listed ``process`` and its descendants already."""
    me = process or psutil.Process()
    waited = me.cpu_times()
    return cpu_of(tree if tree is not None else [me, *me.children(recursive=True)]) + waited.children_user \
        + waited.children_system
