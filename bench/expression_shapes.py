"""Does the shape of the ATC catalog's expressions change what the engine spends planning a new month's statements?

``catalog.rate_in_force`` and ``atc_in_force`` are 38 terms joined by OR, each nested in the next (``reduce``). The
same condition two ways, nested so and as a balanced tree (OR is associative, NULLs included: the same answers),
interleaved on a copy of a snapshot made by ``native_month.py setup``; the engine host's CPU per collect of the
condition alone over a period's withholding tax lines, then of the statements that use it, ``silver.tax_lines``' and
``silver.ewt_lines``' inputs for that period (their rows compared across shapes).

    python bench/expression_shapes.py --snapshot bench/.data/native_month/tiny
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import reduce
from pathlib import Path

from cpu_time import engine_cpu
from saved import save_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SHAPES = ("nested", "balanced")


def measure(home: Path, period: str, rounds: int, calls: int) -> dict[str, dict[str, list[float]]]:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql import functions as F

    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import catalog, io, silver
    from odoolake.workspace.engine import LocalEngine

    engine = LocalEngine(WorkspacePaths.from_env(home).ensure())
    spark = engine.session()
    kept = catalog._any

    def nested(conditions: list[Column]) -> Column:
        return reduce(lambda a, b: a | b, conditions, F.lit(False))

    def balanced(conditions: list[Column]) -> Column:
        while len(conditions) > 1:
            conditions = [reduce(lambda a, b: a | b, conditions[i:i + 2]) for i in range(0, len(conditions), 2)]
        return conditions[0]

    where_p = io.in_list("period", [period])
    wht = spark.table(io.TAX_LINES).where(where_p).where(F.col("_reject").isNull() & F.col("is_withholding"))
    moves = spark.table(io.SILVER_MOVES).where(where_p)

    def statements(shape: str) -> dict[str, DataFrame]:
        catalog._any = nested if shape == "nested" else balanced  # type: ignore[assignment]
        try:
            return {
                "the condition alone": wht.select("line_id", catalog.rate_in_force(F.col("date"),
                                                                                  F.abs(F.col("tax_amount")))),
                "silver.tax_lines' input": silver.conform_tax_lines(
                    moves, spark.table(io.SILVER_LINES).where(where_p), spark.table(io.SILVER_PARTNERS),
                    spark.table(io.SILVER_TAXES), spark.table(io.SILVER_COMPANIES), spark.table(io.SILVER_RATES),
                    all_moves=moves),
                "silver.ewt_lines' input": silver.ewt_lines(spark.table(io.TAX_LINES).where(where_p),
                                                            silver.prior_ytd(spark, {period})),
            }
        finally:
            catalog._any = kept  # type: ignore[assignment]

    built = {shape: statements(shape) for shape in SHAPES}
    for what in built[SHAPES[0]]:
        answers = {shape: sorted(tuple(map(str, row)) for row in built[shape][what].collect()) for shape in SHAPES}
        if any(answers[shape] != answers[SHAPES[0]] for shape in SHAPES):
            raise SystemExit(f"{what}: the shapes answer different rows")
    spent: dict[str, dict[str, list[float]]] = {what: {s: [] for s in SHAPES} for what in built[SHAPES[0]]}
    for _ in range(rounds):
        for what in spent:
            for shape in SHAPES:
                collect: Callable[[], object] = built[shape][what].collect
                before = engine_cpu()
                for _ in range(calls):
                    collect()
                spent[what][shape].append((engine_cpu() - before) / calls * 1000)
    engine.close()
    return spent


def main() -> None:
    from native_month import snapshot_copy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, default=HERE / ".data" / "native_month" / "tiny")
    parser.add_argument("--period", default="2026-10", help="a period silver already holds in the snapshot")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=6)
    args = parser.parse_args()
    if args.rounds < 1 or args.calls < 1:
        raise SystemExit("--rounds and --calls: give at least 1")
    with snapshot_copy(args.snapshot, "expression-shapes-") as home:
        spent = measure(home, args.period, args.rounds, args.calls)
    print(f"| engine host CPU per collect (median of {args.rounds} rounds of {args.calls}) | "
          + " | ".join(SHAPES) + " |")
    print("|---|" + "---:|" * len(SHAPES))
    for what, by_shape in spent.items():
        print(f"| {what} | " + " | ".join(f"{statistics.median(by_shape[s]):.0f} ms" for s in SHAPES) + " |")
    save_results(f"expression_shapes-{time.strftime('%Y-%m-%d')}-{args.snapshot.name}", {"host_ms": spent})


if __name__ == "__main__":
    main()
