"""The engine proxy's cost on a plan too deep for upb, before and after a change, interleaved.

    python bench/deep_plans.py --baseline-src /tmp/base/src [--rounds 4] [--calls 30]

A worker (``ab.py``: this tree's ``src`` or ``--baseline-src``, fresh processes, alternating) runs the month-end on a
small generated lake (20,000 lines, 4 months), then times ``silver.ewt_lines`` of two periods, as a new month builds
it: its schema (one AnalyzePlan) and its row count (one ExecutePlan), ``--calls`` times each. The plan is about 200
levels deep (the proxy walks its wire format: ``odoolake.workspace.engine.wire``). Reported per call: the median wall
time, and the engine host's CPU split by thread (``proxy``: its Python threads, the proxy and the catalog;
``sail``: Sail's ``tokio-rt-worker`` threads), read from ``/proc``.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import ab
from profile_writes import engine_calls

MEASURES = ("analyze", "analyze_proxy", "analyze_sail", "count", "count_proxy", "count_sail")
RAW = "dbfs:/raw/odoo"


def worker(calls: int) -> None:
    import odoolake
    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.datagen import GenConfig, generate
    from odoolake.pipeline import io, month_end, silver
    from odoolake.workspace.engine import LocalEngine

    report: dict = {"src": str(Path(odoolake.__file__).parent.parent)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = WorkspacePaths.from_env(Path(tmp)).ensure()
        generate(GenConfig(months=4, end=date(2026, 10, 1), lines=20_000, seed=7), paths.dbfs_to_local(RAW))
        with LocalEngine(paths) as engine:
            spark = engine.session()
            month_end.run(spark, RAW, dbfs_lister(paths))
            periods = {"2026-09", "2026-10"}
            tax_lines = spark.table(io.TAX_LINES).where(io.in_list("period", periods))

            def plan():
                return silver.ewt_lines(tax_lines, silver.prior_ytd(spark, periods))

            for name, call in (("analyze", lambda: plan().schema), ("count", lambda: plan().count())):
                call()
                report.update(engine_calls(name, call, calls))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    ab.main(__file__, __doc__, worker, MEASURES, ("calls", 30), rounds=4)
