"""What each write of a new month costs, split three ways: planning its input, running its query, writing it.

    python bench/native_month.py setup --size 1000000                                 # a full run + the new month's bronze
    python bench/native_month.py setup --moves 20 --snapshot bench/.data/native_month/tiny   # ... a month of 20 moves
    python bench/write_costs.py --snapshot bench/.data/native_month/tiny

Runs the new month's silver, gold and forms on a copy of the snapshot. Before each write of ``odoolake.pipeline.io``
(``replace_where``, ``overwrite``) it measures, in CPU seconds of the process tree (client, engine host, Sail):
- **plan**: the write's input collected under a false filter (the engine plans it and reads nothing);
- **query**: ``EXPLAIN ANALYZE`` of the input (planned and run, nothing written), and the time Sail's operators
  report for it (``elapsed_compute`` and scan time: the data work);
- **write**: the write itself, as the pipeline makes it (planned again, run, written, committed).
A write whose query's operators take a few milliseconds but whose write takes a tenth of a second costs that much
whatever the month holds: the per-run cost a new month pays at any size.

``--catalog-as-constants`` puts constants in place of the ATC catalog's expressions (``odoolake.pipeline.catalog``:
its CASE and OR chains of 38 rows): the rows written are then wrong, but the costs bound what any cheaper form of
the catalog (a small table joined, a lookup) could save.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path

from cpu_time import tree_cpu
from native_month import snapshot_copy
from saved import save_results

HERE = Path(__file__).resolve().parent
_DURATION = re.compile(r"([\d.]+)(ns|µs|us|ms|s)\b")
_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_OPERATOR_TIMES = re.compile(r"(?:elapsed_compute|time_elapsed_scanning_total)=([\d.]+(?:ns|µs|us|ms|s))")


def operator_seconds(explained: str) -> float:
    """The time Sail's operators report in an ``EXPLAIN ANALYZE`` physical plan (compute and scanning)."""
    physical = explained.split("== Optimized Logical Plan ==")[0]
    total = 0.0
    for text in _OPERATOR_TIMES.findall(physical):
        found = _DURATION.fullmatch(text)
        if found:
            total += float(found.group(1)) * _SECONDS[found.group(2)]
    return total


def catalog_as_constants() -> None:
    """Every expression of ``odoolake.pipeline.catalog`` a constant of its type (a bound, not a rule)."""
    from pyspark.sql import functions as F

    from odoolake.pipeline import catalog
    from odoolake.pipeline.schemas import RATE

    def text(*_: object) -> object:
        return F.lit(None).cast("string")

    def true(*_: object) -> object:
        return F.lit(True)

    for name in ("expected_atc", "payee_condition", "nature", "family", "regime", "payor_condition"):
        setattr(catalog, name, text)
    for name in ("atc_known", "atc_in_force", "rate_in_force", "payor_eligible"):
        setattr(catalog, name, true)
    catalog.expected_rate = lambda *_: F.lit(None).cast(RATE)  # type: ignore[assignment]


def measure(home: Path, stages: list[str]) -> list[dict]:
    from pyspark.sql import functions as F

    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import forms, gold, io, silver
    from odoolake.workspace.engine import LocalEngine

    engine = LocalEngine(WorkspacePaths.from_env(home).ensure())
    spark = engine.session()
    spark.sql("SELECT 1").collect()  # the session's first call is not any write's
    rows: list[dict] = []

    def measured(write: Callable[..., None]) -> Callable[..., None]:
        def wrapped(df, name: str, *args, **kwargs) -> None:
            c0 = tree_cpu()
            df.where(F.lit(False)).collect()
            c1 = tree_cpu()
            df.createOrReplaceTempView("_write_costs_input")
            explained = "\n".join(r[0] for r in spark.sql("EXPLAIN ANALYZE SELECT * FROM _write_costs_input").collect())
            c2 = tree_cpu()
            started = time.perf_counter()
            write(df, name, *args, **kwargs)
            rows.append({"table": name, "plan": round(c1 - c0, 3), "query": round(c2 - c1, 3),
                         "operators": round(operator_seconds(explained), 3), "write": round(tree_cpu() - c2, 3),
                         "write_wall": round(time.perf_counter() - started, 3)})
        return wrapped

    io.replace_where, io.overwrite = measured(io.replace_where), measured(io.overwrite)  # type: ignore[method-assign]
    runs = {"silver": lambda: silver.run(spark),
            "gold": lambda: (gold.run(spark), gold.refresh_features(spark)),
            "forms": lambda: (forms.run(spark), forms.check_in_step(spark))}
    for stage in stages:
        runs[stage]()
    engine.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, default=HERE / ".data" / "native_month" / "snapshot")
    parser.add_argument("--stages", default="silver,gold,forms")
    parser.add_argument("--catalog-as-constants", action="store_true",
                        help="constants in place of the ATC catalog's expressions (a bound; wrong rows)")
    args = parser.parse_args()
    if args.catalog_as_constants:
        catalog_as_constants()
    with snapshot_copy(args.snapshot, "write-costs-") as home:
        rows = measure(home, args.stages.split(","))
    print("| table written | plan (CPU s) | query (CPU s) | its operators (s) | write (CPU s) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['table']} | {r['plan']:.3f} | {r['query']:.3f} | {r['operators']:.3f} | {r['write']:.3f} |")
    sums = {k: round(sum(r[k] for r in rows), 2) for k in ("plan", "query", "operators", "write")}
    print(f"| **all {len(rows)} writes** | {sums['plan']:.2f} | {sums['query']:.2f} | {sums['operators']:.2f} | "
          f"{sums['write']:.2f} |")
    variant = "-catalog-as-constants" if args.catalog_as_constants else ""
    save_results(f"write_costs-{time.strftime('%Y-%m-%d')}-{args.snapshot.name}{variant}",
                 {"writes": rows, "sums": sums, "catalog_as_constants": args.catalog_as_constants})


if __name__ == "__main__":
    main()
