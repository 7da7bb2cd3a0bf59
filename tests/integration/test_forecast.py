"""Training, registry rules and batch scoring of bir_tax_forecaster on generated data through the real pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import mlflow
import pytest

from odoolake.datagen.generator import read_run_record
from odoolake.ml import ALIAS, MODEL_NAME, history, tracking, train
from odoolake.ml.backtest import BacktestConfig
from odoolake.ml.scoring import FORECAST_TABLE, KIND_BACKTEST, KIND_FORECAST, score


def _client(paths):
    return tracking.client(paths)


def _champion(paths) -> str:
    return str(_client(paths).get_model_version_by_alias(MODEL_NAME, ALIAS).version)


def test_the_generator_records_its_settings_and_marks_one_off_contracts(forecast_lake):
    record = read_run_record(forecast_lake.paths.dbfs_to_local("dbfs:/raw/odoo"))
    assert record["as_of"] == "2026-11-03" and record["end"] == "2026-10" and record["seed"] == 11
    assert record["months"] == 36 and len(record["batches"]) == 36
    contracts = forecast_lake.spark.sql(
        "SELECT COUNT(*) AS n FROM bronze.odoo_account_move WHERE ref LIKE 'CONTRACT-%'").first()["n"]
    assert contracts == record["cases"]["large_contract"] > 0


def test_first_training_registers_the_champion_with_its_window_data_version_and_backtest(forecast_lake):
    first, paths = forecast_lake.first, forecast_lake.paths
    assert not first.unchanged and first.window == ("2023-11", "2026-10")
    assert set(first.metrics) == {"naive", "seasonal_naive", "median_12", "theta", "gbm"}
    version = _client(paths).get_model_version(MODEL_NAME, first.version)
    tags = version.tags
    assert tags["training_window"] == "2023-11..2026-10" and tags["origin"] == "2026-10"
    assert tags["data_version"] == str(history.load(forecast_lake.spark).table_version) != ""
    assert tags["method"] == first.method == first.selection.champion
    assert float(tags["backtest_mae"]) == pytest.approx(first.metrics[first.method]["mae"], rel=1e-4)
    assert 0 <= float(tags["backtest_coverage"]) <= 1 and tags["backtest_origins"] == "12"
    assert tags["decision"] == first.selection.reason and tags["best_baseline"] in ("naive", "seasonal_naive",
                                                                                    "median_12")
    assert _champion(paths) == first.version
    run = _client(paths).get_run(first.run_id)
    for name in first.metrics:
        for metric in ("mae", "mape", "smape", "bias", "coverage"):
            assert f"{name}_{metric}" in run.data.metrics
    artifacts = {a.path for a in _client(paths).list_artifacts(first.run_id)}
    assert {"backtest", "forecast", "charts"} <= artifacts  # the model itself is a LoggedModel (MLflow 3)
    assert len(first.charts) == 8 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in first.charts)
    ahead = first.forecast
    assert sorted(ahead["period"].unique()) == ["2026-11", "2026-12", "2027-01"]
    assert (ahead["p10"] >= 0).all() and (ahead["p10"] <= ahead["p50"]).all() and (ahead["p50"] <= ahead["p90"]).all()


def test_the_served_model_takes_agency_and_period_with_a_signature(forecast_lake):
    paths = forecast_lake.paths
    tracking.configure(paths)
    info = mlflow.models.get_model_info(f"models:/{MODEL_NAME}/{forecast_lake.first.version}")
    assert [c.name for c in info.signature.inputs] == ["agency", "period"]
    assert {"p10", "p50", "p90"} <= {c.name for c in info.signature.outputs}
    pyfunc = info.flavors["python_function"]  # logged as code with its table as a file: loading unpickles nothing
    assert pyfunc["loader_module"] == "mlflow.pyfunc.loaders.code_model" and "python_model" not in pyfunc
    assert list(pyfunc["artifacts"]) == ["forecast"] and pyfunc["config"] == {"method": forecast_lake.first.method}
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{forecast_lake.first.version}")
    import pandas as pd

    got = model.predict(pd.DataFrame([{"agency": "RIM", "period": "2026-12"}]))
    expected = forecast_lake.first.forecast.set_index(["agency", "period"]).loc[("RIM", "2026-12")]
    assert got.iloc[0]["p50"] == pytest.approx(expected["p50"]) and got.iloc[0]["horizon"] == 2


def test_retraining_the_same_data_registers_nothing_and_a_new_config_does(forecast_lake):
    paths, spark = forecast_lake.paths, forecast_lake.spark
    client = _client(paths)
    before = client.search_model_versions(f"name='{MODEL_NAME}'")
    same = train.train(spark, paths)
    assert same.unchanged and "nothing registered" in same.decision
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == len(before)
    wider = train.train(spark, paths, BacktestConfig(origins=13))
    assert not wider.unchanged and int(wider.version) > int(forecast_lake.first.version)
    assert _champion(paths) == wider.version  # trained on the same data, chosen by its own backtest
    again = train.train(spark, paths)  # the first configuration on the same data: the champion stays
    assert again.unchanged and again.champion_was is None and _champion(paths) == wider.version


def test_data_back_to_an_earlier_state_makes_its_version_the_champion_again(forecast_lake):
    """A batch delivered twice is trained on (a new champion), then cancelled: the data is what it was, training
    names the version trained on it, and scoring used the champion trained on the doubled data (its forecast went
    to Odoo, millions too high)."""
    paths, spark = forecast_lake.paths, forecast_lake.spark
    data, config = history.load(spark), BacktestConfig()
    first = data.agencies[0]
    doubled = history.History(data.wide.assign(**{first: data.wide[first] + 5_000_000.0}), data.table_version)
    bad = train.train_on(doubled, paths, config)
    assert not bad.unchanged and _champion(paths) == bad.version
    fixed = train.train_on(data, paths, config)
    assert fixed.unchanged and int(fixed.version) < int(bad.version) and _champion(paths) == fixed.version
    assert fixed.decision.endswith(f"; the champion moves back to it from version {bad.version}")


def test_a_failed_training_leaves_the_champion_untouched(forecast_lake, monkeypatch):
    paths, spark = forecast_lake.paths, forecast_lake.spark
    client = _client(paths)
    champion = _champion(paths)
    count = len(client.search_model_versions(f"name='{MODEL_NAME}'"))

    def broken(*args, **kwargs):
        raise RuntimeError("registry went away while tagging")

    monkeypatch.setattr(train, "version_tags", broken)  # fails after the version was created
    with pytest.raises(RuntimeError, match="registry went away"):
        train.train(spark, paths, BacktestConfig(origins=14))
    assert _champion(paths) == champion
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == count  # the half-made version is gone
    failed = client.search_runs([client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id],
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert failed.info.status == "FAILED"


def test_batch_scoring_writes_future_months_and_marked_backtest_rows(forecast_lake, tmp_path):
    paths, spark = forecast_lake.paths, forecast_lake.spark
    champion = _champion(paths)
    result = score(spark, paths, chart_dir=tmp_path)
    table = spark.table(FORECAST_TABLE).toPandas()
    assert set(table["model_version"]) == {champion} and set(table["kind"]) == {KIND_FORECAST, KIND_BACKTEST}
    ahead = table[table["kind"] == KIND_FORECAST]
    assert sorted(ahead["period"].unique()) == ["2026-11", "2026-12", "2027-01"] and len(ahead) == 8 * 3
    assert ahead["withholding_tax"].isna().all() and ahead["abs_error"].isna().all()
    low, mid, high = (ahead[c].astype(float) for c in ("predicted_wht_p10", "predicted_wht", "predicted_wht_p90"))
    assert (low >= 0).all() and (low <= mid).all() and (mid <= high).all()
    past = table[table["kind"] == KIND_BACKTEST]
    assert (past["period"] > past["origin"]).all() and (past["period"] <= "2026-10").all()
    assert set(past["method"]) == {result.method}
    actual = history.load(spark).wide
    row = past.iloc[0]
    assert float(row["withholding_tax"]) == pytest.approx(actual.loc[row["period"], row["agency"]], abs=0.01)
    assert float(row["abs_error"]) == pytest.approx(abs(float(row["predicted_wht"]) - float(row["withholding_tax"])),
                                                    abs=0.011)
    assert str(spark.table(FORECAST_TABLE).schema["predicted_wht"].dataType) == "DecimalType(18,2)"
    assert sorted(p.name for p in result.charts) == sorted(f"{a}.png" for a in actual.columns)

    from odoolake.odoo.writeback import predictions_from_lake

    to_odoo = predictions_from_lake(spark)  # what the write-back sends: the coming months only
    assert sorted({p.period for p in to_odoo}) == ["2026-11", "2026-12", "2027-01"] and len(to_odoo) == 24
    assert all(0 <= p.low <= p.predicted <= p.high and p.model_version == champion for p in to_odoo)
    scored = {datetime.strptime(p.scored_at or "", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for p in to_odoo}
    assert len(scored) == 1 and timedelta(0) <= datetime.now(UTC) - scored.pop() < timedelta(hours=2)  # UTC, as Odoo


def test_ml_models_lists_window_data_version_and_metrics(forecast_lake):
    env = {**os.environ, "ODOOLAKE_HOME": str(forecast_lake.paths.home), "COLUMNS": "250"}
    env.pop("MLFLOW_TRACKING_URI", None)
    shown = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "ml", "models"], capture_output=True,
                           text=True, env=env, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    for words in ("training window", "data version", "backtest MAE", "2023-11..2026-10", "champion"):
        assert words in shown.stdout
    narrow = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "ml", "models"], capture_output=True,
                            text=True, env={**env, "COLUMNS": "80"}, timeout=120, check=False)
    assert narrow.returncode == 0, narrow.stderr  # a table rich cut to "champ…", "2023-…" became one block a version
    assert "(champion)" in narrow.stdout and "training window: 2023-11..2026-10" in narrow.stdout
    assert "…" not in narrow.stdout and max(len(line) for line in narrow.stdout.splitlines()) <= 80
    as_json = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "ml", "models", "--output", "json"],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert as_json.returncode == 0, as_json.stderr
    versions = json.loads(as_json.stdout)
    champion = next(v for v in versions if v["alias"] == "champion")
    assert champion["training_window"] == "2023-11..2026-10" and float(champion["backtest_mae"]) > 0


def test_ml_ui_serves_this_lakes_registry_until_interrupted_and_names_a_taken_port(forecast_lake):
    import signal
    import socket

    import httpx
    import psutil

    env = {**os.environ, "ODOOLAKE_HOME": str(forecast_lake.paths.home), "COLUMNS": "250"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "ml", "ui", "--port", str(port)],
                                 capture_output=True, text=True, env=env, timeout=120, check=False)
    assert refused.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in refused.stderr and "--port" in refused.stderr
    ui = subprocess.Popen([sys.executable, "-m", "odoolake.cli.main", "ml", "ui", "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        served = next((line for line in ui.stdout if line.startswith("MLflow UI: ")), None)  # type: ignore[union-attr]
        assert served is not None and served.split()[2] == f"http://127.0.0.1:{port}", served
        models = httpx.get(f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/registered-models/search", timeout=30)
        assert [m["name"] for m in models.json()["registered_models"]] == [MODEL_NAME]  # this lake's store
        started = psutil.Process(ui.pid).children(recursive=True)  # mlflow ui, its server and its job consumers
        assert started
        ui.send_signal(signal.SIGTERM)  # stopped by a service manager, not from a terminal
        assert ui.wait(timeout=120) == 0
        with pytest.raises(httpx.ConnectError):  # mlflow ui stopped with it
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        _, alive = psutil.wait_procs(started, timeout=30)
        assert alive == []  # no worker of it left behind
    finally:
        if ui.poll() is None:
            ui.kill()


def test_the_forecasting_page_is_written_from_the_champions_run(forecast_lake):
    from odoolake.ml.report import for_version

    paths = forecast_lake.paths
    version = _client(paths).get_model_version_by_alias(MODEL_NAME, ALIAS)
    run = _client(paths).get_run(version.run_id)
    page = for_version(paths, None, "odoolake demo --as-of 2026-11-03", "the test lake")
    method = version.tags["method"]
    assert f"**Champion: `{method}`** (version {version.version})" in page
    assert f"| **{method}** | {run.data.metrics[f'{method}_mae']:,.0f} |" in page
    assert version.tags["decision"] in page and "odoolake demo --as-of 2026-11-03" in page
    assert "| RIM | " in page and "2026-11 | 2026-12 | 2027-01" in page


def test_scoring_without_a_champion_says_what_to_run(tmp_path, spark):
    from odoolake.config import WorkspacePaths

    with pytest.raises(history.ForecastDataError, match=r"train one first \(`odoolake ml train`"):
        score(spark, WorkspacePaths.from_env(tmp_path))


def test_the_history_ends_with_the_last_closed_month(spark, tmp_path):
    """An Odoo extract taken on 3 November holds a few days of November: as the history's last month it was learned
    from as a whole month (1,500 against about 300,000) and the forecast started at December, skipping the
    November schedule. Months not over by today, and bills dated ahead, are left out."""
    from datetime import date

    rows = [("RIM", "2026-09", 300_000.0), ("RIM", "2026-10", 310_000.0), ("RIM", "2026-11", 1_500.0),
            ("RIM", "2026-12", 900.0)]
    spark.createDataFrame(rows, "agency string, period string, withholding_tax double").write.format(
        "delta").mode("overwrite").saveAsTable("default.features_on_the_3rd")
    data = history.load(spark, "default.features_on_the_3rd", today=date(2026, 11, 3))
    assert data.periods == ["2026-09", "2026-10"]
    assert history.load(spark, "default.features_on_the_3rd", today=date(2026, 12, 1)).last == "2026-11"
    with pytest.raises(history.ForecastDataError, match=r"holds only months not over yet \(2026-09 on, today is "
                                                        r"01 Sep 2026\)"):
        history.load(spark, "default.features_on_the_3rd", today=date(2026, 9, 1))
