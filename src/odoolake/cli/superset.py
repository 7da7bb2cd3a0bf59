"""``odoolake superset …``: write the dashboard export that reads gold through the SQL warehouse (or, offline, from a
DuckDB copy that ``publish`` writes)."""

from __future__ import annotations

from pathlib import Path

import typer

from odoolake.cli.common import HomeOpt, console, handle_errors, lake_session
from odoolake.config import WorkspacePaths

app = typer.Typer(no_args_is_help=True)


@app.command("publish")
@handle_errors
def publish_cmd(home: str = HomeOpt) -> None:
    """Write the gold tables to dbfs:/superset/gold.duckdb (what the bir_etl task publish_superset does)."""
    from odoolake.superset.publish import DEFAULT_TARGET, publish

    paths = WorkspacePaths.from_env(home).ensure()
    with lake_session(paths) as spark:
        result = publish(spark, paths.dbfs_to_local(DEFAULT_TARGET))
    console.print(f"{result.path}: " + ", ".join(f"{t} {n:,}" for t, n in result.tables.items()))
    if result.missing:
        console.print(f"[yellow]not built yet:[/] {', '.join(result.missing)} (run the bir_etl job)")


@app.command("export")
@handle_errors
def export_cmd(output: str = typer.Option("odoolake_bir_dashboard.zip", "--file", "-f",
                                          help="Where to write the export (a .zip)."),
               warehouse: str = typer.Option(None, "--warehouse", help="The workspace URL whose SQL warehouse "
                                                                       "Superset's Databricks engine reads gold "
                                                                       "from, e.g. https://127.0.0.1:8765."),
               ca_file: str = typer.Option(None, "--ca", help="With --warehouse: the CA bundle Superset trusts for "
                                                              "the workspace (`odoolake env` names it)."),
               db: str = typer.Option(None, "--db", help="Offline instead: the DuckDB file Superset opens (default: "
                                                         "the published dbfs:/superset/gold.duckdb)."),
               home: str = HomeOpt) -> None:
    """Write the dashboard export (database, datasets, charts with their query contexts, dashboard)."""
    from urllib.parse import urlsplit

    from odoolake.superset.dashboard import duckdb_target, export_dashboard, warehouse_target
    from odoolake.superset.publish import DEFAULT_TARGET
    from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

    if warehouse and db:
        raise typer.BadParameter("give --warehouse or --db, not both")
    if warehouse:
        url = urlsplit(warehouse)
        if url.scheme != "https" or not url.hostname:
            raise typer.BadParameter(f"--warehouse {warehouse!r}: give the workspace's https:// URL "
                                     "(the SQL connector speaks TLS only)")
        target = warehouse_target(url.hostname, url.port or 443, f"/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}",
                                  str(Path(ca_file).resolve()) if ca_file else None)
        out = export_dashboard(target, Path(output))
        console.print(f"Wrote {out}. Import it with a workspace token as the database password: POST "
                      f"/api/v1/dashboard/import/ with passwords={{\"{target.database_file}\": \"<token>\"}} "
                      "(see the README's Superset section).")
        return
    db_path = Path(db) if db else WorkspacePaths.from_env(home).dbfs_to_local(DEFAULT_TARGET)
    if not db_path.is_file():
        console.print(f"[yellow]{db_path} does not exist yet:[/] run `odoolake superset publish` first; the "
                      "export points at it either way.")
    out = export_dashboard(duckdb_target(db_path), Path(output))
    console.print(f"Wrote {out}. Import: superset import-dashboards -p {out} -u admin")
