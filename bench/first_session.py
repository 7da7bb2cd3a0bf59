"""What a session costs the engine host: the first one on a new host against later ones, before and after a change.

    python bench/first_session.py --baseline-src /tmp/base/src [--rounds 3] [--sessions 3] [--pause 3]

Each round runs two fresh worker processes, this tree's ``src`` and ``--baseline-src`` (another version's ``src``
folder, first on ``PYTHONPATH``), in alternating order. A worker imports PySpark's client, starts an engine host on a
new root, leaves it idle for ``--pause`` seconds (what the host does by itself once it answers is done by then), and
opens ``--sessions`` sessions in turn, each running ``SELECT 1``: for each, the wall time to open it and the engine
host's CPU meanwhile. The first session is what a client that started the host pays.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import ab
from cpu_time import engine_cpu

MEASURES = ("first_ms", "first_host_cpu_ms", "later_ms", "later_host_cpu_ms")


def worker(sessions: int, pause: int) -> None:
    import pyspark.sql.connect.session  # noqa: F401  # imported before the clock, as a client has it

    import odoolake
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine import LocalEngine

    opened: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = LocalEngine(WorkspacePaths.from_env(Path(tmp)).ensure())
        engine.lease()
        time.sleep(pause)
        for _ in range(sessions):
            started, cpu = time.perf_counter(), engine_cpu()
            spark = engine.session()
            spark.sql("SELECT 1").collect()
            opened.append(((time.perf_counter() - started) * 1000, (engine_cpu() - cpu) * 1000))
        engine.close()
    later = opened[1:] or opened
    print(json.dumps({"src": str(Path(odoolake.__file__).parent.parent),
                      "first_ms": round(opened[0][0], 1), "first_host_cpu_ms": round(opened[0][1], 1),
                      "later_ms": round(sum(w for w, _ in later) / len(later), 1),
                      "later_host_cpu_ms": round(sum(c for _, c in later) / len(later), 1)}), flush=True)


if __name__ == "__main__":
    ab.main(__file__, __doc__, worker, MEASURES, ("sessions", 3), rounds=3, more=[("pause", 3)])
