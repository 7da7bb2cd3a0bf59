"""Where a month-end's time goes: each table write timed, and every Spark Connect call counted and timed.

    python bench/profile_writes.py --data bench/.data/1000000/raw --home /tmp/lake1m            # bronze+silver+gold
    python bench/profile_writes.py --home /tmp/lake1m --stages silver --full-refresh        # silver again
    python bench/profile_writes.py --data bench/.data/1000000/extra --home /tmp/lake1m       # then one new month

Writes go through ``odoolake.pipeline.io`` (append, overwrite, replace_where); each is timed with the table it
writes and the peak RSS of the process tree (the engine host included) while it ran. Calls are counted on the
client (ExecutePlan, AnalyzePlan, Config, ReleaseExecute …) with their wall time, so per-call overhead × calls can
be read off. The engine host's CPU time is reported beside the client's.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from cpu_time import engine_cpu

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


class CallCounter:
    """Wraps a Spark Connect client's stub so each call's count and wall time are recorded."""

    def __init__(self) -> None:
        self.count: collections.Counter[str] = collections.Counter()
        self.seconds: collections.Counter[str] = collections.Counter()
        self.site_count: collections.Counter[str] = collections.Counter()  # "<call> <pipeline function:line>"
        self.site_seconds: collections.Counter[str] = collections.Counter()

    def install(self, spark) -> None:
        stub = spark.client._stub
        for name in ("ExecutePlan", "AnalyzePlan", "Config", "ReattachExecute", "ReleaseExecute", "ReleaseSession",
                     "Interrupt", "FetchErrorDetails", "ArtifactStatus"):
            original = getattr(stub, name, None)
            if original is not None:
                setattr(stub, name, self._wrap(name, original))

    def _wrap(self, name: str, fn):
        def call(*args, **kwargs):
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            if name in ("ExecutePlan", "ReattachExecute"):
                return self._timed_stream(name, result, started, _site())
            self._record(name, _site(), time.perf_counter() - started)
            return result
        return call

    def _timed_stream(self, name: str, stream, started: float, site: str):
        try:
            yield from stream
        finally:
            self._record(name, site, time.perf_counter() - started)

    def _record(self, name: str, site: str, seconds: float) -> None:
        self.count[name] += 1
        self.seconds[name] += seconds
        self.site_count[f"{name} {site}"] += 1
        self.site_seconds[f"{name} {site}"] += seconds

    def by_site(self) -> list[tuple[str, int, float]]:
        """(call and the pipeline line that made it, calls, seconds), the costliest first."""
        return sorted(((k, self.site_count[k], round(self.site_seconds[k], 3)) for k in self.site_count),
                      key=lambda row: -row[2])

    def report(self) -> dict:
        return {n: {"calls": self.count[n], "seconds": round(self.seconds[n], 3)} for n in sorted(self.count)}


def _site() -> str:
    """The innermost ``odoolake.pipeline`` frame (module.function:line) that led to the current call."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("odoolake.pipeline"):
            return f"{module.rsplit('.', 1)[-1]}.{frame.f_code.co_name}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


class PeakRss:
    """Peak RSS of this process and its children (the engine host), sampled every 50 ms since the last ``reset()``."""

    def __init__(self) -> None:
        self.peak = 0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        me = psutil.Process()
        while True:
            rss = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak = max(self.peak, rss)
            time.sleep(0.05)

    def reset(self) -> None:
        self.peak = 0


def time_writes(log: list[dict], rss: PeakRss | None = None) -> None:
    """Time each write (the outermost one: ``replace_where`` may call ``overwrite``), with the peak RSS meanwhile."""
    from odoolake.pipeline import io

    depth = [0]
    for fn_name in ("append", "overwrite", "replace_where"):
        original = getattr(io, fn_name)

        def timed(df, name, *args, _original=original, _fn=fn_name, **kwargs):
            if depth[0]:
                return _original(df, name, *args, **kwargs)
            depth[0] += 1
            if rss is not None:
                rss.reset()
            started, cpu = time.perf_counter(), engine_cpu()
            try:
                return _original(df, name, *args, **kwargs)
            finally:
                depth[0] -= 1
                log.append({"write": _fn, "table": name, "seconds": round(time.perf_counter() - started, 3),
                            "engine_cpu": round(engine_cpu() - cpu, 3),
                            "peak_rss_gib": round(rss.peak / 2**30, 2) if rss is not None else None})
        setattr(io, fn_name, timed)


def thread_cpu() -> collections.Counter[str]:
    """CPU seconds of this process's children by thread name (``/proc/<pid>/task/*``): in the engine host, Sail's
    own threads are ``tokio-rt-worker`` and the host's Python threads (proxy, catalog server) ``python``."""
    spent: collections.Counter[str] = collections.Counter()
    ticks = os.sysconf("SC_CLK_TCK")
    for child in psutil.Process().children(recursive=True):
        for task in Path(f"/proc/{child.pid}/task").glob("*"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                name = (task / "comm").read_text().strip().rstrip("0123456789")
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                spent[name] += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return spent


def engine_calls(name: str, call: Callable[[], object], calls: int) -> dict[str, float]:
    """``call`` run ``calls`` times: ``name``, its median wall time in ms, and ``<name>_proxy``/``<name>_sail``, the
    engine host's CPU per call in ms (``thread_cpu``: its Python threads; Sail's). CPU ticks are 10 ms: those two
    are means, not medians."""
    walls, proxy, sail = [], [], []
    for _ in range(calls):
        before, started = thread_cpu(), time.perf_counter()
        call()
        walls.append((time.perf_counter() - started) * 1000)
        spent = thread_cpu() - before
        proxy.append(spent["python"] * 1000)
        sail.append(spent["tokio-rt-worker"] * 1000)
    return {name: round(statistics.median(walls), 2), f"{name}_proxy": round(sum(proxy) / calls, 2),
            f"{name}_sail": round(sum(sail) / calls, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--data", type=Path, help="raw drops to link into the lake (bench/.data/<size>/raw)")
    parser.add_argument("--stages", default="bronze,silver,gold,forms")
    parser.add_argument("--full-refresh", action="store_true")
    args = parser.parse_args()

    from month_end import _link_raw

    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import bronze, forms, gold, silver
    from odoolake.workspace.engine import LocalEngine

    paths = WorkspacePaths.from_env(args.home).ensure()
    if args.data:
        _link_raw(args.data.resolve(), paths.dbfs_to_local("dbfs:/raw/odoo"))
    writes: list[dict] = []
    time_writes(writes, PeakRss())
    counter = CallCounter()
    stages = args.stages.split(",")
    out: dict = {"stages": {}}
    with LocalEngine(paths) as engine:
        spark = engine.session()
        counter.install(spark)
        run = {
            "bronze": lambda: bronze.ingest(spark, "dbfs:/raw/odoo", dbfs_lister(paths)),
            "silver": lambda: silver.run(spark, full_refresh=args.full_refresh),
            "gold": lambda: (gold.run(spark), gold.refresh_features(spark)),
            "forms": lambda: (forms.run(spark), forms.check_in_step(spark)),
        }
        for stage in stages:
            before = (time.perf_counter(), time.process_time(), engine_cpu(), len(writes))
            threads = thread_cpu()
            run[stage]()
            wall = time.perf_counter() - before[0]
            by_thread = {name: round(cpu, 2) for name, cpu in (thread_cpu() - threads).most_common() if cpu >= 0.01}
            out["stages"][stage] = {"wall": round(wall, 2), "client_cpu": round(time.process_time() - before[1], 2),
                                    "engine_cpu": round(engine_cpu() - before[2], 2),
                                    "engine_cpu_by_thread": by_thread, "writes": writes[before[3]:]}
            print(f"{stage}: {wall:.2f} s wall, engine CPU {out['stages'][stage]['engine_cpu']:.2f} s "
                  f"(by thread: {by_thread})", file=sys.stderr)
            for w in writes[before[3]:]:
                print(f"    {w['seconds']:7.3f} s  {w['engine_cpu']:7.3f} cpu  {w['peak_rss_gib']:5.2f} GiB  "
                      f"{w['write']:<13} {w['table']}", file=sys.stderr)
    out["calls"] = counter.report()
    out["sites"] = counter.by_site()
    for site, calls, seconds in out["sites"]:
        print(f"  {seconds:7.3f} s {calls:4d}  {site}", file=sys.stderr)
    for name, c in out["calls"].items():
        print(f"  {name:<16} {c['calls']:5d} calls  {c['seconds']:8.2f} s", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
