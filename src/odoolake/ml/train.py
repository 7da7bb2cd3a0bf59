"""Train the candidates on the earlier months, score them on the latest ones, register and maybe promote.

One parent MLflow run per training, one nested run per candidate. The best candidate (lowest holdout MAE)
becomes a new version of ``bir_tax_forecaster``. The ``champion`` alias moves to it only if it beats the
seasonal naive baseline *and* the current champion, both measured on this training's holdout.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from odoolake.config import WorkspacePaths
from odoolake.ml import candidates, dataset, tracking
from odoolake.ml.charts import forecast_vs_actual
from odoolake.ml.metrics import evaluate

SKOPS_TRUSTED = ["sklearn.tree._tree.Tree"]


@dataclass
class CandidateResult:
    name: str
    metrics: dict[str, float]
    run_id: str
    model_uri: str | None = None


@dataclass
class TrainResult:
    run_id: str
    train_periods: list[str]
    test_periods: list[str]
    results: dict[str, CandidateResult]
    chosen: str
    version: str
    promoted: bool
    decision: str
    champion_version: str | None
    charts: list[Path] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "version": self.version, "chosen": self.chosen, "promoted": self.promoted,
            "decision": self.decision, "champion_version": self.champion_version,
            "train": f"{self.train_periods[0]}..{self.train_periods[-1]}",
            "holdout": f"{self.test_periods[0]}..{self.test_periods[-1]}",
            "metrics": {name: r.metrics for name, r in self.results.items()},
        }


def train(spark, paths: WorkspacePaths | None = None, test_months: int = 3, seed: int = 42,
          chart_dir: Path | None = None, experiment: str = tracking.EXPERIMENT,
          model_name: str = tracking.MODEL_NAME) -> TrainResult:
    import mlflow

    tracking.configure(paths, experiment)
    split = dataset.time_split(dataset.load_features(spark), test_months=test_months)
    x_train, y_train = split.train[dataset.FEATURES], split.train[dataset.TARGET]
    x_test, y_test = split.test[dataset.FEATURES], split.test[dataset.TARGET]
    results: dict[str, CandidateResult] = {}
    predictions: dict[str, Any] = {}
    with mlflow.start_run(run_name=model_name) as parent:
        mlflow.log_params({"test_months": test_months, "seed": seed, "features": ",".join(dataset.FEATURES),
                           "train_first": split.train_periods[0], "train_last": split.train_periods[-1],
                           "holdout_first": split.test_periods[0], "holdout_last": split.test_periods[-1],
                           "train_rows": len(x_train), "holdout_rows": len(x_test)})
        for name, build in candidates.CANDIDATES.items():
            results[name], predictions[name] = _fit_candidate(name, build(seed), x_train, y_train, x_test, y_test)
        baseline_mae = results[candidates.BASELINE].metrics["mae"]
        for name, result in results.items():
            result.metrics["mae_vs_naive"] = result.metrics["mae"] / baseline_mae if baseline_mae else float("nan")
            mlflow.log_metrics({f"{name}_{k}": v for k, v in result.metrics.items()})
        chosen = min((n for n in results if n != candidates.BASELINE), key=lambda n: results[n].metrics["mae"])
        mlflow.set_tag("chosen", chosen)
        version, promoted, decision, champion = _register(model_name, results[chosen], x_test, y_test, baseline_mae)
        mlflow.set_tags({"registered_version": version, "promotion": decision})
        holdout = split.test.assign(actual=y_test, predicted=predictions[chosen])
        history = split.train.assign(actual=y_train, predicted=_fitted(results[chosen], x_train))
        frame = pd.concat([history, holdout])[["agency", "period", "actual", "predicted"]]
        with tempfile.TemporaryDirectory() as tmp:
            pngs = forecast_vs_actual(frame, Path(tmp), split.test_periods[0],
                                      title=f"{chosen} v{version}: forecast vs actual")
            mlflow.log_artifacts(tmp, artifact_path="charts")
            charts = []
            if chart_dir is not None:
                chart_dir.mkdir(parents=True, exist_ok=True)
                for png in pngs:
                    target = chart_dir / png.name
                    target.write_bytes(png.read_bytes())
                    charts.append(target)
    return TrainResult(parent.info.run_id, split.train_periods, split.test_periods, results, chosen, version,
                       promoted, decision, champion, charts)


def _fit_candidate(name, model, x_train, y_train, x_test, y_test) -> tuple[CandidateResult, Any]:
    import mlflow
    from mlflow.models import infer_signature

    with mlflow.start_run(run_name=name, nested=True) as run:
        model.fit(x_train, y_train)
        predicted = model.predict(x_test)
        metrics = evaluate(y_test, predicted)
        mlflow.log_params(candidates.params_of(model))
        mlflow.log_metrics(metrics)
        uri = None
        if name != candidates.BASELINE:
            info = mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(x_train, model.predict(x_train)),
                input_example=x_train.head(2), skops_trusted_types=SKOPS_TRUSTED)
            uri = info.model_uri
        result = CandidateResult(name, metrics, run.info.run_id, uri)
        result.model = model  # type: ignore[attr-defined]
    return result, predicted


def _fitted(result: CandidateResult, x):
    return result.model.predict(x)  # type: ignore[attr-defined]


def promotion(mae: float, baseline_mae: float, champion_version: str | None,
              champion_mae: float | None) -> tuple[bool, str]:
    """Whether a new version with holdout ``mae`` takes the alias, and why, in words for the version's tag."""
    if mae >= baseline_mae:
        return False, (f"kept out: holdout MAE {mae:,.2f} does not beat the seasonal naive baseline "
                       f"({baseline_mae:,.2f})")
    if champion_version is None or champion_mae is None:
        return True, f"promoted: first version to beat the naive baseline (MAE {mae:,.2f} vs {baseline_mae:,.2f})"
    verdict = "promoted" if mae < champion_mae else "kept out"
    return mae < champion_mae, (f"{verdict}: holdout MAE {mae:,.2f} vs champion v{champion_version} "
                                f"{champion_mae:,.2f} on the same holdout")


def _register(model_name: str, result: CandidateResult, x_test, y_test,
              baseline_mae: float) -> tuple[str, bool, str, str | None]:
    """New version from the chosen run; move the alias only if it wins. Returns version, promoted, why, champion."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(
            model_name, description="Monthly expanded withholding tax per agency (PHP), from gold.bir_features.")
    mae = result.metrics["mae"]
    assert result.model_uri is not None, "the chosen candidate was logged with its model"
    mv = client.create_model_version(model_name, source=result.model_uri, run_id=result.run_id,
                                     tags={"candidate": result.name, "holdout_mae": f"{mae:.2f}"})
    try:
        current = client.get_model_version_by_alias(model_name, tracking.ALIAS)
    except MlflowException:
        current = None
    champion_mae = None
    if current is not None:
        model = mlflow.pyfunc.load_model(f"models:/{model_name}/{current.version}")
        champion_mae = evaluate(y_test, model.predict(x_test))["mae"]
    current_version = str(current.version) if current is not None else None
    promoted, decision = promotion(mae, baseline_mae, current_version, champion_mae)
    client.set_model_version_tag(model_name, mv.version, "promotion", decision)
    if promoted:
        client.set_registered_model_alias(model_name, tracking.ALIAS, mv.version)
    return str(mv.version), promoted, decision, str(mv.version) if promoted else current_version
