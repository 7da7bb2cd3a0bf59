"""Superset: the dashboard export over the workspace's SQL warehouse (Superset's own Databricks engine), its every
dataset run through the real SQL connector and each chart's query context checked; offline, gold published to a
DuckDB file Superset 6.1 can read. ``make test-superset`` imports both exports into a real Superset 6.1 (its own
virtualenv: it needs SQLAlchemy<2) and reads every chart's data through ``GET /api/v1/chart/{id}/data``."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

from odoolake.ml.scoring import score
from odoolake.pipeline import io
from odoolake.superset.dashboard import (
    CHARTS,
    OFFLINE_DATABASE,
    PASSWORD_MASK,
    ROOT,
    WAREHOUSE_DATABASE,
    Target,
    duckdb_target,
    export_dashboard,
    warehouse_target,
)
from odoolake.superset.publish import GOLD_TABLES, publish
from odoolake.testing.waiting import wait_until
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

from .workspace.conftest import Server, free_port, running_server

SUPERSET_VENV = os.environ.get("ODOOLAKE_SUPERSET_VENV")
needs_superset = pytest.mark.skipif(
    not SUPERSET_VENV, reason="needs Superset 6.1 in its own virtualenv (it pins SQLAlchemy<2, which MLflow 3 cannot "
                              "share); `make test-superset` builds it and runs this test")


@pytest.fixture(scope="module")
def scored(forecast_lake):
    """The forecast lake with gold.bir_forecast, which the forecast-vs-actual chart reads."""
    if not io.table_exists(forecast_lake.spark, "gold.bir_forecast"):
        score(forecast_lake.spark, forecast_lake.paths)
    return forecast_lake


@pytest.fixture(scope="module")
def published(scored, tmp_path_factory):
    forecast_lake = scored
    target = tmp_path_factory.mktemp("superset") / "gold.duckdb"
    return publish(forecast_lake.spark, target)


def test_publish_writes_every_gold_table_in_a_storage_version_superset_reads(published, forecast_lake):
    assert {"bir_transactions", "ewt_by_atc", "bir_forecast"} <= set(published.tables)
    assert set(published.tables) | set(published.missing) == set(GOLD_TABLES)  # forms were not built in this lake
    header = published.path.read_bytes()[:20]
    assert header[8:12] == b"DUCK" and 64 <= struct.unpack("<Q", header[12:20])[0] <= 68  # DuckDB 1.5 reads 64-68
    con = duckdb.connect(str(published.path), read_only=True)
    try:
        for table, rows in published.tables.items():
            assert con.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0] == rows
        lake_total = forecast_lake.spark.sql("SELECT ROUND(SUM(withholding_tax), 2) FROM gold.bir_transactions").first()[0]
        assert con.execute("SELECT ROUND(SUM(withholding_tax), 2) FROM main.bir_transactions").fetchone()[0] == lake_total
    finally:
        con.close()
    assert not published.path.with_name(published.path.name + ".tmp").exists()


def test_dashboard_export_structure_and_every_dataset_runs(published, tmp_path):
    out = export_dashboard(duckdb_target(published.path), tmp_path / "dash.zip")
    with zipfile.ZipFile(out) as zf:
        docs = {name: yaml.safe_load(zf.read(name)) for name in zf.namelist()}
    assert {name.split("/")[0] for name in docs} == {"odoolake_bir_export"}  # one top-level folder
    kinds = {name.split("/")[1] for name in docs}
    assert kinds == {"metadata.yaml", "databases", "datasets", "charts", "dashboards"}
    meta = docs["odoolake_bir_export/metadata.yaml"]
    assert meta["type"] == "Dashboard" and meta["version"] == "1.0.0"
    [database] = [d for n, d in docs.items() if "/databases/" in n]
    assert database["sqlalchemy_uri"] == f"duckdb:///{published.path.resolve()}"
    datasets = {d["uuid"]: d for n, d in docs.items() if "/datasets/" in n}
    charts = [d for n, d in docs.items() if "/charts/" in n]
    [dashboard] = [d for n, d in docs.items() if "/dashboards/" in n]

    con = duckdb.connect(str(published.path), read_only=True)
    try:
        for ds in datasets.values():
            assert ds["database_uuid"] == database["uuid"]
            source = f"({ds['sql']})" if ds["sql"] else f"main.{ds['table_name']}"
            got = [d[0] for d in con.execute(f"SELECT * FROM {source} AS t LIMIT 5").description]
            declared = [c["column_name"] for c in ds["columns"]]
            assert set(declared) <= set(got), (ds["table_name"], set(declared) - set(got))
            for metric in ds["metrics"]:
                value = con.execute(f"SELECT {metric['expression']} FROM {source} AS t").fetchone()[0]
                assert value is not None, (ds["table_name"], metric["metric_name"])
    finally:
        con.close()

    for chart in charts:
        ds = datasets[chart["dataset_uuid"]]
        names = {m["metric_name"] for m in ds["metrics"]}
        columns = {c["column_name"] for c in ds["columns"]}
        params = chart["params"]
        wanted = params.get("metrics") or [params["metric"]]
        assert set(wanted) <= names, (chart["slice_name"], wanted)
        assert set(params.get("groupby") or []) <= columns
        assert params.get("x_axis") in (None, *columns)
    placed = {v["meta"]["uuid"] for k, v in dashboard["position"].items() if k.startswith("CHART-")}
    assert placed == {c["uuid"] for c in charts}
    # deterministic uuids: a re-import updates
    export_again = export_dashboard(duckdb_target(published.path), tmp_path / "again.zip")
    with zipfile.ZipFile(export_again) as zf:
        assert yaml.safe_load(zf.read("odoolake_bir_export/dashboards/BIR_withholding.yaml"))["uuid"] == dashboard["uuid"]


@pytest.fixture(scope="module")
def warehouse(scored) -> Iterator[Server]:
    with running_server(scored.paths.home) as srv:
        yield srv


def _target(server: Server) -> Target:
    return warehouse_target("127.0.0.1", int(server.url.rsplit(":", 1)[1]), f"/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}",
                            server.ca_bundle)


def _warehouse_export(server: Server, out: Path) -> Path:
    return export_dashboard(_target(server), out)


def _docs(export: Path) -> dict[str, dict]:
    with zipfile.ZipFile(export) as zf:
        return {name.removeprefix(f"{ROOT}/"): yaml.safe_load(zf.read(name)) for name in zf.namelist()}


def test_the_warehouse_export_runs_every_dataset_through_the_sql_connector(warehouse, tmp_path):
    """What Superset's Databricks engine will send: each dataset's SQL and metrics, over the real connector."""
    from databricks import sql

    docs = _docs(_warehouse_export(warehouse, tmp_path / "dash.zip"))
    database = docs[_target(warehouse).database_file]
    assert database["sqlalchemy_uri"].startswith(f"databricks://token:{PASSWORD_MASK}@127.0.0.1:")
    assert warehouse.token not in json.dumps(docs)  # the token is given at import, never written
    connect_args = database["extra"]["engine_params"]["connect_args"]
    datasets = [d for n, d in docs.items() if n.startswith("datasets/")]
    assert datasets and {d["schema"] for d in datasets} == {"gold"}
    with sql.connect(server_hostname="127.0.0.1", http_path=f"/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}",
                     access_token=warehouse.token, **connect_args) as conn, \
            conn.cursor() as cur:
        for ds in datasets:
            source = f"({ds['sql']})" if ds["sql"] else f"gold.{ds['table_name']}"
            cur.execute(f"SELECT * FROM {source} AS t LIMIT 5")
            assert {c["column_name"] for c in ds["columns"]} <= {d[0] for d in cur.description}, ds["table_name"]
            for metric in ds["metrics"]:
                cur.execute(f"SELECT {metric['expression']} FROM {source} AS t")
                assert cur.fetchone()[0] is not None, (ds["table_name"], metric["metric_name"])


def test_every_chart_carries_a_query_context_naming_its_dataset_by_uuid(warehouse, tmp_path):
    docs = _docs(_warehouse_export(warehouse, tmp_path / "dash.zip"))
    datasets = {d["uuid"]: d for n, d in docs.items() if n.startswith("datasets/")}
    charts = [d for n, d in docs.items() if n.startswith("charts/")]
    assert len(charts) == len(CHARTS)
    for chart in charts:
        context = json.loads(chart["query_context"])
        assert context["datasource"] == {"id": chart["dataset_uuid"], "type": "table"}  # the uuid survives import
        [query] = context["queries"]
        metrics = {m["metric_name"] for m in datasets[chart["dataset_uuid"]]["metrics"]}
        assert query["metrics"] and set(query["metrics"]) <= metrics, chart["slice_name"]
        wanted = chart["params"].get("metrics") or [chart["params"]["metric"]]
        assert query["metrics"] == wanted
        labels = [c["label"] if isinstance(c, dict) else c for c in query["columns"]]
        assert labels == [x for x in (chart["params"].get("x_axis"), *chart["params"].get("groupby", [])) if x]


# -- the real Superset 6.1 (make test-superset) ---------------------------------------------------------------------

@dataclass
class Superset:
    base: str
    env: dict[str, str]
    binary: str

    def api(self) -> httpx.Client:
        token = httpx.post(f"{self.base}/api/v1/security/login", json={
            "username": "admin", "password": "admin", "provider": "db"}).json()["access_token"]
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    def cli(self, *args: str) -> None:
        done = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"superset {' '.join(args)}: {done.stderr[-2000:]}"


@pytest.fixture
def superset(tmp_path_factory) -> Iterator[Superset]:
    """Superset 6.1 on a free loopback port with a fresh metadata database and an admin user; one per test, as its
    SQLite metadata database takes a physical table's name once (the warehouse's and the offline copy's collide)."""
    home = tmp_path_factory.mktemp("superset-home")
    (home / "superset_config.py").write_text(
        f"SECRET_KEY = 'odoolake-test'\nSQLALCHEMY_DATABASE_URI = 'sqlite:///{home}/superset.db'\n"
        "WTF_CSRF_ENABLED = False\n")
    env = {**os.environ, "SUPERSET_CONFIG_PATH": str(home / "superset_config.py"), "FLASK_APP": "superset"}
    binary = str(Path(SUPERSET_VENV or "") / "bin" / "superset")
    port = free_port()
    handle = Superset(f"http://127.0.0.1:{port}", env, binary)
    handle.cli("db", "upgrade")
    handle.cli("fab", "create-admin", "--username", "admin", "--firstname", "a", "--lastname", "b",
               "--email", "a@b.c", "--password", "admin")
    handle.cli("init")
    log = (home / "superset.log").open("w")
    proc = subprocess.Popen([binary, "run", "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: httpx.get(f"{handle.base}/health").status_code == 200, what="Superset to start",
                   timeout=300)
        yield handle
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@needs_superset
def test_real_superset_imports_the_offline_export_and_queries_every_dataset(superset, published, tmp_path):
    """Offline: Superset's own CLI imports the DuckDB export; /api/v1/chart/data runs on each dataset."""
    superset.cli("import-dashboards", "-p", str(export_dashboard(duckdb_target(published.path), tmp_path / "d.zip")),
                 "-u", "admin")
    api = superset.api()
    assert "BIR withholding (offline copy)" in [d["dashboard_title"] for d in api.get("/api/v1/dashboard/").json()["result"]]
    for ds in api.get("/api/v1/dataset/?q=(page_size:50)").json()["result"]:
        if ds["database"]["database_name"] != OFFLINE_DATABASE:
            continue
        metric = api.get(f"/api/v1/dataset/{ds['id']}").json()["result"]["metrics"][0]["metric_name"]
        answer = api.post("/api/v1/chart/data", json={
            "datasource": {"id": ds["id"], "type": "table"}, "result_format": "json", "result_type": "full",
            "queries": [{"metrics": [metric], "columns": [], "row_limit": 5}]})
        assert answer.status_code == 200, (ds["table_name"], answer.text[:300])
        assert answer.json()["result"][0]["data"][0][metric] is not None


@needs_superset
def test_real_superset_reads_every_chart_from_the_warehouse(superset, warehouse, forecast_lake, tmp_path):
    """Superset's Databricks engine against the workspace's SQL warehouse: imported through Superset's REST API with
    the token as the database password, each chart's saved query context answers ``GET /api/v1/chart/{id}/data``
    with the lake's numbers (computed here from gold by the engine, apart from Superset)."""
    export = _warehouse_export(warehouse, tmp_path / "warehouse.zip")
    api = superset.api()
    with export.open("rb") as zf:
        imported = api.post("/api/v1/dashboard/import/", files={"formData": ("dash.zip", zf, "application/zip")},
                            data={"overwrite": "true",
                                  "passwords": json.dumps({_target(warehouse).database_file: warehouse.token})})
    assert imported.status_code == 200, imported.text[:500]
    [database] = [d for d in api.get("/api/v1/database/").json()["result"] if d["database_name"] == WAREHOUSE_DATABASE]
    assert database["backend"] == "databricks"

    spark = forecast_lake.spark
    total = spark.sql("SELECT SUM(withholding_tax) AS t FROM gold.bir_transactions").first()["t"]
    by_agency = {r["agency"]: r["t"] for r in spark.sql(
        "SELECT agency, SUM(withholding_tax) AS t FROM gold.bir_transactions GROUP BY agency").collect()}
    months = spark.sql("SELECT COUNT(DISTINCT year * 100 + month) AS n FROM gold.bir_transactions").first()["n"]
    charts = {c["slice_name"]: c["id"]
              for c in api.get(f"/api/v1/dashboard/{WAREHOUSE_DATABASE}-bir/charts").json()["result"]}
    assert set(charts) == {c.name for c in CHARTS}
    data = {}
    for name, chart_id in charts.items():
        answer = api.get(f"/api/v1/chart/{chart_id}/data/")
        assert answer.status_code == 200, (name, answer.text[:500])
        data[name] = answer.json()["result"][0]["data"]
        assert data[name], name
    assert Decimal(str(data["Total withholding tax"][0]["withholding_tax"])).quantize(Decimal("0.01")) == \
        Decimal(str(total)).quantize(Decimal("0.01"))
    assert {r["agency"]: Decimal(str(r["withholding_tax"])).quantize(Decimal("0.01"))
            for r in data["Withholding tax by agency"]} == \
        {a: Decimal(str(t)).quantize(Decimal("0.01")) for a, t in by_agency.items()}
    assert len({r["month"] for r in data["Withholding tax by month"]}) == months  # one bucket per month (P1M)
    assert {"atc", "regime", "tax_withheld", "base"} <= set(data["EWT by ATC"][0])


def test_the_cli_writes_the_warehouse_export_and_names_bad_options(tmp_path):
    from typer.testing import CliRunner

    from odoolake.cli.main import app

    runner = CliRunner()
    ca = tmp_path / "ca-bundle.pem"
    ca.write_text("a CA")
    out = tmp_path / "w.zip"
    done = runner.invoke(app, ["superset", "export", "--warehouse", "https://127.0.0.1:9443", "--ca", str(ca),
                               "--file", str(out)])
    assert done.exit_code == 0, done.output
    database = _docs(out)[f"databases/{WAREHOUSE_DATABASE}.yaml"]
    assert database["sqlalchemy_uri"] == (f"databricks://token:{PASSWORD_MASK}@127.0.0.1:9443?http_path=/sql/1.0/"
                                          f"warehouses/{LOCAL_WAREHOUSE_ID}&catalog=main&schema=gold")
    assert database["extra"]["engine_params"]["connect_args"] == {"_port": 9443, "enable_telemetry": False,
                                                                  "_tls_trusted_ca_file": str(ca)}
    plain = runner.invoke(app, ["superset", "export", "--warehouse", "http://127.0.0.1:9443", "--file", str(out)])
    assert plain.exit_code != 0 and "https://" in plain.output
    both = runner.invoke(app, ["superset", "export", "--warehouse", "https://h", "--db", "x.duckdb"])
    assert both.exit_code != 0 and "not both" in both.output
