"""``odoolake ml …``: train, score and inspect the withholding-tax forecaster; open the MLflow UI on its store."""

from __future__ import annotations

import os
import shutil
import sys

import typer
from rich.table import Table

from odoolake.cli.common import HomeOpt, console, handle_errors, lake_session
from odoolake.config import WorkspacePaths

app = typer.Typer(no_args_is_help=True)


@app.command("train")
@handle_errors
def train_cmd(test_months: int = typer.Option(3, min=1, help="Latest months held out for evaluation."),
              seed: int = typer.Option(42), home: str = HomeOpt) -> None:
    """Train the candidates on gold.bir_features, register the best, promote it if it wins the holdout."""
    from odoolake.ml.train import train

    paths = WorkspacePaths.from_env(home).ensure()
    with lake_session(paths) as spark, console.status("training seasonal naive, random forest and ridge…"):
        result = train(spark, paths, test_months=test_months, seed=seed,
                       chart_dir=paths.dbfs_to_local("dbfs:/reports/bir_forecast/training"))
    table = Table(title=f"Holdout {result.test_periods[0]}..{result.test_periods[-1]} "
                        f"(trained on {result.train_periods[0]}..{result.train_periods[-1]})", show_edge=False)
    for col in ("model", "MAE (PHP)", "MAPE", "R²", "MAE / naive"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, r in result.results.items():
        m = r.metrics
        table.add_row(name + (" ←" if name == result.chosen else ""), f"{m['mae']:,.2f}", f"{m['mape']:.1%}",
                      f"{m['r2']:.3f}", f"{m['mae_vs_naive']:.2f}")
    console.print(table)
    console.print(f"bir_tax_forecaster version {result.version}: {result.decision}")
    console.print(f"Charts: {paths.dbfs_to_local('dbfs:/reports/bir_forecast/training')}")


@app.command("score")
@handle_errors
def score_cmd(home: str = HomeOpt) -> None:
    """Write gold.bir_forecast with the champion, and a forecast-vs-actual chart per agency."""
    from odoolake.ml.scoring import score

    paths = WorkspacePaths.from_env(home).ensure()
    with lake_session(paths) as spark:
        result = score(spark, paths, chart_dir=paths.dbfs_to_local("dbfs:/reports/bir_forecast/latest"))
    console.print(f"gold.bir_forecast: {result.rows} rows from version {result.version}; charts in "
                  f"{paths.dbfs_to_local('dbfs:/reports/bir_forecast/latest')}")


@app.command("models")
@handle_errors
def models_cmd(home: str = HomeOpt) -> None:
    """Versions of bir_tax_forecaster with their holdout MAE and promotion decision."""
    from mlflow.exceptions import MlflowException

    from odoolake.ml import MODEL_NAME, tracking

    client = tracking.client(WorkspacePaths.from_env(home))
    try:
        aliases = client.get_registered_model(MODEL_NAME).aliases or {}
    except MlflowException:
        console.print(f"No {MODEL_NAME} registered yet: run `odoolake ml train` (or the bir_etl job).")
        return
    table = Table(title=MODEL_NAME, show_edge=False)
    for col in ("version", "alias", "candidate", "holdout MAE", "decision"):
        table.add_column(col)
    by_version = {str(v): k for k, v in aliases.items()}
    for mv in sorted(client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: int(v.version)):
        table.add_row(str(mv.version), by_version.get(str(mv.version), ""), mv.tags.get("candidate", ""),
                      mv.tags.get("holdout_mae", ""), mv.tags.get("promotion", ""))
    console.print(table)


@app.command("ui")
@handle_errors
def ui_cmd(port: int = typer.Option(5000), home: str = HomeOpt) -> None:
    """Run ``mlflow ui`` on this workspace's tracking store (127.0.0.1 only)."""
    from odoolake.ml import tracking

    paths = WorkspacePaths.from_env(home)
    config = tracking.local_config(paths)
    mlflow_bin = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    args = [mlflow_bin, "ui", "--backend-store-uri", config.tracking_uri, "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]
    console.print(" ".join(args))
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")  # it execs uvicorn
    os.execv(mlflow_bin, args)
