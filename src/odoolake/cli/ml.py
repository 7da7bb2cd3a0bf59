"""``odoolake ml …``: train, score, list and report the withholding-tax forecaster; open the MLflow UI on its store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from odoolake.cli.common import (
    HomeOpt,
    Output,
    OutputOpt,
    console,
    emit,
    err_console,
    handle_errors,
    lake_session,
)
from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

app = typer.Typer(no_args_is_help=True)
TRAINING_CHARTS = "dbfs:/reports/bir_forecast/training"
STOP_GRACE_SECONDS = 30.0  # how long mlflow ui's processes get to stop before they are killed
LATEST_CHARTS = "dbfs:/reports/bir_forecast/latest"


def _config(origins: int, horizon: int, candidates: str | None, seed: int):
    from odoolake.ml.backtest import BacktestConfig
    from odoolake.ml.candidates import CANDIDATES, DEFAULT_CANDIDATES
    from odoolake.ml.history import ForecastDataError

    if candidates == "all":
        chosen = tuple(CANDIDATES)
    elif candidates:
        chosen = tuple(c.strip() for c in candidates.split(",") if c.strip())
    else:
        chosen = DEFAULT_CANDIDATES
    config = BacktestConfig(horizon=horizon, origins=origins, candidates=chosen, seed=seed)
    try:
        config.validate()
    except ForecastDataError as exc:  # a usage mistake: exit 2, the option named
        option = next((f"--{name}" for name in ("origins", "horizon", "candidates") if str(exc).startswith(name)),
                      None)
        raise typer.BadParameter(str(exc), param_hint=option) from None
    return config


@app.command("train")
@handle_errors
def train_cmd(origins: int = typer.Option(12, help="Backtest origins (months), at least 12."),
              horizon: int = typer.Option(3, help="Months ahead to forecast."),
              candidates: str = typer.Option(None, help="Comma-separated candidates, or 'all' (adds ETS, slower); "
                                                        "default: naive, seasonal_naive, median_12, theta, gbm."),
              seed: int = typer.Option(42), home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """Backtest the candidates on gold.bir_features, choose the champion honestly, register its forecast."""
    from odoolake.ml.train import train

    config = _config(origins, horizon, candidates, seed)
    paths = WorkspacePaths.from_env(home).ensure()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn()]
    with lake_session(paths) as spark, Progress(*columns, console=console, transient=True,
                                                disable=output == Output.json) as bar:
        task = bar.add_task("backtest origins", total=config.origins)
        result = train(spark, paths, config, chart_dir=paths.dbfs_to_local(TRAINING_CHARTS),
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    charts = paths.dbfs_to_local(TRAINING_CHARTS)

    def text() -> None:
        if result.unchanged:
            console.print(f"bir_tax_forecaster: {result.decision}.")
            return
        print_backtest(result)
        console.print(f"Charts: {charts}")

    emit(output, {**result.summary(), "charts": str(charts)}, text)


def print_backtest(result) -> None:
    """The backtest table and the decision, as the CLI and the demo show them."""
    sel = result.selection
    table = Table(title=f"Backtest: {result.config.origins} origins, horizons 1-{result.config.horizon}, "
                        f"data {result.window[0]}..{result.window[1]}", show_edge=False)
    for col in ("candidate", "MAE (PHP)", "MAPE", "sMAPE", "bias (PHP)", "p10-p90 coverage"):
        table.add_column(col, justify="left" if col == "candidate" else "right")
    for name, m in result.metrics.items():
        table.add_row(name + (" ← champion" if name == sel.champion else ""), f"{m['mae']:,.0f}", f"{m['mape']:.1%}",
                      f"{m['smape']:.1%}", f"{m['bias']:+,.0f}", f"{m['coverage']:.0%}")
    console.print(table)
    console.print(f"bir_tax_forecaster version {result.version}: {sel.reason}")


@app.command("score")
@handle_errors
def score_cmd(home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """Write gold.bir_forecast (next months with p10/p50/p90, and the backtest) and a chart per agency."""
    from odoolake.ml.scoring import score

    paths = WorkspacePaths.from_env(home).ensure()
    with lake_session(paths, "scoring the forecast…") as spark:
        result = score(spark, paths, chart_dir=paths.dbfs_to_local(LATEST_CHARTS))
    charts = paths.dbfs_to_local(LATEST_CHARTS)
    emit(output, {"table": "gold.bir_forecast", "rows": result.rows, "version": result.version,
                  "method": result.method, "charts": str(charts)},
         lambda: console.print(f"gold.bir_forecast: {result.rows} rows from version {result.version} "
                               f"({result.method}); charts in {charts}"))


MODEL_COLUMNS = (("version", None), ("alias", None), ("method", "method"), ("training window", "training_window"),
                 ("data version", "data_version"), ("backtest MAE", "backtest_mae"),
                 ("coverage", "backtest_coverage"), ("best baseline MAE", "best_baseline_mae"), ("p", "p_value"))


@app.command("models")
@handle_errors
def models_cmd(home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """Versions of bir_tax_forecaster: method, training window, Delta version of the data, backtest metrics."""
    from mlflow.exceptions import MlflowException

    from odoolake.ml import MODEL_NAME, tracking

    client = tracking.client(WorkspacePaths.from_env(home))
    try:
        aliases = client.get_registered_model(MODEL_NAME).aliases or {}
    except MlflowException:
        emit(output, [], lambda: console.print(f"No {MODEL_NAME} registered yet: run `odoolake ml train` "
                                               "(or the bir_etl job)."))
        return
    table = Table(title=MODEL_NAME, show_edge=False)
    for title, _ in MODEL_COLUMNS:
        table.add_column(title, justify="right" if title not in ("alias", "method", "training window") else "left")
    by_version = {str(v): k for k, v in aliases.items()}
    versions = sorted(client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: int(v.version))
    for mv in versions:
        cells = [str(mv.version), by_version.get(str(mv.version), "")]
        for _, tag in MODEL_COLUMNS[2:]:
            value = mv.tags.get(tag, "")
            if tag in ("backtest_mae", "best_baseline_mae") and value:
                value = f"{float(value):,.0f}"
            elif tag == "backtest_coverage" and value:
                value = f"{float(value):.0%}"
            cells.append(value)
        table.add_row(*cells)
    emit(output, [{"version": str(mv.version), "alias": by_version.get(str(mv.version)),
                   **{tag: mv.tags.get(tag) for _, tag in MODEL_COLUMNS[2:] if tag}} for mv in versions],
         lambda: _print_whole(table))


def _print_whole(table: Table) -> None:
    """The table if every cell fits the terminal; else one block per row, each value whole (rich cut the versions'
    aliases, windows and metrics to "champ…", "2023-…" at 80 columns)."""
    from rich.measure import Measurement

    if Measurement.get(console, console.options.update(max_width=10_000), table).maximum <= console.width:
        console.print(table)
        return
    titles = [str(column.header) for column in table.columns]
    console.print(table.title or "", highlight=False)
    for row in zip(*(list(column.cells) for column in table.columns), strict=True):
        console.print(f"{titles[0]} {row[0]}" + (f"  ({row[1]})" if row[1] else ""), highlight=False)
        line = ""
        for pair in (f"{title}: {value}" for title, value in zip(titles[2:], row[2:], strict=True) if value):
            if line and len(line) + 3 + len(pair) > console.width:  # a pair is never split across lines
                console.print(line, highlight=False, soft_wrap=True)
                line = ""
            line = f"{line}   {pair}" if line else f"  {pair}"
        console.print(line, highlight=False, soft_wrap=True)


@app.command("report")
@handle_errors
def report_cmd(file: str = typer.Option(None, "--file", "-f", help="Write the page to this file (default: print it)."),
               version: str = typer.Option(None, help="Version to report (default: the champion)."),
               command: str = typer.Option("odoolake demo --as-of <date> && odoolake ml report --file docs/forecasting.md",
                                           help="The commands that produced this run, quoted on the page."),
               home: str = HomeOpt) -> None:
    """docs/forecasting.md from a registered version's training run (every number comes from the run)."""
    from odoolake.cli.demo import RAW_ROOT
    from odoolake.datagen.generator import read_run_record
    from odoolake.ml.report import for_version

    paths = WorkspacePaths.from_env(home)
    record = read_run_record(paths.dbfs_to_local(RAW_ROOT))
    data_line = ("the lake's Odoo data" if record is None else
                 f"generated Odoo data, seed {record['seed']}, {record['months']} months to {record['end']}, "
                 f"~{record['lines']:,} journal lines, {len(record['agencies'])} agencies, as of {record['as_of']}")
    page = for_version(paths, version, command, data_line)
    if file is None:  # the Markdown as it is: a console would wrap its table rows at the terminal's width
        sys.stdout.write(page)
    else:
        Path(file).write_text(page)
        console.print(f"Wrote {file}")


@app.command("ui")
@handle_errors
def ui_cmd(port: int = typer.Option(5000), home: str = HomeOpt) -> None:
    """Run ``mlflow ui`` on this workspace's tracking store (127.0.0.1 only) until Ctrl-C."""
    from odoolake.ml import tracking

    paths = WorkspacePaths.from_env(home)
    config = tracking.local_config(paths)
    mlflow_bin = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    args = [mlflow_bin, "ui", "--backend-store-uri", config.tracking_uri, "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]
    with socket.socket() as probe:  # mlflow ui says a busy port only in its log, and exits 0
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise OdoolakeError(f"port {port} on 127.0.0.1 is taken ({exc.strerror}): choose another with --port") \
                from None
    console.print(" ".join(args))
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}  # uvicorn
    child = subprocess.Popen(args, env=env, start_new_session=True)  # its workers too: stopped as one group
    url = f"http://127.0.0.1:{port}"

    def stop_asked(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, stop_asked)
    try:
        with err_console.status(f"starting MLflow's UI at {url} (it takes a while the first time)"):
            while not _answers(url):
                if child.poll() is not None:
                    raise OdoolakeError(f"mlflow ui exited with code {child.returncode} before it served {url} "
                                        "(its message is above; is the port in use? try --port).")
                time.sleep(0.25)  # polling the condition: the UI answering
        console.print(f"MLflow UI: {url}  (Ctrl-C stops it)")
        child.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop_group(child)


def _stop_group(child: subprocess.Popen) -> None:
    """Stop ``mlflow ui`` and every process it started (its server's workers and job consumers): SIGTERM to the
    group, then SIGKILL to what is left after ``STOP_GRACE_SECONDS``."""
    for stop_signal in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, stop_signal)
        except ProcessLookupError:  # the group is gone
            return
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            child.poll()  # reaps the leader: a zombie would keep the group alive
            if not _group_alive(child.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False
