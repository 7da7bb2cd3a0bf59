"""Training, registry transitions and batch scoring of bir_tax_forecaster on generated data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyRegressor

from odoolake.ml import ALIAS, MODEL_NAME, tracking
from odoolake.ml.dataset import FEATURES, load_features, usable_rows
from odoolake.ml.scoring import FORECAST_TABLE, score
from odoolake.ml.train import train


def test_model_beats_the_naive_baseline_on_a_later_holdout(forecast_lake):
    first = forecast_lake.first
    assert max(first.train_periods) < min(first.test_periods)
    assert first.test_periods == ["2026-08", "2026-09", "2026-10"]
    chosen = first.results[first.chosen].metrics
    naive = first.results["seasonal_naive"].metrics
    assert first.chosen in ("random_forest", "ridge")
    assert chosen["mae"] < naive["mae"]
    assert first.promoted and first.champion_version == first.version
    assert set(first.results) == {"seasonal_naive", "random_forest", "ridge"}
    assert len(first.charts) == 8 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in first.charts)


def test_the_run_logs_metrics_params_signature_and_input_example(forecast_lake):
    import mlflow

    client = tracking.client(forecast_lake.paths)
    run = client.get_run(forecast_lake.first.run_id)
    for name in ("seasonal_naive", "random_forest", "ridge"):
        for metric in ("r2", "mae", "mape", "mae_vs_naive"):
            assert f"{name}_{metric}" in run.data.metrics
    assert run.data.params["holdout_first"] == "2026-08"
    version = client.get_model_version(MODEL_NAME, forecast_lake.first.version)
    tracking.configure(forecast_lake.paths)
    info = mlflow.models.get_model_info(f"models:/{MODEL_NAME}/{version.version}")
    assert [c.name for c in info.signature.inputs] == FEATURES
    assert info.saved_input_example_info is not None
    assert "charts/RIM.png" in [a.path for a in client.list_artifacts(forecast_lake.first.run_id, "charts")]


def test_alias_moves_only_when_a_new_version_beats_the_champion(forecast_lake):
    import mlflow

    paths, spark = forecast_lake.paths, forecast_lake.spark
    client = tracking.client(paths)
    same = train(spark, paths)  # same data and seed: equal holdout error, so the champion stays
    assert not same.promoted and "kept out" in same.decision
    assert str(client.get_model_version_by_alias(MODEL_NAME, ALIAS).version) == forecast_lake.first.version

    # A deliberately poor champion (predicts zero) is beaten by the next training.
    tracking.configure(paths)
    split_x = usable_rows(load_features(spark))[FEATURES]
    with mlflow.start_run(run_name="zero-model") as run:
        zero = DummyRegressor(strategy="constant", constant=0.0).fit(split_x, np.zeros(len(split_x)))
        info = mlflow.sklearn.log_model(zero, name="model", input_example=split_x.head(2))
    poor = client.create_model_version(MODEL_NAME, source=info.model_uri, run_id=run.info.run_id)
    client.set_registered_model_alias(MODEL_NAME, ALIAS, poor.version)
    better = train(spark, paths)
    assert better.promoted and f"vs champion v{poor.version}" in better.decision
    assert str(client.get_model_version_by_alias(MODEL_NAME, ALIAS).version) == better.version
    assert client.get_model_version(MODEL_NAME, same.version).tags["promotion"].startswith("kept out")


def test_batch_scoring_writes_the_champions_forecast(forecast_lake, tmp_path):
    paths, spark = forecast_lake.paths, forecast_lake.spark
    champion = str(tracking.client(paths).get_model_version_by_alias(MODEL_NAME, ALIAS).version)
    result = score(spark, paths, chart_dir=tmp_path)
    table = spark.table(FORECAST_TABLE).toPandas()
    assert len(table) == result.rows == len(usable_rows(load_features(spark)))
    assert set(table["model_version"]) == {champion}
    assert (table["abs_error"] - (table["predicted_wht"] - table["withholding_tax"]).abs()).abs().max() < 0.011
    assert sorted(p.name for p in result.charts) == sorted(f"{a}.png" for a in table["agency"].unique())


def test_scoring_without_a_champion_says_what_to_run(tmp_path, spark):
    from odoolake.config import WorkspacePaths
    from odoolake.ml.dataset import ForecastDataError

    with pytest.raises(ForecastDataError, match="run the train_forecaster task first"):
        score(spark, WorkspacePaths.from_env(tmp_path))
