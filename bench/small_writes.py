"""A new month's writes through Sail against the same rows collected as Arrow and written with delta-rs.

    python bench/profile_writes.py --data bench/.data/1000000/raw --home /tmp/lake1m      # a full run
    python bench/profile_writes.py --data bench/.data/1000000/extra --home /tmp/lake1m    # one new month
    cp -a /tmp/lake1m /tmp/lake1m-writes                                                   # this script rewrites it
    python bench/small_writes.py --home /tmp/lake1m-writes --periods 2026-10,2026-11

For each table, the rows of ``--periods`` are rewritten in place, three ways, ``--rounds`` times interleaved:
``sail`` (``io.replace_where``: the write a month-end makes), ``arrow`` (the same rows collected with ``toArrow()``,
no write: what a native write must pay first) and ``deltars`` (collected, then ``write_deltalake`` with the same
predicate: a native small-write path). Medians of wall time, this process's CPU and the engine host's CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from cpu_time import engine_cpu

TABLES = (("silver.ewt_lines", ("period",)), ("silver.move_lines", ("period",)), ("silver.vat_lines", ("period",)),
          ("silver.payee_ytd", ()), ("gold.bir_transactions", ()))
KINDS = ("sail", "arrow", "deltars")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="a lake this script may rewrite (a copy)")
    parser.add_argument("--periods", required=True, help="comma-separated yyyy-MM, e.g. the new month's")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import deltalake

    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import io
    from odoolake.workspace.engine import LocalEngine

    paths = WorkspacePaths.from_env(args.home).ensure()
    where = io.in_list("period", args.periods.split(","))
    spent: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    report: dict = {"command": " ".join(sys.argv), "tables": {}}
    with LocalEngine(paths) as engine:
        spark = engine.session()
        for _ in range(args.rounds):
            for table, partitions in TABLES:
                location = str(paths.warehouse.joinpath(*table.split(".")))
                for kind in KINDS:
                    rows = spark.table(table).where(where)
                    wall, cpu, host = time.perf_counter(), time.process_time(), engine_cpu()
                    if kind == "sail":
                        io.replace_where(rows, table, where, list(partitions))
                    else:
                        collected = rows.toArrow()
                        if kind == "deltars":
                            deltalake.write_deltalake(location, collected, mode="overwrite", predicate=where,
                                                      partition_by=list(partitions) or None)
                    spent.setdefault((table, kind), []).append((
                        time.perf_counter() - wall, time.process_time() - cpu, engine_cpu() - host))
        for table, _ in TABLES:
            count = spark.table(table).where(where).count()
            report["tables"][table] = {"rows": count}
            for kind in KINDS:
                runs = spent[(table, kind)]
                wall, cpu, host = (round(statistics.median(r[i] for r in runs) * 1000, 1) for i in range(3))
                report["tables"][table][kind] = {"wall_ms": wall, "client_cpu_ms": cpu, "engine_cpu_ms": host}
                print(f"{table:22s} {count:7d} rows  {kind:8s} wall {wall:7.1f} ms  client CPU {cpu:6.1f} ms  "
                      f"engine CPU {host:6.1f} ms", flush=True)
    out = Path(__file__).resolve().parent / "results" / f"small_writes-{time.strftime('%Y-%m-%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    os._exit(0)  # PySpark's exit-time clean-up would retry against the engine already stopped


if __name__ == "__main__":
    main()
