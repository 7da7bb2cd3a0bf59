"""Train ``bir_tax_forecaster``: backtest the candidates, choose honestly, register the champion's forecast.

One MLflow run per training. It logs the configuration, every candidate's backtest metrics, the choice and its
test, the backtest forecasts and the charts, and the champion as a pyfunc (:mod:`odoolake.ml.served`) with a
signature. The new version is tagged with its training window, the Delta version and fingerprint of the data,
the configuration's fingerprint and its backtest metrics; the ``champion`` alias moves to it last, so a run that
fails at any step leaves the alias where it was (a half-registered version is deleted).

A retrain on the same data (by content) with the same configuration registers nothing and says which version
already holds that forecast. That version becomes the champion again if the champion was trained on other data
(the data came back to what it was, a duplicated batch cancelled, say: scoring then uses the version the training
named, not one trained on data since undone); a champion trained on this same data with another configuration
stays.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from odoolake.config import WorkspacePaths
from odoolake.ml import backtest, history, scoring, tracking
from odoolake.ml.charts import forecast_charts

BACKTEST_ARTIFACT = "backtest/forecasts.csv"
FORECAST_ARTIFACT = "forecast/forecast.csv"
METRICS = ("mae", "mape", "smape", "bias", "coverage", "width")


@dataclass
class TrainResult:
    version: str
    unchanged: bool
    run_id: str | None
    method: str
    window: tuple[str, str]
    data_version: int | None
    data_fingerprint: str
    config: backtest.BacktestConfig
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    selection: backtest.Selection | None = None
    forecast: pd.DataFrame | None = None
    charts: list[Path] = field(default_factory=list)
    champion_was: str | None = None  # an unchanged training that moved the alias back: the version it left

    @property
    def decision(self) -> str:
        if self.unchanged:
            moved = (f"; the champion moves back to it from version {self.champion_was}" if self.champion_was
                     else "")
            return (f"nothing registered: version {self.version} was trained on the same data "
                    f"({self.data_fingerprint}) with the same configuration{moved}")
        return self.selection.reason if self.selection else ""

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "unchanged": self.unchanged, "run_id": self.run_id, "method": self.method,
                "training_window": f"{self.window[0]}..{self.window[1]}", "data_version": self.data_version,
                "decision": self.decision, "metrics": self.metrics}


def find_version(client, model_name: str, data_fingerprint: str, config_fingerprint: str):
    """The version already trained on this data with this configuration, if any."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return None
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        if mv.tags.get("data_fingerprint") == data_fingerprint and mv.tags.get(
                "config_fingerprint") == config_fingerprint:
            return mv
    return None


def train(spark, paths: WorkspacePaths | None = None, config: backtest.BacktestConfig | None = None,
          chart_dir: Path | None = None, experiment: str = tracking.EXPERIMENT, model_name: str = tracking.MODEL_NAME,
          progress: Callable[[int, int], None] | None = None) -> TrainResult:
    config = config or backtest.BacktestConfig()
    config.validate()
    data = history.load(spark)
    return train_on(data, paths, config, chart_dir, experiment, model_name, progress)


def train_on(data: history.History, paths: WorkspacePaths | None, config: backtest.BacktestConfig,
             chart_dir: Path | None = None, experiment: str = tracking.EXPERIMENT,
             model_name: str = tracking.MODEL_NAME, progress: Callable[[int, int], None] | None = None) -> TrainResult:
    import mlflow

    tracking.configure(paths, experiment)
    client = mlflow.MlflowClient()
    window = (data.first, data.last)
    fingerprint = data.fingerprint()
    same = find_version(client, model_name, fingerprint, config.fingerprint())
    if same is not None:
        try:
            champion = scoring.champion(model_name)
        except history.ForecastDataError:  # no champion yet
            champion = None
        stale = champion is not None and champion.tags.get("data_fingerprint") != fingerprint
        if stale:
            client.set_registered_model_alias(model_name, tracking.ALIAS, same.version)
        return TrainResult(str(same.version), True, same.run_id, same.tags.get("method", ""), window,
                           data.table_version, fingerprint, config,
                           champion_was=str(champion.version) if stale and champion is not None else None)
    with mlflow.start_run(run_name=f"{model_name} {data.last}") as run:
        mlflow.log_params({**{k: (",".join(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
                           "training_first": data.first, "training_last": data.last, "agencies": len(data.agencies),
                           "data_version": data.table_version, "data_fingerprint": fingerprint})
        result = backtest.run(data, config, progress)
        for name, m in result.metrics.items():
            mlflow.log_metrics({f"{name}_{k}": v for k, v in m.items() if k in METRICS and v == v})
        sel = result.selection
        mlflow.set_tags({"champion_method": sel.champion, "best_baseline": sel.best_baseline,
                         "best_model": sel.best_model or "", "p_value": _fmt(sel.p_value), "decision": sel.reason})
        ahead = backtest.future(data, result)
        charts = _log_artifacts(data, result, ahead, chart_dir, f"{sel.champion}, data through {data.last}")
        version = _register(client, model_name, run.info.run_id, data, config, result, ahead)
    return TrainResult(version, False, run.info.run_id, sel.champion, window, data.table_version, fingerprint, config,
                       result.metrics, sel, ahead, charts)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _log_artifacts(data, result, ahead, chart_dir: Path | None, subtitle: str) -> list[Path]:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "backtest").mkdir()
        (root / "forecast").mkdir()
        result.rows.to_csv(root / BACKTEST_ARTIFACT, index=False)
        ahead.to_csv(root / FORECAST_ARTIFACT, index=False)
        pngs = forecast_charts(data.wide, result.champion_rows(), ahead, root / "charts", subtitle)
        mlflow.log_artifacts(tmp)
        written = []
        if chart_dir is not None:
            chart_dir.mkdir(parents=True, exist_ok=True)
            for png in pngs:
                target = chart_dir / png.name
                target.write_bytes(png.read_bytes())
                written.append(target)
    return written


def version_tags(data, config, result) -> dict[str, str]:
    sel = result.selection
    champion = result.metrics[sel.champion]
    baseline = result.metrics[sel.best_baseline]
    tags = {"method": sel.champion, "training_window": f"{data.first}..{data.last}", "origin": data.last,
            "data_table": "gold.bir_features", "data_version": "" if data.table_version is None else str(
                data.table_version), "data_fingerprint": data.fingerprint(), "config_fingerprint": config.fingerprint(),
            "backtest_origins": str(config.origins), "horizon": str(config.horizon),
            "best_baseline": sel.best_baseline, "best_baseline_mae": f"{baseline['mae']:.2f}",
            "best_model": sel.best_model or "", "p_value": _fmt(sel.p_value), "decision": sel.reason}
    for key in METRICS:
        value = champion.get(key)
        tags[f"backtest_{key}"] = "" if value is None or value != value else f"{value:.4f}"
    return tags


def _register(client, model_name: str, run_id: str, data, config, result, ahead) -> str:
    """Log the pyfunc, create the version with its tags, then move the alias; undo the version if a step fails."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from odoolake.ml.served import FORECAST_ARTIFACT, METHOD_CONFIG, MODEL_CODE, signature, write_forecast

    with tempfile.TemporaryDirectory() as tmp:
        forecast = write_forecast(ahead, Path(tmp) / "forecast.json")
        info = mlflow.pyfunc.log_model(name="model", python_model=str(MODEL_CODE),
                                       artifacts={FORECAST_ARTIFACT: str(forecast)},
                                       model_config={METHOD_CONFIG: result.selection.champion},
                                       signature=signature(), input_example=ahead[["agency", "period"]].head(2),
                                       pip_requirements=["mlflow", "pandas"])
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description=(
            "Next months' expanded withholding tax per agency (PHP), p10/p50/p90, from gold.bir_features. "
            "Input: agency and period (YYYY-MM)."))
    mv = client.create_model_version(model_name, source=info.model_uri, run_id=run_id)
    try:
        for key, value in version_tags(data, config, result).items():
            client.set_model_version_tag(model_name, mv.version, key, value)
        client.set_registered_model_alias(model_name, tracking.ALIAS, mv.version)
    except Exception:
        client.delete_model_version(model_name, mv.version)
        raise
    return str(mv.version)
