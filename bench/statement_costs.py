"""What one statement of a new month costs the engine: planning against running, and what a table reference adds.

    python bench/native_month.py setup --moves 20 --snapshot bench/.data/native_month/tiny   # once
    python bench/statement_costs.py --snapshot bench/.data/native_month/tiny
    SAIL_EXECUTION__DEFAULT_PARALLELISM=1 python bench/statement_costs.py …   # a Sail setting, passed to the engine

On a copy of the snapshot, silver's new month runs until it writes each table of ``--tables``; that write's input is
then asked for ``--calls`` times three ways: its schema (one AnalyzePlan: the plan resolved), ``EXPLAIN`` (resolved,
optimized and physically planned, not run) and collected (planned and run). Then small probes: ``SELECT 1``, a table
named four times, the same by path, a schema's listing. Each cell is the CPU per call of the engine host (the
client's beside it), so a statement whose EXPLAIN costs what collecting it does spends its time planning.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from cpu_time import engine_cpu
from native_month import snapshot_copy
from saved import save_results

HERE = Path(__file__).resolve().parent


class _Captured(Exception):
    """Stops silver's run once the inputs asked for are captured."""


def per_call(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """Milliseconds of CPU per call: (engine host, client). One call first, not counted."""
    call()
    host0, client0 = engine_cpu(), time.process_time()
    for _ in range(calls):
        call()
    host1, client1 = engine_cpu(), time.process_time()
    return (host1 - host0) / calls * 1000, (client1 - client0) / calls * 1000


def measure(home: Path, tables: list[str], calls: int) -> list[tuple[str, float, float]]:
    from pyspark.sql import DataFrame

    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import io, silver
    from odoolake.workspace.engine import LocalEngine

    engine = LocalEngine(WorkspacePaths.from_env(home).ensure())
    spark = engine.session()
    inputs: dict[str, DataFrame] = {}
    write = io.replace_where

    def capture(df: DataFrame, name: str, *args: object, **kwargs: object) -> None:
        if name in tables:
            inputs[name] = df
            if len(inputs) == len(tables):
                raise _Captured
        write(df, name, *args, **kwargs)  # type: ignore[arg-type]

    io.replace_where = capture  # type: ignore[assignment]
    try:
        silver.run(spark)
    except _Captured:
        pass
    finally:
        io.replace_where = write  # type: ignore[assignment]
    missing = sorted(set(tables) - set(inputs))
    if missing:
        raise SystemExit(f"--tables {', '.join(missing)}: silver's new month wrote no such table with replace_where")
    rows: list[tuple[str, float, float]] = []
    for name in tables:
        df = inputs[name]
        view = "_statement_costs_" + name.replace(".", "_")
        df.createOrReplaceTempView(view)
        plan = df._plan.to_proto(spark.client)
        for how, call in (("schema (AnalyzePlan)", lambda p=plan: spark.client._analyze(method="schema", plan=p)),
                          ("EXPLAIN", lambda v=view: spark.sql(f"EXPLAIN SELECT * FROM {v}").collect()),
                          ("collected", df.collect)):
            rows.append((f"{name} input: {how}", *per_call(call, calls)))
    location = home / "warehouse" / "silver" / "moves"
    by_name, by_path = (" UNION ALL ".join([f"SELECT move_id FROM {table} WHERE false"] * 4)
                        for table in ("silver.moves", f"delta.`{location}`"))
    for what, call in (("SELECT 1", lambda: spark.sql("SELECT 1").collect()),
                       ("silver.moves named 4 times", lambda: spark.sql(by_name).collect()),
                       ("silver.moves by path 4 times", lambda: spark.sql(by_path).collect()),
                       ("listTables('silver')", lambda: spark.catalog.listTables("silver"))):
        rows.append((what, *per_call(call, calls)))
    engine.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, default=HERE / ".data" / "native_month" / "tiny")
    parser.add_argument("--tables", default="silver.moves,silver.ewt_lines")
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    if args.calls < 1:
        raise SystemExit(f"--calls {args.calls}: give at least 1")
    with snapshot_copy(args.snapshot, "statement-costs-") as home:
        rows = measure(home, [t.strip() for t in args.tables.split(",") if t.strip()], args.calls)
    print(f"| statement ({args.calls} calls) | engine host CPU per call | client CPU per call |")
    print("|---|---:|---:|")
    for what, host, client in rows:
        print(f"| {what} | {host:.1f} ms | {client:.1f} ms |")
    save_results(f"statement_costs-{time.strftime('%Y-%m-%d')}-{args.snapshot.name}", {"calls": args.calls, "rows": [
        {"statement": what, "host_ms": round(host, 1), "client_ms": round(client, 1)} for what, host, client in rows]})


if __name__ == "__main__":
    main()
