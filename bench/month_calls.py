"""What each Spark Connect call of a new month costs, in CPU: the engine host's and the client's, by the pipeline line
that made it (and the table, for a write). Runs silver, gold and forms of a new month on a copy of a snapshot made by
``native_month.py setup`` (a full run's lake with the new month's bronze), after reading every table once so that
first-use costs do not land on the month.

    python bench/native_month.py setup --moves 20 --snapshot bench/.data/native_month/tiny
    python bench/month_calls.py --snapshot bench/.data/native_month/tiny

CPU is read from ``/proc`` before and after each call (10 ms ticks: a row's numbers are sums over its calls, exact only
in aggregate). Calls run one after another, so the host's CPU between two reads is the call's, except work the host
finishes after answering, which lands on the next call. Per stage the host's CPU is split by thread: Sail's
(``tokio-rt-worker``) and the host's Python (the proxy and catalog).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cpu_time import engine_cpu
from saved import save_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CALLS = ("ExecutePlan", "AnalyzePlan", "Config")


class CpuPerCall:
    """Wraps a session's stub: each call's host and client CPU, keyed by call, pipeline site and written table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, float]] = []

    def cpu(self) -> tuple[float, float]:
        return engine_cpu(), time.process_time()

    def install(self, spark: Any) -> None:
        stub = spark.client._stub
        for name in CALLS:
            setattr(stub, name, self._wrap(name, getattr(stub, name)))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        from profile_writes import _site

        def call(*args: Any, **kwargs: Any) -> Any:
            host0, client0 = self.cpu()
            result = fn(*args, **kwargs)
            if name == "ExecutePlan":  # a stream: its cost is paid while it is read
                result = list(result)
            host1, client1 = self.cpu()
            self.rows.append((name, _site() + _written_table(), host1 - host0, client1 - client0))
            return iter(result) if name == "ExecutePlan" else result
        return call

    def by_site(self) -> list[tuple[str, int, float, float]]:
        sums: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
        for name, site, host, client in self.rows:
            row = sums[f"{name} {site}"]
            row[0] += 1
            row[1] += host
            row[2] += client
        return sorted(((k, int(v[0]), v[1], v[2]) for k, v in sums.items()), key=lambda r: -(r[2] + r[3]))


def _written_table() -> str:
    """`` <table>`` when the call comes from ``odoolake.pipeline.io`` with a table ``name`` in hand."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") != "odoolake.pipeline.io":
        frame = frame.f_back
    name = frame.f_locals.get("name") if frame is not None else None
    return f" {name}" if isinstance(name, str) else ""


def run(home: Path) -> dict:
    from profile_writes import thread_cpu

    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import forms, gold, silver
    from odoolake.workspace.engine import LocalEngine

    engine = LocalEngine(WorkspacePaths.from_env(home).ensure())
    spark = engine.session()
    for schema in ("bronze", "silver", "gold"):  # first use of every table, before the month
        for table in spark.catalog.listTables(schema):
            name = f"{schema}.{table.name}"
            spark.sql(f"SELECT count(*) FROM {name}").collect()
            spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").collect()
    meter = CpuPerCall()
    meter.install(spark)
    stages: dict[str, dict] = {}
    for stage, step in (("silver", lambda: silver.run(spark)),
                        ("gold", lambda: (gold.run(spark), gold.refresh_features(spark))),
                        ("forms", lambda: (forms.run(spark), forms.check_in_step(spark)))):
        (host0, client0), threads0, calls0 = meter.cpu(), thread_cpu(), len(meter.rows)
        step()
        (host1, client1), threads = meter.cpu(), thread_cpu() - threads0
        stages[stage] = {"host": round(host1 - host0, 2), "client": round(client1 - client0, 2),
                         "calls": len(meter.rows) - calls0,
                         "sail": round(threads["tokio-rt-worker"], 2), "host_python": round(threads["python"], 2)}
    engine.close()
    return {"stages": stages, "sites": meter.by_site()}


def main() -> None:
    from native_month import snapshot_copy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, default=HERE / ".data" / "native_month" / "tiny")
    parser.add_argument("--top", type=int, default=25, help="sites to print, the costliest first")
    args = parser.parse_args()
    with snapshot_copy(args.snapshot, "month-calls-") as home:
        result = run(home)
    print("| stage | calls | engine host CPU | of it Sail's threads | of it the host's Python | client CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for stage, s in result["stages"].items():
        print(f"| {stage} | {s['calls']} | {s['host']:.2f} s | {s['sail']:.2f} s | {s['host_python']:.2f} s "
              f"| {s['client']:.2f} s |")
    print("\n| call, pipeline line (table written) | calls | engine host CPU | client CPU |")
    print("|---|---:|---:|---:|")
    for site, calls, host, client in result["sites"][:args.top]:
        print(f"| {site} | {calls} | {host * 1000:.0f} ms | {client * 1000:.0f} ms |")
    save_results(f"month_calls-{time.strftime('%Y-%m-%d')}-{args.snapshot.name}", result)


if __name__ == "__main__":
    main()
