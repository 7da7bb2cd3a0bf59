"""Silver's rules unchanged on DuckDB through a PySpark-API translator (SQLFrame), against the same rules on the engine.

A native new month without a second copy of every rule: SQLFrame implements PySpark's DataFrame API over DuckDB (it
turns each DataFrame into SQL with sqlglot), so ``silver.ewt_lines`` could run as written, without Sail's planning
(the fixed cost of a new month at 1M, docs/performance.md). This measures one statement both ways, interleaved, each
round in a new process: ``silver.ewt_lines`` over a period's ``silver.tax_lines`` with the payees' earlier running
totals, built and counted ``--calls`` times. SQLFrame pins sqlglot below the project's, so it is installed apart:

    python -m pip install --no-deps --target bench/.data/sqlframe sqlframe==4.10.0 sqlglot==30.29.0 \
        prettytable more-itertools wcwidth
    python bench/translated_silver.py --snapshot bench/.data/native_month/tiny --rounds 3

The translated SQL needs two DuckDB macros for functions SQLFrame names as Spark does (``to_date``, ``startswith``);
the script defines them and checks that both ways count the same rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cpu_time import engine_cpu
from saved import save_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
KINDS = ("engine", "translated")
# Functions SQLFrame's DuckDB dialect leaves under their Spark names
MACROS = ("CREATE MACRO to_date(x) AS CAST(x AS DATE)", "CREATE MACRO startswith(a, b) AS starts_with(a, b)")


def _statement(spark: object, period: str) -> object:
    """The statement both ways build: ``silver.ewt_lines`` as ``silver.run`` calls it for one period."""
    from pyspark.sql import functions as F

    from odoolake.pipeline import io, silver

    tax_lines = spark.table(io.TAX_LINES).where(F.col("period") == period)  # type: ignore[attr-defined]
    prior = spark.table(io.PAYEE_YTD).where(  # type: ignore[attr-defined]
        (F.col("year") == int(period[:4])) & (F.col("period") != period))
    return silver.ewt_lines(tax_lines, prior)


def engine_round(home: Path, period: str, calls: int) -> dict:
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine import LocalEngine

    engine = LocalEngine(WorkspacePaths.from_env(home).ensure())
    spark = engine.session()
    rows = _statement(spark, period).count()  # type: ignore[attr-defined]
    host0, client0, wall0 = engine_cpu(), time.process_time(), time.perf_counter()
    for _ in range(calls):
        _statement(spark, period).count()  # type: ignore[attr-defined]
    host, client = engine_cpu() - host0, time.process_time() - client0
    wall = time.perf_counter() - wall0
    engine.close()
    return {"rows": rows, "wall_ms": wall / calls * 1000, "cpu_ms": (host + client) / calls * 1000,
            "parts_ms": {"engine host": host / calls * 1000, "client": client / calls * 1000}}


def translated_round(home: Path, period: str, calls: int, sqlframe: Path) -> dict:
    sys.path.insert(0, str(sqlframe))
    from sqlframe import activate

    activate(engine="duckdb")  # from here on, ``pyspark.sql`` is SQLFrame's
    from deltalake import DeltaTable
    from pyspark.sql import SparkSession

    from odoolake.pipeline import io

    spark = SparkSession.builder.getOrCreate()
    con = spark._conn  # type: ignore[attr-defined]
    con.execute("CREATE SCHEMA IF NOT EXISTS silver")
    for table in (io.TAX_LINES, io.PAYEE_YTD):
        schema, name = table.split(".")
        arrow = DeltaTable(str(home / "warehouse" / schema / name)).to_pyarrow_table()
        con.register(f"_arrow_{name}", arrow)
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _arrow_{name}")
    for macro in MACROS:
        con.execute(macro)
    parts = {"build the DataFrame": 0.0, "generate SQL": 0.0, "DuckDB": 0.0}
    rows = 0
    wall0 = time.perf_counter()
    for _ in range(calls + 1):
        c0 = time.process_time()
        df = _statement(spark, period)
        c1 = time.process_time()
        sql = df.sql(optimize=False)  # type: ignore[attr-defined]
        c2 = time.process_time()
        rows = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        c3 = time.process_time()
        if _ == 0:  # the first call warms imports, not counted
            wall0 = time.perf_counter()
            continue
        for key, spent in zip(parts, (c1 - c0, c2 - c1, c3 - c2), strict=True):
            parts[key] += spent
    wall = time.perf_counter() - wall0
    return {"rows": rows, "wall_ms": wall / calls * 1000, "cpu_ms": sum(parts.values()) / calls * 1000,
            "parts_ms": {k: v / calls * 1000 for k, v in parts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, default=HERE / ".data" / "native_month" / "tiny")
    parser.add_argument("--sqlframe", type=Path, default=HERE / ".data" / "sqlframe",
                        help="a folder SQLFrame was installed into with pip --target (see above)")
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.calls < 1:
        raise SystemExit(f"--rounds {args.rounds} --calls {args.calls}: give at least 1 of each")
    if args.worker:
        result = (engine_round(args.home, args.period, args.calls) if args.worker == "engine"
                  else translated_round(args.home, args.period, args.calls, args.sqlframe))
        print(json.dumps(result))
        return
    if not (args.sqlframe / "sqlframe").is_dir():
        raise SystemExit(f"--sqlframe {args.sqlframe}: SQLFrame is not installed there (see the command above)")
    from native_month import snapshot_copy

    results: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    with snapshot_copy(args.snapshot, "translated-silver-") as home:
        for round_ in range(args.rounds):
            for kind in KINDS:
                print(f"round {round_ + 1}/{args.rounds}: {kind} …", file=sys.stderr, flush=True)
                out = subprocess.run([sys.executable, __file__, "--worker", kind, "--home", str(home),
                                      "--period", args.period, "--calls", str(args.calls),
                                      "--sqlframe", str(args.sqlframe)],
                                     check=True, capture_output=True, text=True).stdout
                results[kind].append(json.loads(out.strip().splitlines()[-1]))
    counts = {kind: {r["rows"] for r in rs} for kind, rs in results.items()}
    if len(set().union(*counts.values())) != 1:
        raise SystemExit(f"the two ways counted different rows: {counts}")
    print(f"| `silver.ewt_lines` of {args.period} ({counts['engine'].pop()} rows), per call | wall (median) "
          "| CPU (median) | CPU by part (median) |")
    print("|---|---:|---:|---|")
    for kind, rs in results.items():
        parts = ", ".join(f"{k} {statistics.median(r['parts_ms'][k] for r in rs):.0f} ms" for k in rs[0]["parts_ms"])
        print(f"| {kind} | {statistics.median(r['wall_ms'] for r in rs):.0f} ms "
              f"| {statistics.median(r['cpu_ms'] for r in rs):.0f} ms | {parts} |")
    save_results(f"translated_silver-{time.strftime('%Y-%m-%d-%H%M')}", {"results": results})


if __name__ == "__main__":
    main()
