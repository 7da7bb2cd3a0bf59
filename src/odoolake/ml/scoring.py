"""Batch scoring: the champion's estimate for every agency-month with both lags, into ``gold.bir_forecast``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from odoolake.config import WorkspacePaths
from odoolake.ml import dataset, tracking
from odoolake.ml.charts import forecast_vs_actual

FORECAST_TABLE = "gold.bir_forecast"
FORECAST_SCHEMA = ("agency string, period string, year int, month int, withholding_tax double, "
                   "predicted_wht double, abs_error double, model_name string, model_version string")


@dataclass
class ScoreResult:
    rows: int
    version: str
    charts: list[Path] = field(default_factory=list)


def score(spark, paths: WorkspacePaths | None = None, chart_dir: Path | None = None,
          model_name: str = tracking.MODEL_NAME) -> ScoreResult:
    import mlflow
    from mlflow.exceptions import MlflowException
    from pyspark.sql import functions as F

    from odoolake.pipeline import io

    tracking.configure(paths)
    try:
        champion = mlflow.MlflowClient().get_model_version_by_alias(model_name, tracking.ALIAS)
    except MlflowException as exc:
        raise dataset.ForecastDataError(
            f"No {model_name}@{tracking.ALIAS} to score with: run the train_forecaster task first "
            f"({exc.message if hasattr(exc, 'message') else exc})") from exc
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{champion.version}")
    frame = dataset.usable_rows(dataset.load_features(spark))
    frame["predicted_wht"] = [round(float(v), 2) for v in model.predict(frame[dataset.FEATURES])]
    frame["abs_error"] = (frame["predicted_wht"] - frame[dataset.TARGET]).abs().round(2)
    frame["model_name"] = model_name
    frame["model_version"] = str(champion.version)
    out = frame[["agency", "period", "year", "month", dataset.TARGET, "predicted_wht", "abs_error", "model_name",
                 "model_version"]]
    df = spark.createDataFrame(out.astype({"year": "int32", "month": "int32"}), FORECAST_SCHEMA)
    io.overwrite(df.withColumn("scored_at", F.current_timestamp()), FORECAST_TABLE)
    charts = []
    if chart_dir is not None:
        charts = forecast_vs_actual(out.rename(columns={dataset.TARGET: "actual", "predicted_wht": "predicted"}),
                                    chart_dir, title=f"{model_name} v{champion.version}")
    return ScoreResult(len(out), str(champion.version), charts)
