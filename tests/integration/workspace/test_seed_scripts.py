"""The seed's three SDK scripts (corrected where the seed is wrong) against a fresh local workspace."""

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import RunResultState
from databricks.sdk.service.workspace import ImportFormat, Language

from odoolake.datagen import GenConfig, generate
from tests.integration.workspace.conftest import running_server

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts" / "databricks"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("seed-workspace")) as server:
        paths = server.workspace.paths
        generate(GenConfig(months=3, end=date(2026, 10, 1), lines=8000, seed=11), paths.dbfs_to_local("dbfs:/raw/odoo"))
        w = WorkspaceClient(host=server.url, token=server.token)
        w.workspace.mkdirs("/Shared/ETL")
        for name in ("bronze_ingestion", "silver_cleaning", "gold_aggregation"):
            w.workspace.upload(f"/Shared/ETL/{name}", (REPO / "databricks/src/etl" / f"{name}.py").read_bytes(),
                               format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
        env = {**os.environ, "DATABRICKS_HOST": server.url, "DATABRICKS_TOKEN": server.token}
        yield server, w, env


def script(name: str, env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_seed_scripts_create_run_list_and_query(seeded):
    server, w, env = seeded
    out = script("create_bir_etl_job.py", env)
    job_id = int(out.strip().rsplit(" ", 1)[-1])
    run = w.jobs.run_now(job_id=job_id).result()
    assert run.state.result_state == RunResultState.SUCCESS, [t.state.state_message for t in run.tasks]
    assert [t.task_key for t in run.tasks] == ["bronze_ingestion", "silver_cleaning", "gold_aggregation"]
    assert "Cluster: odoolake-local" in script("list_clusters.py", env)
    lines = script("query_delta_lake.py", env, "2026", "10").strip().splitlines()
    assert len(lines) == 8 and all(line.startswith("Agency: ") for line in lines)
    spark = server.workspace.engine.session()
    expected = {r["agency"]: r["t"] for r in spark.sql(
        "SELECT agency, SUM(withholding_tax) AS t FROM gold.bir_transactions WHERE year = 2026 AND month = 10 "
        "GROUP BY agency").collect()}
    server.workspace.engine.stop_session(spark)
    got = {line.split(",")[0].removeprefix("Agency: "): Decimal(line.rsplit(" ", 1)[-1]) for line in lines}
    assert got == expected  # DECIMAL(18,2) through the SQL API, exact
