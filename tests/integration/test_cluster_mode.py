"""The embedded engine with several workers (Sail's local cluster mode: a driver and workers exchanging tasks over
RPC, as on a cluster): the month-end gives the same gold figures as the single-process engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date

import pytest

from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.pipeline import month_end
from odoolake.workspace.engine import LocalEngine

CFG = GenConfig(months=2, end=date(2026, 10, 1), lines=6000, seed=9)
RUN = textwrap.dedent("""
    import json, sys
    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.pipeline import month_end
    from odoolake.workspace.engine import LocalEngine

    paths = WorkspacePaths.from_env(sys.argv[1])
    engine = LocalEngine(paths)
    spark = engine.session()
    month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
    gold = {f"{r['agency']}|{r['period']}": str(r["withholding_tax"])
            for r in spark.table("gold.bir_transactions").collect()}
    print(json.dumps({"mode": engine.lease().status.get("mode"), "gold": gold}))
""")


def _lake(root) -> WorkspacePaths:
    paths = WorkspacePaths.from_env(root).ensure()
    generate(CFG, paths.dbfs_to_local("dbfs:/raw/odoo"))
    return paths


@pytest.mark.timeout(900)
def test_local_cluster_mode_matches_the_single_process_engine(tmp_path):
    single = _lake(tmp_path / "single")
    engine = LocalEngine(single)
    spark = engine.session()
    month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(single))
    expected = {f"{r['agency']}|{r['period']}": str(r["withholding_tax"])  # DECIMAL(18,2): exact on both
                for r in spark.table("gold.bir_transactions").collect()}
    engine.close()

    cluster = _lake(tmp_path / "cluster")
    script = tmp_path / "run.py"
    script.write_text(RUN)
    proc = subprocess.run([sys.executable, str(script), str(cluster.home)], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "ODOOLAKE_ENGINE_WORKERS": "2"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["mode"] == "local-cluster"
    assert result["gold"].keys() == expected.keys()
    assert result["gold"] == expected
