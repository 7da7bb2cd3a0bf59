"""``odoolake lake …``: the pieces of the demo, one at a time."""

from __future__ import annotations

from datetime import date

import typer

from odoolake.cli.common import HomeOpt, console, dbfs_lister, handle_errors, lake_session
from odoolake.cli.demo import RAW_ROOT, last_full_month
from odoolake.config import WorkspacePaths

app = typer.Typer(no_args_is_help=True)


@app.command("generate")
@handle_errors
def generate_cmd(
    months: int = typer.Option(24, min=1),
    lines: int = typer.Option(300_000, min=1000),
    seed: int = typer.Option(42),
    end: str = typer.Option(None, help="Last month, YYYY-MM (default: last full month)."),
    only: str = typer.Option(None, help="Generate only this month's batch, YYYY-MM (an incremental drop)."),
    home: str = HomeOpt,
) -> None:
    """Write Odoo-shaped raw drops to dbfs:/raw/odoo."""
    from odoolake.datagen import GenConfig, generate

    paths = WorkspacePaths.from_env(home).ensure()
    last = date.fromisoformat(end + "-01") if end else last_full_month()
    cfg = GenConfig(months=months, end=last, lines=lines, seed=seed)
    wanted = [date.fromisoformat(only + "-01")] if only else None
    manifest = generate(cfg, paths.dbfs_to_local(RAW_ROOT), wanted)
    console.print(f"Wrote {', '.join(manifest.batches)}: " + ", ".join(f"{k} {v:,}" for k, v in manifest.rows.items()))


@app.command("run")
@handle_errors
def run_cmd(
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild silver and gold from all of bronze."),
    home: str = HomeOpt,
) -> None:
    """Run the month-end over whatever raw drops are new."""
    from odoolake.pipeline import month_end

    paths = WorkspacePaths.from_env(home)
    with lake_session(paths) as spark:
        result = month_end.run(spark, RAW_ROOT, dbfs_lister(paths),
                               on_stage=lambda s: console.print(f"[dim]→ {s}[/]"), full_refresh=full_refresh)
    console.print(f"batches {result.bronze.new_batches or 'none'}; periods rebuilt {result.silver.periods or 'none'}")


@app.command("sql")
@handle_errors
def sql_cmd(
    statement: str = typer.Argument(..., help="SQL to run on the embedded engine."),
    home: str = HomeOpt,
    limit: int = typer.Option(50),
) -> None:
    """Run one SQL statement (Delta commands like DESCRIBE HISTORY included) and print the result; amounts
    (DECIMAL) print with two decimals and thousands separators."""
    from decimal import Decimal

    from rich.table import Table

    with lake_session(WorkspacePaths.from_env(home)) as spark:
        frame = spark.sql(statement)
        columns, rows = frame.columns, frame.limit(limit + 1).collect()
    table = Table(show_edge=False)
    for column in columns:
        table.add_column(column, justify="right" if rows and isinstance(rows[0][column], Decimal) else "left")
    for row in rows[:limit]:
        table.add_row(*["NULL" if v is None else f"{v:,.2f}" if isinstance(v, Decimal) else str(v) for v in row])
    console.print(table)
    if len(rows) > limit:
        console.print(f"[dim]first {limit} rows shown (--limit)[/]")
