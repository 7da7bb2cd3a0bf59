"""``odoolake demo``: generate Odoo-shaped data, run the BIR month-end, print what came out."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from odoolake.bundles.jobs import BundleError
from odoolake.bundles.loader import Diagnostic
from odoolake.cli.common import HomeOpt, console, handle_errors, lake_session
from odoolake.config import WorkspacePaths

if TYPE_CHECKING:
    from odoolake.datagen import GenConfig

RAW_ROOT = "dbfs:/raw/odoo"
JOB_KEY = "bir_etl"


def last_full_month(today: date | None = None) -> date:
    today = today or date.today()
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def parse_as_of(value: str | None) -> date:
    """``--as-of YYYY-MM-DD`` (default today): the day the extract is taken; the data ends the month before."""
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--as-of must be a date YYYY-MM-DD, got {value!r}") from None


AsOfOpt = typer.Option(None, "--as-of", help="Day the Odoo extract is taken, YYYY-MM-DD (default today); the "
                                             "data ends with the month before. Recorded in dbfs:/raw/odoo/_generator.json.")


@handle_errors
def demo(
    months: int = typer.Option(36, min=1, help="Months of history to generate (the forecaster's backtest needs 24+)."),
    lines: int = typer.Option(300_000, min=1000, help="Approximate account.move.line records in total."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives the same data."),
    home: str = HomeOpt,
    reset: bool = typer.Option(False, "--reset", help="Delete the workspace root first."),
    bundle: str = typer.Option(None, "--bundle", help="Bundle folder with databricks.yml (default ./databricks)."),
    as_of: str = AsOfOpt,
) -> None:
    """Generate Odoo data for the agencies, run the bundle's bir_etl notebooks (bronze → silver → gold), summarise."""
    from odoolake.bundles.jobs import notebook_tasks
    from odoolake.datagen import GenConfig, generate
    from odoolake.workspace.notebooks import run_notebook

    tasks = notebook_tasks(find_bundle(bundle), JOB_KEY)
    paths = WorkspacePaths.from_env(home)
    if reset and paths.home.exists():
        shutil.rmtree(paths.home)
    paths.ensure()
    as_of_day = parse_as_of(as_of)
    end = last_full_month(as_of_day)
    cfg, wanted = _months_to_generate(GenConfig(months=months, end=end, lines=lines, seed=seed, as_of=as_of_day),
                                      paths.dbfs_to_local(RAW_ROOT))
    started = time.perf_counter()
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[note]}"),
               TimeElapsedColumn()]
    with contextlib.ExitStack() as stack:
        progress = stack.enter_context(Progress(*columns, console=console, transient=False))
        gen_task = progress.add_task("generate Odoo extracts", total=months if wanted is None else len(wanted),
                                     note="")
        if wanted != []:
            generate(cfg, paths.dbfs_to_local(RAW_ROOT), wanted,
                     progress=lambda batch, n, total: progress.update(gen_task, completed=n, note=batch))
        run_task = progress.add_task(f"job {JOB_KEY}", total=len(tasks), note="starting engine")
        spark = stack.enter_context(lake_session(paths))
        task_values: dict = {}
        for task in tasks:
            progress.update(run_task, note=task.task_key)
            run_notebook(task.notebook, spark, paths, task.parameters, task_values, task.task_key)
            progress.advance(run_task)
        progress.update(run_task, note="done")
        progress.stop()
        _summary(spark, task_values, end, time.perf_counter() - started, paths, as_of_day, pinned=as_of is not None)


def _months_to_generate(cfg: GenConfig, raw: Path) -> tuple[GenConfig, list[date] | None]:
    """What the demo generates: every month of ``cfg`` (None) in a new lake; in one generated with the same settings
    up to an earlier month (the demo run again a month later), only the months after it, with the settings the lake
    was made with, as ``lake generate --only`` adds one: the months the lake has keep the drops it ingested."""
    from odoolake.datagen.generator import batch_id, content_settings, read_run_record

    recorded = read_run_record(raw)
    if not recorded or recorded.get("end") is None:
        return cfg, None
    asked = content_settings(cfg)
    if any(recorded.get(key) != value for key, value in asked.items() if key != "end") or \
            recorded["end"] >= asked["end"]:
        return cfg, None  # the same settings (written again, unchanged), or others: generate() says what conflicts
    year, month = (int(part) for part in recorded["end"].split("-"))
    made = dataclasses.replace(cfg, end=date(year, month, 1))
    have = set(recorded.get("batches") or ())
    return made, [m for m in cfg.month_starts() if batch_id(m) not in have]


def find_bundle(explicit: str | None) -> Path:
    """The bundle folder: the option, else ``./databricks``, else the one beside this source tree."""
    candidates = [Path(explicit)] if explicit else [Path("databricks"), Path(__file__).resolve().parents[3] / "databricks"]
    for candidate in candidates:
        if (candidate / "databricks.yml").is_file():
            return candidate
    raise BundleError([Diagnostic("error", f"No bundle found (looked for databricks.yml in "
                                  f"{', '.join(str(c) for c in candidates)}); run from the repository root or pass "
                                  "--bundle.")])


def _summary(spark, task_values: dict, end: date, seconds: float, paths: WorkspacePaths, as_of: date,
             pinned: bool = False) -> None:
    from odoolake.pipeline import io

    layers = Table(title="Rows per layer", show_edge=False)
    layers.add_column("table")
    layers.add_column("rows", justify="right")
    for name in ("bronze.odoo_account_move", "bronze.odoo_account_move_line", "bronze.odoo_res_partner",
                 "bronze.odoo_account_tax", io.SILVER_MOVES, io.SILVER_LINES, io.TAX_LINES, io.EWT_LINES, io.VAT_LINES,
                 io.QUARANTINE, io.BIR_TRANSACTIONS, io.EWT_BY_ATC, io.BIR_FEATURES):
        if io.table_exists(spark, name):
            layers.add_row(name, f"{spark.table(name).count():,}")
    console.print(layers)

    q = Table(title="Quarantine by reason (rejected rows are excluded; flagged rows are kept)", show_edge=False)
    for col in ("reason", "action", "stage", "rows"):
        q.add_column(col, justify="right" if col == "rows" else "left")
    rows = spark.sql(
        "SELECT reason, action, stage, COUNT(*) AS n FROM silver.quarantine GROUP BY reason, action, stage "
        "ORDER BY action DESC, n DESC"
    ).collect()
    for r in rows:
        q.add_row(r["reason"], r["action"], r["stage"], f"{r['n']:,}")
    console.print(q)

    year, month = end.year, end.month
    wht = spark.sql(
        "SELECT agency, SUM(withholding_tax) AS total_wht, SUM(withholding_to_classify) AS to_classify "
        f"FROM gold.bir_transactions WHERE year = {year} AND month = {month} GROUP BY agency ORDER BY agency"
    ).collect()
    t = Table(title=f"Withholding tax by agency, {end:%B %Y} (gold.bir_transactions)", show_edge=False)
    t.add_column("agency")
    t.add_column("total_wht (PHP)", justify="right")
    t.add_column("of which withheld, to classify", justify="right")
    for r in wht:
        t.add_row(r["agency"], f"{r['total_wht']:,.2f}", f"{r['to_classify']:,.2f}")
    t.add_row("[bold]total", f"[bold]{sum(r['total_wht'] for r in wht):,.2f}",
              f"[bold]{sum(r['to_classify'] for r in wht):,.2f}")
    console.print(t)
    if io.table_exists(spark, "gold.bir_forecast"):
        _forecast_summary(spark, paths)
    batches = task_values.get("bronze_ingestion", {}).get("new_batches", [])
    periods = task_values.get("silver_cleaning", {}).get("periods", [])
    new = ", ".join(batches[-3:]) or "none (already ingested)"
    console.print(f"New batches: {len(batches)} (last: {new}); periods rebuilt: {len(periods)}. Data as of {as_of}"
                  f"{'' if pinned else ' (pin it with --as-of)'}. Finished in {seconds:.1f} s. Lake: {paths.home} "
                  f"(tables in {paths.warehouse})")


def _forecast_summary(spark, paths: WorkspacePaths) -> None:
    rows = spark.sql("SELECT agency, period, predicted_wht_p10, predicted_wht, predicted_wht_p90, method, model_version "
                     "FROM gold.bir_forecast WHERE kind = 'forecast' ORDER BY agency, period").collect()
    if not rows:
        return
    months = sorted({r["period"] for r in rows})
    f = Table(title=f"Withholding tax to remit, forecast {months[0]}..{months[-1]}: median (p10-p90) "
                    f"(gold.bir_forecast, bir_tax_forecaster v{rows[0]['model_version']}, {rows[0]['method']})",
              show_edge=False)
    f.add_column("agency")
    for month in months:
        f.add_column(month, justify="right")
    by_agency: dict[str, list[str]] = {}
    for r in rows:
        by_agency.setdefault(r["agency"], []).append(
            f"{float(r['predicted_wht']):,.0f} ({float(r['predicted_wht_p10']):,.0f}-{float(r['predicted_wht_p90']):,.0f})")
    for agency, cells in by_agency.items():
        f.add_row(agency, *cells)
    console.print(f)
    from odoolake.ml import tracking

    version = tracking.client(paths).get_model_version("bir_tax_forecaster", str(rows[0]["model_version"]))
    console.print(f"Why {rows[0]['method']}: {version.tags.get('decision', '')}")
    console.print(f"Charts: {paths.dbfs_to_local('dbfs:/reports/bir_forecast/latest')}; method and backtest: "
                  "docs/forecasting.md; `odoolake ml models` lists versions.")
