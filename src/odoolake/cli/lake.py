"""``odoolake lake …``: the pieces of the demo, one at a time."""

from __future__ import annotations

import calendar
import re
from datetime import date

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from odoolake.cli.common import (
    HomeOpt,
    Output,
    OutputOpt,
    console,
    dbfs_lister,
    emit,
    err_console,
    handle_errors,
    lake_session,
    on_lake,
)
from odoolake.cli.demo import RAW_ROOT, AsOfOpt, last_full_month, parse_as_of
from odoolake.config import WorkspacePaths

app = typer.Typer(no_args_is_help=True)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(value: str, option: str) -> date:
    m = _MONTH.match(value.strip())
    if not m:
        raise typer.BadParameter(f"{option} {value!r}: expected a month as YYYY-MM, e.g. 2026-11")
    return date(int(m.group(1)), int(m.group(2)), 1)


def only_month_warnings(month: date, generated: list[str], today: date) -> list[str]:
    """What ``generate --only`` says about a month it still writes: one not over yet holds moves dated after today,
    which no extract taken today would; one past the month after the newest drop leaves the months between missing
    (the month-end would report them empty)."""
    from odoolake.datagen.generator import batch_id
    from odoolake.ml.calendar import periods_between, shift

    said = []
    month_end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    if month_end >= today:
        said.append(f"--only {month:%Y-%m}: the month is not over (today is {today:%d %b %Y}); its drop holds moves "
                    f"dated up to {month_end:%d %b %Y}, which no extract taken today would")
    earlier = sorted(b for b in generated if b < batch_id(month))
    if earlier:
        newest = f"{earlier[-1][-6:-2]}-{earlier[-1][-2:]}"
        missing = periods_between(shift(newest, 1), shift(f"{month:%Y-%m}", -1))
        if missing:
            one = len(missing) == 1
            span = missing[0] if one else f"{missing[0]} … {missing[-1]}"
            said.append(f"--only {month:%Y-%m}: the lake's newest drop before it is {earlier[-1]}, so {span} "
                        f"{'is' if one else 'are'} not generated; add {'it' if one else 'them'} with --only first")
    return said


@app.command("generate")
@handle_errors
def generate_cmd(
    months: int = typer.Option(None, min=1, help="Months of history (default 36; with --only, the lake's)."),
    lines: int = typer.Option(None, min=1000, help="Journal lines over all the months (default 300,000; with "
                                                   "--only, the lake's)."),
    seed: int = typer.Option(None, help="Random seed (default 42; with --only, the lake's)."),
    end: str = typer.Option(None, help="Last month, YYYY-MM (default: the month before --as-of)."),
    as_of: str = AsOfOpt,
    only: str = typer.Option(None, help="Generate only this month's batch, YYYY-MM (an incremental drop: a month not "
                                        "generated yet, such as the one after --end), with the settings the lake's "
                                        "data was generated with (dbfs:/raw/odoo/_generator.json)."),
    home: str = HomeOpt,
    output: Output = OutputOpt,
) -> None:
    """Write Odoo-shaped raw drops to dbfs:/raw/odoo, with a progress bar over the months."""
    from odoolake.datagen import GenConfig, generate
    from odoolake.datagen.generator import batch_id, read_run_record

    wanted = [parse_month(only, "--only")] if only else None
    paths = WorkspacePaths.from_env(home).ensure()
    raw = paths.dbfs_to_local(RAW_ROOT)
    # A new month continues the lake's data: the same partners, volumes and seed (other settings made a step in
    # every series the forecaster learns from), unless an option says otherwise.
    recorded = (read_run_record(raw) or {}) if wanted else {}
    months = months or recorded.get("months") or 36
    lines = lines or recorded.get("lines") or 300_000
    seed = seed if seed is not None else recorded.get("seed", 42)
    as_of_day = parse_as_of(as_of or recorded.get("as_of"))
    last_month: str | None = end or recorded.get("end")
    last = parse_month(last_month, "--end") if last_month else last_full_month(as_of_day)
    if wanted:
        existing = sorted(raw.glob(f"*/{batch_id(wanted[0])}.jsonl"))
        if existing:
            newest = max(recorded.get("batches") or [p.stem for p in raw.glob("*/*.jsonl")])
            raise typer.BadParameter(f"--only {only}: the batch {batch_id(wanted[0])} is already in {RAW_ROOT}; a new "
                                     f"drop is a month not generated yet (the newest there is {newest})")
        for warning in only_month_warnings(wanted[0], recorded.get("batches") or [p.stem for p in raw.glob(
                "account_move/*.jsonl")], date.today()):
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    cfg = GenConfig(months=months, end=last, lines=lines, seed=seed, as_of=as_of_day)
    columns = [TextColumn("[bold]generating Odoo extracts"), BarColumn(), TextColumn("{task.fields[batch]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=output == Output.json) as progress:
        bar = progress.add_task("generate", total=len(wanted) if wanted else months, batch="")
        manifest = generate(cfg, raw, wanted,
                            progress=lambda batch, n, total: progress.update(bar, completed=n, batch=batch))
    emit(output, {"batches": manifest.batches, "rows": manifest.rows}, lambda: console.print(
        f"Wrote {', '.join(manifest.batches)}: " + ", ".join(f"{k} {v:,}" for k, v in manifest.rows.items())))


@app.command("run")
@handle_errors
def run_cmd(
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild silver and gold from all of bronze."),
    home: str = HomeOpt,
    output: Output = OutputOpt,
) -> None:
    """Run the month-end over whatever raw drops are new."""
    from odoolake.errors import PipelineError
    from odoolake.pipeline import month_end

    paths = WorkspacePaths.from_env(home)
    if not any(paths.dbfs_to_local(RAW_ROOT).glob("*/*.jsonl")):
        raise PipelineError(f"No raw drops in {RAW_ROOT} of {paths.home}: generate some with `odoolake lake generate` "
                            "or extract from Odoo with `odoolake odoo extract`.")
    quiet = output == Output.json
    with console.status("starting the engine…") as status, lake_session(paths) as spark:
        result = month_end.run(spark, RAW_ROOT, dbfs_lister(paths), full_refresh=full_refresh,
                               on_stage=lambda s: status.update(f"month-end: {s}…") if not quiet else None)
    emit(output, {"new_batches": result.bronze.new_batches, "periods": result.silver.periods}, lambda: console.print(
        f"New batches: {_listed(result.bronze.new_batches, 'none (already ingested)')}; periods rebuilt: "
        f"{_listed(result.silver.periods, 'none')}"))


def _listed(names: list[str], empty: str) -> str:
    """A few names in full, a long list by its count and ends (``7: odoo-202411 … odoo-202611``)."""
    if not names:
        return empty
    return ", ".join(names) if len(names) <= 3 else f"{len(names)}: {names[0]} … {names[-1]}"


def _plain(value: object) -> object:
    """PySpark's nested Rows as dicts (what ``Row.asDict(recursive=True)`` gives), as the thin client returns them."""
    if hasattr(value, "asDict"):
        return value.asDict(recursive=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@app.command("sql")
@handle_errors
def sql_cmd(
    statement: str = typer.Argument(..., help="SQL to run on the embedded engine."),
    home: str = HomeOpt,
    limit: int = typer.Option(50, min=0),
    output: Output = OutputOpt,
) -> None:
    """Run one SQL statement (Delta commands like DESCRIBE HISTORY included) and print the result; amounts
    (DECIMAL) print with two decimals and thousands separators."""
    import os
    from decimal import Decimal

    from rich.table import Table

    from odoolake.workspace.engine.session import REMOTE_ENV

    paths = WorkspacePaths.from_env(home)
    if os.environ.get(REMOTE_ENV):  # another Spark Connect server: PySpark's client
        with lake_session(paths) as spark:
            frame = spark.sql(statement)
            columns = frame.columns
            rows = [tuple(_plain(v) for v in r) for r in (frame.limit(limit + 1).collect() if columns else [])]
    else:  # the embedded engine, without importing PySpark (the command's start-up halves)
        from odoolake.cli import thin_sql

        columns, rows = thin_sql.run(on_lake(paths), statement, limit)
    if output == Output.json:  # amounts as exact strings, never floats
        emit(output, {"columns": columns, "rows": [dict(zip(columns, r, strict=True)) for r in rows[:limit]]},
             lambda: None)
        return
    cells = [["NULL" if v is None else f"{v:,.2f}" if isinstance(v, Decimal) else str(v) for v in row]
             for row in rows[:limit]]
    widths = [max([len(column)] + [len(row[i]) for row in cells]) for i, column in enumerate(columns)]
    if sum(widths) + 3 * len(widths) > console.width and len(columns) > 1:
        # too wide for the terminal (a table would cut every cell to a letter or two): one row at a time
        name_width = max(len(column) for column in columns)
        for number, row in enumerate(cells, start=1):
            console.rule(f"row {number}", align="left", style="dim")
            for column, cell in zip(columns, row, strict=True):
                console.print(f"{column.ljust(name_width)}  {cell}", markup=False, highlight=False)
    else:
        table = Table(show_edge=False)
        for i, column in enumerate(columns):
            table.add_column(column, justify="right" if rows and isinstance(rows[0][i], Decimal) else "left")
        for row in cells:
            table.add_row(*row)
        console.print(table)
    if len(rows) > limit:
        console.print(f"[dim]first {limit} rows shown (--limit)[/]")
