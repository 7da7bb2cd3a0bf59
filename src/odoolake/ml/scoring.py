"""``gold.bir_forecast`` from the champion version: its forecast of the coming months and its backtest.

Rows with ``kind = 'forecast'`` are the months after the version's training window (no actual yet); rows with
``kind = 'backtest'`` are the champion method's backtest forecasts (each made from the data up to its
``origin``), beside the actual as the lake knows it now. Amounts are DECIMAL(18,2), like the rest of gold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from odoolake.config import WorkspacePaths
from odoolake.ml import history, tracking
from odoolake.ml.charts import forecast_charts

FORECAST_TABLE = "gold.bir_forecast"
KIND_FORECAST = "forecast"
KIND_BACKTEST = "backtest"
MONEY = ("withholding_tax", "predicted_wht", "predicted_wht_p10", "predicted_wht_p90", "abs_error")
FORECAST_SCHEMA = ("agency string, period string, year int, month int, kind string, origin string, horizon int, "
                   "withholding_tax double, predicted_wht double, predicted_wht_p10 double, predicted_wht_p90 double, "
                   "abs_error double, method string, model_name string, model_version string")


@dataclass
class ScoreResult:
    rows: int
    version: str
    method: str
    forecast: pd.DataFrame
    charts: list[Path] = field(default_factory=list)


def champion(model_name: str = tracking.MODEL_NAME):
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(model_name, tracking.ALIAS)
    except MlflowException as exc:
        raise history.ForecastDataError(
            f"No {model_name}@{tracking.ALIAS} to score with: train one first (`odoolake ml train`, or the bir_etl "
            "job's train_forecaster task) "
            f"({exc.message if hasattr(exc, 'message') else exc})") from exc


def version_frames(run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecast and backtest tables the training run logged."""
    import mlflow

    from odoolake.ml.train import BACKTEST_ARTIFACT, FORECAST_ARTIFACT

    ahead = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=FORECAST_ARTIFACT))
    past = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=BACKTEST_ARTIFACT))
    return ahead, past


def build(ahead: pd.DataFrame, past: pd.DataFrame, method: str, actual: pd.DataFrame, model_name: str,
          version: str) -> pd.DataFrame:
    """The rows of ``gold.bir_forecast`` (pure pandas; ``actual`` is the current wide history)."""
    mine = past[past["candidate"] == method].drop(columns=["candidate", "actual"])
    known = actual.stack().rename("withholding_tax").reset_index()
    backtest_rows = mine.merge(known, on=["period", "agency"], how="left").assign(kind=KIND_BACKTEST)
    forecast_rows = ahead.assign(kind=KIND_FORECAST, withholding_tax=float("nan"))
    out = pd.concat([backtest_rows, forecast_rows], ignore_index=True)
    out = out.rename(columns={"p50": "predicted_wht", "p10": "predicted_wht_p10", "p90": "predicted_wht_p90"})
    out["abs_error"] = (out["predicted_wht"] - out["withholding_tax"]).abs()
    out["year"] = out["period"].str[:4].astype("int32")
    out["month"] = out["period"].str[5:7].astype("int32")
    out["horizon"] = out["horizon"].astype("int32")
    out["method"], out["model_name"], out["model_version"] = method, model_name, version
    for column in MONEY:
        out[column] = out[column].astype("float64").round(2)
    columns = [c.split()[0] for c in FORECAST_SCHEMA.split(", ")]
    return out[columns].sort_values(["kind", "agency", "period", "horizon"]).reset_index(drop=True)


def score(spark, paths: WorkspacePaths | None = None, chart_dir: Path | None = None,
          model_name: str = tracking.MODEL_NAME) -> ScoreResult:
    from pyspark.sql import functions as F

    from odoolake.pipeline import io

    tracking.configure(paths)
    current = champion(model_name)
    method = current.tags.get("method", "")
    ahead, past = version_frames(current.run_id)
    actual = history.load(spark).wide
    frame = build(ahead, past, method, actual, model_name, str(current.version))
    df = spark.createDataFrame(frame.astype(object).where(frame.notna(), None), FORECAST_SCHEMA)
    for column in MONEY:
        df = df.withColumn(column, F.col(column).cast("decimal(18,2)"))
    io.overwrite(df.withColumn("scored_at", F.current_timestamp()), FORECAST_TABLE)
    charts = []
    if chart_dir is not None:
        charts = forecast_charts(actual, past[past["candidate"] == method], ahead, chart_dir,
                                 f"{method}, {model_name} v{current.version}, data through "
                                 f"{current.tags.get('origin', '')}")
    return ScoreResult(len(frame), str(current.version), method, ahead, charts)
