"""dbt-databricks (in its own virtualenv: dbt pins its own SQL connector) builds the repository's dbt project,
dbt/odoolake_marts, against the workspace's SQL warehouse on loopback: ``dbt build`` runs the model and its tests,
one of which reconciles the mart with gold.remittances (computed apart, by the pipeline's BIR forms step).

Opt-in like ``make test-superset``: ``make test-dbt`` builds the virtualenv and sets ODOOLAKE_DBT_VENV; ``.ci/run``
runs it when the virtualenv can be built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from .workspace.conftest import Server, running_server

DBT_VENV = os.environ.get("ODOOLAKE_DBT_VENV")
pytestmark = pytest.mark.skipif(not DBT_VENV, reason="needs dbt-databricks in its own virtualenv: run `make test-dbt`")

PROJECT = Path(__file__).resolve().parents[2] / "dbt" / "odoolake_marts"


def _dbt(server: Server, project: Path, *args: str, schema: str = "marts") -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABRICKS_TOKEN": server.token, "ODOOLAKE_SQL_PORT": server.url.rsplit(":", 1)[1],
           "REQUESTS_CA_BUNDLE": server.ca_bundle, "ODOOLAKE_DBT_SCHEMA": schema, "DBT_SEND_ANONYMOUS_USAGE_STATS":
           "false"}
    return subprocess.run([str(Path(DBT_VENV or "") / "bin" / "dbt"), *args, "--project-dir", str(project),
                           "--profiles-dir", str(project)], env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def warehouse(forecast_lake):
    with running_server(forecast_lake.paths.home) as srv:
        yield srv


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project, so dbt's target/ and logs/ stay out of the repository."""
    copy = tmp_path / "odoolake_marts"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return copy


def test_dbt_build_makes_the_monthly_remittance_mart_and_its_tests_pass(warehouse, forecast_lake, project):
    done = _dbt(warehouse, project, "build")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "PASS=" in done.stdout and "ERROR=0" in done.stdout
    spark = forecast_lake.spark
    mart = {(r["agency"], r["period"]): r for r in spark.table("marts.monthly_remittance").collect()}
    gold = spark.table("gold.bir_transactions").collect()
    assert len(mart) == len(gold)  # one row per agency and month of gold
    for row in gold:  # hand-checked rule: months 1-2 of a quarter go with 0619-E, month 3 with 1601-EQ
        got = mart[(row["agency"], row["period"])]
        assert got["ewt_form"] == ("1601-EQ" if row["month"] % 3 == 0 else "0619-E")
        assert got["total_withheld"] == Decimal(str(row["withholding_tax"])) + Decimal(str(row["final_withholding_tax"]))


def test_persist_docs_makes_the_descriptions_table_and_column_comments(warehouse, project):
    """The project's ``persist_docs`` (relation and columns): dbt-databricks writes the model's description into
    its CTAS (``comment '…'``, which the engine alone refuses) and each column's with ``ALTER TABLE … COMMENT``; the
    catalog then shows them, as a BI tool reading it would."""
    import yaml
    from databricks.sdk import WorkspaceClient

    done = _dbt(warehouse, project, "run", schema="marts_docs")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    [model] = yaml.safe_load((project / "models" / "marts" / "monthly_remittance.yml").read_text())["models"]
    info = WorkspaceClient(host=warehouse.url, token=warehouse.token).tables.get("main.marts_docs.monthly_remittance")
    assert info.comment == model["description"]
    described = {c["name"]: c["description"] for c in model["columns"]}
    assert {c.name: c.comment for c in info.columns if c.name in described} == described
    assert all(c.comment is None for c in info.columns if c.name not in described)


def test_a_failing_data_test_fails_the_build_naming_it(warehouse, project):
    """The reconciliation is a real check: a mart that disagrees with gold.remittances by one centavo fails."""
    model = project / "models" / "marts" / "monthly_remittance.sql"
    model.write_text(model.read_text().replace("cast(withholding_tax as decimal(18, 2)) as ewt_withheld",
                                               "cast(withholding_tax + 0.01 as decimal(18, 2)) as ewt_withheld"))
    done = _dbt(warehouse, project, "build", schema="marts_broken")
    assert done.returncode != 0
    assert "monthly_forms_agree_with_gold_remittances" in done.stdout and "FAIL" in done.stdout


def test_incremental_models_add_to_what_the_last_run_built(warehouse, forecast_lake, project):
    """dbt-databricks lists a schema's relations in ``system.information_schema.tables``, and before an incremental
    run reads the table's tags, masks and constraints there too. Without them it found nothing, rebuilt every
    incremental model whole on each run and said PASS: an ``append`` model held one run's rows, not both."""
    models = project / "models" / "marts"
    (models / "ledger_appended.sql").write_text(
        "{{ config(materialized='incremental', incremental_strategy='append') }}\n"
        "select 1 as id, '{{ invocation_id }}' as run\n")
    (models / "ledger_merged.sql").write_text(
        "{{ config(materialized='incremental', incremental_strategy='merge', unique_key='id') }}\n"
        "select id, '{{ invocation_id }}' as run from values (1), (2) as t(id)\n")
    runs = []
    for _ in range(2):
        done = _dbt(warehouse, project, "run", "--select", "ledger_appended", "ledger_merged", schema="marts_incr")
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        runs.append(done)
    spark = forecast_lake.spark
    appended = spark.table("marts_incr.ledger_appended").collect()
    merged = spark.table("marts_incr.ledger_merged").collect()
    assert len(appended) == 2 and len({r.run for r in appended}) == 2  # one row from each run
    assert sorted(r.id for r in merged) == [1, 2] and len({r.run for r in merged}) == 1  # no copies kept
    history = spark.sql("DESCRIBE HISTORY marts_incr.ledger_merged").collect()
    assert any("MERGE" in str(h.operation).upper() for h in history), [h.operation for h in history]


def test_view_models_dbts_default_build_run_again_and_become_tables(warehouse, forecast_lake, project):
    """``materialized='view'`` is dbt's default (a new project's second example model is one): the warehouse refused
    every persistent view. A view model builds, reads its upstream model, builds again over itself (dbt replaces a
    view in place), and a model turned from view to table replaces the view."""
    models = project / "models" / "marts"
    (models / "rim_remittance.sql").write_text(
        "{{ config(materialized='view') }}\n"
        "select agency, period, total_withheld from {{ ref('monthly_remittance') }} where agency = 'RIM'\n")
    for _ in range(2):
        done = _dbt(warehouse, project, "run", "--select", "monthly_remittance", "rim_remittance", schema="marts_view")
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    spark = forecast_lake.spark
    expected = spark.sql("SELECT count(*) FROM marts_view.monthly_remittance WHERE agency = 'RIM'").first()[0]
    assert expected and spark.table("marts_view.rim_remittance").count() == expected
    kinds = {r.name: r.tableType for r in spark.catalog.listTables("marts_view")}
    assert kinds == {"monthly_remittance": "MANAGED", "rim_remittance": "VIEW"}
    (models / "rim_remittance.sql").write_text((models / "rim_remittance.sql").read_text().replace("'view'", "'table'"))
    done = _dbt(warehouse, project, "run", "--select", "rim_remittance", schema="marts_view")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert {r.name: r.tableType for r in spark.catalog.listTables("marts_view")}["rim_remittance"] == "MANAGED"
    assert spark.table("marts_view.rim_remittance").count() == expected


def test_a_seed_loads_again_with_its_new_rows(warehouse, forecast_lake, project):
    """dbt-databricks loads a seed that exists with ``CREATE OR REPLACE TABLE name (columns)``, then inserts the
    rows: the second ``dbt seed`` replaced the table and kept none of the first file's rows."""
    seeds = project / "seeds"
    seeds.mkdir(exist_ok=True)
    loads = ["atc,rate\nWC158,0.01\nWC160,0.02\n", "atc,rate,description\nWI010,0.05,professional fees\n"]
    for csv in loads:
        (seeds / "atc_rates.csv").write_text(csv)
        done = _dbt(warehouse, project, "seed", schema="marts_seed")
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    rows = forecast_lake.spark.table("marts_seed.atc_rates").collect()
    assert [(r["atc"], r["rate"], r["description"]) for r in rows] == [("WI010", 0.05, "professional fees")]


def _period_totals_after_two_runs(warehouse, spark, project: Path, config: str, schema: str) -> list[tuple]:
    """An incremental model of ``config`` run twice (P2's total 1, then 5; the second run selects P2 alone): its rows
    as (period, total)."""
    (project / "models" / "marts" / "period_totals.sql").write_text(
        f"{{{{ config(materialized='incremental', {config}) }}}}\n"
        "select * from values ('P1', 1), ('P2', {{ var('p2_total', 1) }}) as t(period, total)\n"
        "{% if is_incremental() %} where period = 'P2' {% endif %}\n")
    for total in (1, 5):
        done = _dbt(warehouse, project, "run", "--select", "period_totals", "--vars", f"{{p2_total: {total}}}",
                    schema=schema)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return sorted((r["period"], r["total"]) for r in spark.table(f"{schema}.period_totals").collect())


def test_replace_where_models_replace_only_the_rows_their_predicate_names(warehouse, forecast_lake, project):
    """dbt-databricks' ``replace_where`` strategy writes ``INSERT INTO t BY NAME REPLACE WHERE … TABLE tmp`` (Delta
    SQL that Sail does not parse): the second run replaces period P2's row and leaves P1's."""
    config = "incremental_strategy='replace_where', incremental_predicates=[\"period = 'P2'\"]"
    rows = _period_totals_after_two_runs(warehouse, forecast_lake.spark, project, config, "marts_rw")
    assert rows == [("P1", 1), ("P2", 5)]


def test_insert_overwrite_models_replace_the_partitions_their_rows_hold(warehouse, forecast_lake, project):
    """dbt-databricks' ``insert_overwrite`` strategy on a partitioned model (``INSERT INTO t AS t REPLACE ON (t.period
    <=> s.period) (…) AS s``): the second run replaces period P2's partition with its new rows and leaves P1's."""
    config = "incremental_strategy='insert_overwrite', partition_by=['period']"
    rows = _period_totals_after_two_runs(warehouse, forecast_lake.spark, project, config, "marts_io")
    assert rows == [("P1", 1), ("P2", 5)]


def test_a_snapshot_keeps_the_old_version_of_a_changed_row(warehouse, forecast_lake, project):
    """``dbt snapshot`` (the check strategy): the second run closes the changed row (``dbt_valid_to`` set) and adds
    its new version, through dbt-databricks' MERGE of a staging view."""
    snapshots = project / "snapshots"
    snapshots.mkdir(exist_ok=True)
    (snapshots / "agency_rates.sql").write_text(
        "{% snapshot agency_rates %}\n"
        "{{ config(target_schema=env_var('ODOOLAKE_DBT_SCHEMA'), unique_key='atc', strategy='check',"
        " check_cols=['rate']) }}\n"
        "select * from values ('WC158', {{ var('rate', 1) }}), ('WI010', 5) as t(atc, rate)\n"
        "{% endsnapshot %}\n")
    for rate in (1, 2):
        done = _dbt(warehouse, project, "snapshot", "--vars", f"{{rate: {rate}}}", schema="marts_snap")
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    rows = forecast_lake.spark.table("marts_snap.agency_rates").collect()
    versions = sorted((r["atc"], r["rate"], r["dbt_valid_to"] is None) for r in rows)
    assert versions == [("WC158", 1, False), ("WC158", 2, True), ("WI010", 5, True)]


def test_models_with_table_properties_build_and_run_again(warehouse, forecast_lake, project):
    """``tblproperties`` on a table model and an incremental one: dbt-databricks writes them into its CTAS, then on
    the next run reads ``SHOW TBLPROPERTIES`` and sets what differs. Written to the Delta log as given before,
    ``'30 days'`` failed the incremental model's second run; the properties also reach the log, where Delta keeps
    them (DESCRIBE DETAIL reads them there)."""
    models = project / "models" / "marts"
    properties = "tblproperties={'delta.logRetentionDuration': '30 days', 'odoolake.owner_team': 'finance'}"
    (models / "props_table.sql").write_text(f"{{{{ config(materialized='table', {properties}) }}}}\n"
                                            "select 1 as id\n")
    (models / "props_incremental.sql").write_text(
        f"{{{{ config(materialized='incremental', incremental_strategy='append', {properties}) }}}}\n"
        "select 1 as id\n")
    for _ in range(2):
        done = _dbt(warehouse, project, "run", "--select", "props_table", "props_incremental", schema="marts_props")
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    spark = forecast_lake.spark
    for model, rows in (("props_table", 1), ("props_incremental", 2)):
        detail = spark.sql(f"DESCRIBE DETAIL marts_props.{model}").first()
        assert detail.properties == {"delta.logRetentionDuration": "interval 30 days",
                                     "odoolake.owner_team": "finance"}, model
        assert spark.table(f"marts_props.{model}").count() == rows
