"""``odoolake superset …``: publish gold for Superset and write the dashboard export that reads it."""

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
               db: str = typer.Option(None, "--db", help="The DuckDB file Superset will open (default: the published "
                                                         "dbfs:/superset/gold.duckdb of this workspace)."),
               home: str = HomeOpt) -> None:
    """Write the dashboard export (database, datasets, charts, dashboard) for `superset import-dashboards`."""
    from odoolake.superset.dashboard import export_dashboard
    from odoolake.superset.publish import DEFAULT_TARGET

    db_path = Path(db) if db else WorkspacePaths.from_env(home).dbfs_to_local(DEFAULT_TARGET)
    if not db_path.is_file():
        console.print(f"[yellow]{db_path} does not exist yet:[/] run `odoolake superset publish` first; the "
                      "export points at it either way.")
    out = export_dashboard(db_path, Path(output))
    console.print(f"Wrote {out}. Import: superset import-dashboards -p {out} -u admin")
