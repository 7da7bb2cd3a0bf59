"""The forecaster's pure parts, against hand-worked values and synthetic series with known structure."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from odoolake.datagen import amounts
from odoolake.ml import backtest, candidates
from odoolake.ml.backtest import BacktestConfig, band, block_bootstrap_p, select
from odoolake.ml.calendar import is_holy_week_month, parse_period, shift
from odoolake.ml.history import ForecastDataError, History, from_long
from odoolake.ml.metrics import evaluate
from odoolake.ml.served import ServingInputError, answer

AGENCIES = ("RIM", "CKVC", "BOM", "JPAL", "JLI", "JAP", "LAS", "RMQB")


def _periods(n: int, first: str = "2023-12") -> list[str]:
    return [shift(first, i) for i in range(n)]


def _structured(n: int = 36, noise: float = 0.08, seed: int = 1) -> History:
    """Monthly EWT following the generator's own structure (level, growth, season, Holy Week) times noise."""
    rng = np.random.default_rng(seed)
    periods = _periods(n)
    data = {}
    for i, agency in enumerate(AGENCIES):
        profile = amounts.profile(agency, i, 42)
        data[agency] = [300_000 * amounts.structure(profile, date.fromisoformat(p + "-01")) * math.exp(
            rng.normal(0, noise)) for p in periods]
    return History(pd.DataFrame(data, index=pd.Index(periods, name="period")))


def _random_walk(n: int = 36, seed: int = 2) -> History:
    """Each month is last month times noise: nothing beats "last month again" but chance."""
    rng = np.random.default_rng(seed)
    periods = _periods(n)
    return History(pd.DataFrame({a: 300_000 * np.exp(np.cumsum(rng.normal(0, 0.15, n))) for a in AGENCIES},
                                index=pd.Index(periods, name="period")))


# -- calendar and history -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("year", "month"), [(2024, 3), (2025, 4), (2026, 4), (2027, 3)])
def test_holy_week_month_follows_easter(year, month):
    # Easter Sunday: 2024-03-31, 2025-04-20, 2026-04-05, 2027-03-28 (Maundy Thursday three days before)
    assert is_holy_week_month(year, month)
    assert not is_holy_week_month(year, 7 - month)  # the other of March/April


def test_periods_parse_as_odoo_sends_them():
    assert parse_period("2026-12") == (2026, 12)
    assert parse_period("2026-12-01") == (2026, 12)
    for bad in ("2026-13", "Dec 2026", "202612", "", None, 202612):
        assert parse_period(bad) is None
    assert shift("2026-11", 3) == "2027-02" and shift("2026-01", -1) == "2025-12"


def test_history_is_dense_float_from_decimal_money_and_fingerprinted_by_content():
    long = pd.DataFrame({"agency": ["RIM", "RIM", "BOM"], "period": ["2026-01", "2026-03", "2026-02"],
                         "withholding_tax": [Decimal("100.50"), Decimal("300.25"), Decimal("7.00")]})
    h = from_long(long, table_version=5)
    assert h.periods == ["2026-01", "2026-02", "2026-03"] and h.agencies == ["BOM", "RIM"]
    assert h.wide.dtypes.eq("float64").all()
    assert h.wide.loc["2026-02", "RIM"] == 0.0 and h.wide.loc["2026-03", "RIM"] == 300.25
    same = from_long(long.assign(withholding_tax=[100.5, 300.25, 7.0]), table_version=9)
    assert same.fingerprint() == h.fingerprint()  # the value, not the Delta version, identifies the data
    changed = from_long(long.assign(withholding_tax=[100.51, 300.25, 7.0]))
    assert changed.fingerprint() != h.fingerprint()
    with pytest.raises(ForecastDataError, match="empty"):
        from_long(long.iloc[:0])


# -- baselines, capping, models ----------------------------------------------------------------------------


def test_baselines_by_hand():
    periods = _periods(14, "2025-01")
    history = pd.DataFrame({"A": [float(10 * (i + 1)) for i in range(14)]}, index=periods)  # 10, 20, ..., 140
    assert list(candidates.naive(history, 3)["A"]) == [140.0, 140.0, 140.0]
    assert list(candidates.seasonal_naive(history, 3)["A"]) == [30.0, 40.0, 50.0]  # 2026-03..05 <- 2025-03..05
    assert list(candidates.median_12(history, 2)["A"]) == [85.0, 85.0]  # median of 30..140


def test_one_off_spikes_are_capped_for_the_models_only():
    history = pd.DataFrame({"A": [100.0] * 12 + [1_000.0] + [100.0, -5.0]}, index=_periods(15))
    capped = candidates.cap_one_offs(history)["A"]
    assert capped.iloc[12] == pytest.approx(100.0 * candidates.ONE_OFF_CAP)
    assert capped.iloc[13] == 100.0 and capped.iloc[14] == 0.0 and capped.iloc[0] == 100.0
    assert candidates.naive(history, 1)["A"].iloc[0] == 0.0  # a net refund month is forecast as zero, not negative


@pytest.mark.parametrize("name", ["theta", "ets", "gbm"])
def test_models_forecast_every_agency_and_never_below_zero(name):
    history = _structured(30).wide
    history.iloc[-1, 0] = -50_000.0  # a month of net refunds
    out = candidates.CANDIDATES[name].forecast(history, 3, 0)
    assert list(out.index) == [1, 2, 3] and list(out.columns) == list(AGENCIES)
    assert (out.to_numpy() >= 0).all() and np.isfinite(out.to_numpy()).all()


def test_backtest_uses_only_months_up_to_each_origin():
    h = _structured(30)
    changed = h.wide.copy()
    changed.iloc[-1] *= 5  # only the last month differs
    config = BacktestConfig(origins=12, candidates=("seasonal_naive", "median_12", "gbm"))
    a = backtest.run(h, config).rows
    b = backtest.run(History(changed), config).rows
    earlier = a["origin"] < h.last
    assert earlier.all()  # no origin is the last month: nothing would be left to score
    assert np.allclose(a["p50"], b["p50"])  # no forecast saw the month after its origin
    assert (a["period"] > a["origin"]).all()
    assert sorted(a["origin"].unique()) == h.periods[-13:-1]
    assert set(a["horizon"]) == {1, 2, 3} and (a.groupby("candidate").size() == (12 + 11 + 10) * 8).all()


def test_too_little_history_says_how_much_is_needed():
    with pytest.raises(ForecastDataError, match=r"Not enough history to train: 20 month\(s\).*need 24"):
        backtest.run(_structured(20), BacktestConfig(origins=12))
    with pytest.raises(ForecastDataError, match="origins must be at least 12"):
        BacktestConfig(origins=6).validate()
    with pytest.raises(ForecastDataError, match="at least one baseline"):
        BacktestConfig(candidates=("gbm",)).validate()
    with pytest.raises(ForecastDataError, match="unknown candidate"):
        BacktestConfig(candidates=("naive", "prophet")).validate()


# -- intervals ------------------------------------------------------------------------------------------------


def test_band_adds_past_log_errors_and_never_goes_below_zero():
    errors = np.log(np.array([0.5, 0.8, 1.0, 1.0, 1.25, 2.0]))  # actual/forecast ratios (log1p ~ log here)
    lo, hi = band([1_000_000.0, 0.0], errors)
    q10, q90 = np.quantile(errors, [0.1, 0.9])
    assert lo[0] == pytest.approx(np.expm1(np.log1p(1_000_000) + q10))
    assert hi[0] == pytest.approx(np.expm1(np.log1p(1_000_000) + q90))
    assert lo[1] == 0.0 and hi[1] >= 0.0


def test_backtest_intervals_use_only_errors_known_at_their_origin():
    h = _structured(30)
    rows = backtest.run(h, BacktestConfig(origins=12, candidates=("seasonal_naive", "median_12"))).rows
    one = rows[(rows["candidate"] == "median_12") & (rows["horizon"] == 1)]
    first, second, third = sorted(one["origin"].unique())[:3]
    assert one[one["origin"] == first]["p10"].isna().all()  # no closed forecast yet at the first origin
    assert one[one["origin"] == second]["p10"].isna().all()  # 8 errors known: fewer than MIN_CALIBRATION
    at_third = one[one["origin"] == third]
    known = one[one["period"] <= third]
    assert len(known) == backtest.MIN_CALIBRATION
    lo, hi = band(at_third["p50"], backtest.log_errors(known))
    assert np.allclose(at_third["p10"], lo) and np.allclose(at_third["p90"], hi)


# -- metrics and the choice -----------------------------------------------------------------------------------


def test_metrics_by_hand():
    m = evaluate([0.0, 100.0, 200.0], [5.0, 110.0, 180.0], low=[0.0, 90.0, 150.0], high=[10.0, 120.0, 190.0])
    assert m["mape"] == pytest.approx((0.1 + 0.1) / 2)  # the zero actual is skipped
    assert m["mae"] == pytest.approx(35 / 3)
    assert m["smape"] == pytest.approx((2 * 5 / 5 + 2 * 10 / 210 + 2 * 20 / 380) / 3)
    assert m["bias"] == pytest.approx((5 + 10 - 20) / 3)  # negative: under-forecast
    assert m["coverage"] == pytest.approx(2 / 3) and m["width"] == pytest.approx(80 / 3)  # 200 is above 190


def test_block_bootstrap_p_value():
    rng = np.random.default_rng(0)
    clearly_better = -10.0 + rng.normal(0, 1, 12)
    assert block_bootstrap_p(clearly_better, 3, 2000, 1) < 0.01
    assert block_bootstrap_p(rng.normal(0, 1, 12) + 0.5, 3, 2000, 1) == 1.0  # worse on average: never significant
    noisy = np.array([-5.0, 4.0, -6.0, 5.0, -4.0, 6.0, -5.0, 4.0, -6.0, 5.0, -4.0, 5.5])
    assert block_bootstrap_p(noisy, 3, 2000, 1) > 0.2


def _rows(model_scale: float, baseline_scale: float, jitter: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for o in _periods(12, "2025-11"):
        for name, scale in (("gbm", model_scale), ("seasonal_naive", baseline_scale), ("naive", baseline_scale * 2)):
            for a in AGENCIES:
                error = scale * (1 + jitter * rng.normal())
                out.append({"candidate": name, "agency": a, "origin": o, "horizon": 1, "period": shift(o, 1),
                            "actual": 1000.0, "p50": 1000.0 + error})
    return pd.DataFrame(out)


def test_champion_is_the_model_only_when_it_beats_the_best_baseline_beyond_chance():
    config = BacktestConfig(candidates=("naive", "seasonal_naive", "gbm"))
    won = select(_rows(60.0, 100.0, 0.05), config)
    assert won.champion == "gbm" and won.best_baseline == "seasonal_naive" and won.p_value < 0.05
    assert "gbm is the champion" in won.reason
    tie = select(_rows(99.0, 100.0, 0.5), config)  # 1% better on average, well within the noise
    assert tie.champion == "seasonal_naive" and tie.best_model == "gbm"
    assert "(a baseline) is the champion" in tie.reason
    worse = select(_rows(120.0, 100.0, 0.05), config)
    assert worse.champion == "seasonal_naive" and worse.p_value == 1.0
    assert won.threshold == pytest.approx(0.05)  # one model compared; with k models alpha/k (Bonferroni)


def test_on_structured_data_the_global_model_beats_every_baseline():
    result = backtest.run(_structured(36), BacktestConfig(origins=12, candidates=("naive", "seasonal_naive",
                                                                                 "median_12", "gbm")))
    assert result.selection.champion == "gbm", result.selection.reason
    assert result.metrics["gbm"]["mae"] < 0.8 * min(result.metrics[b]["mae"] for b in ("naive", "seasonal_naive",
                                                                                        "median_12"))


@pytest.mark.parametrize("seed", [2, 3])
def test_on_a_random_walk_no_model_is_chosen(seed):
    result = backtest.run(_random_walk(36, seed), BacktestConfig(origins=12, candidates=(
        "naive", "seasonal_naive", "median_12", "gbm")))
    assert result.selection.champion == "naive", result.selection.reason


def test_future_forecast_has_intervals_around_the_median_and_no_negatives():
    h = _structured(30)
    result = backtest.run(h, BacktestConfig(origins=12, candidates=("seasonal_naive", "median_12")))
    ahead = backtest.future(h, result)
    assert list(ahead["period"].unique()) == ["2026-06", "2026-07", "2026-08"]
    assert (ahead["origin"] == "2026-05").all() and len(ahead) == 3 * len(AGENCIES)
    assert (ahead["p10"] >= 0).all() and (ahead["p10"] <= ahead["p50"]).all() and (ahead["p50"] <= ahead["p90"]).all()


# -- serving -------------------------------------------------------------------------------------------------


TABLE = {("RIM", "2026-12"): {"agency": "RIM", "period": "2026-12", "p10": 1.0, "p50": 2.0, "p90": 3.0, "horizon": 1,
                              "origin": "2026-11", "method": "gbm"},
         ("RIM", "2027-01"): {"agency": "RIM", "period": "2027-01", "p10": 4.0, "p50": 5.0, "p90": 6.0, "horizon": 2,
                              "origin": "2026-11", "method": "gbm"}}


def test_served_answer_looks_up_agency_and_month():
    got = answer([{"agency": "RIM", "period": "2027-01"}, {"agency": "RIM", "period": "2026-12-01"}], TABLE)
    assert [(r["period"], r["p50"], r["p10"], r["p90"]) for r in got] == [("2027-01", 5.0, 4.0, 6.0),
                                                                          ("2026-12", 2.0, 1.0, 3.0)]


@pytest.mark.parametrize(("row", "field", "words"), [
    ({"agency": None, "period": "2026-12"}, "agency", "agency is missing in row 0"),
    ({"agency": "  ", "period": "2026-12"}, "agency", "agency is missing"),
    ({"agency": "RIM", "period": float("nan")}, "period", "period is missing"),
    ({"agency": "XYZ", "period": "2026-12"}, "agency", "'XYZ' in row 0 is not one this model version forecasts (RIM)"),
    ({"agency": 7, "period": "2026-12"}, "agency", "agency must be text"),
    ({"agency": "RIM", "period": "2026-13"}, "period", "is not a month"),
    ({"agency": "RIM", "period": 202612}, "period", "is not a month"),
    ({"agency": "RIM", "period": "2026-05"}, "period", "outside this model version's forecast horizon (2026-12..2027-01)"),
])
def test_served_answer_refuses_rows_it_cannot_answer_naming_the_field(row, field, words):
    with pytest.raises(ServingInputError, match=None) as refused:
        answer([{"agency": "RIM", "period": "2026-12"}, row][1:], TABLE)
    assert refused.value.field == field and words in str(refused.value)


def test_chart_axis_is_in_pesos():
    from odoolake.ml.charts import pesos

    assert [pesos(v) for v in (0, 850.0, 850_000.0, 1_000_000.0, 1_250_000.0, 12_500_000.0)] == [
        "₱0", "₱850", "₱850k", "₱1M", "₱1.25M", "₱12.5M"]


def test_configuring_mlflow_does_not_leak_the_store_into_child_processes(tmp_path, monkeypatch):
    import os

    from odoolake.config import WorkspacePaths
    from odoolake.ml import tracking

    monkeypatch.setattr(tracking, "_USER_TRACKING_URI", None)
    monkeypatch.setattr(tracking, "_USER_REGISTRY_URI", None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = tracking.configure(WorkspacePaths.from_env(tmp_path))
    import mlflow

    assert mlflow.get_tracking_uri() == config.tracking_uri
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ


# -- generated amounts -----------------------------------------------------------------------------------------


def test_amount_structure_parameters():
    bom = amounts.AGENCY_PROFILES["BOM"]  # fiscal year ends in June
    rim = amounts.AGENCY_PROFILES["RIM"]  # calendar fiscal year
    d = date.fromisoformat
    assert amounts.seasonal_effect(d("2025-12-01"), 12) == pytest.approx(
        amounts.MONTH_EFFECT[12] * amounts.FISCAL_YEAR_END_EFFECT)
    assert amounts.seasonal_effect(d("2025-06-01"), 6) == pytest.approx(amounts.FISCAL_YEAR_END_EFFECT)
    assert amounts.seasonal_effect(d("2025-09-01"), 6) == pytest.approx(amounts.QUARTER_END_EFFECT)
    assert amounts.seasonal_effect(d("2025-04-01"), 12) == pytest.approx(amounts.HOLY_WEEK_EFFECT)  # Easter 2025-04-20
    assert amounts.seasonal_effect(d("2024-03-01"), 12) == pytest.approx(
        amounts.QUARTER_END_EFFECT * amounts.HOLY_WEEK_EFFECT)  # Easter 2024-03-31
    assert amounts.trend(d("2025-01-01"), 0.10) == pytest.approx(1.10)
    assert amounts.structure(rim, d("2025-05-01")) / amounts.structure(bom, d("2025-05-01")) == pytest.approx(
        rim.level / bom.level * (1 + rim.growth) ** (16 / 12) / (1 + bom.growth) ** (16 / 12))
    assert amounts.profile("NEW", 3, 42) == amounts.profile("NEW", 3, 42)  # unlisted agencies: seeded


def test_line_amounts_are_winsorised():
    import random

    rng = random.Random(3)
    values = [amounts.line_amount(rng, 1000.0, 1.0) for _ in range(5000)]
    spread = amounts.LINE_SIGMA_FACTOR * amounts.LINE_SIGMA_CAP
    assert max(values) <= 1000.0 * math.exp(spread) + 0.01 and min(values) >= 1000.0 * math.exp(-spread) - 0.01


def test_the_data_model_page_lists_the_generators_parameters():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "data-model.md").read_text()
    months = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
    for code, p in amounts.AGENCY_PROFILES.items():
        growth = f"{'+' if p.growth >= 0 else '−'}{abs(p.growth):.0%}"
        assert f"| {code} | {p.level:.1f} | {growth} | {months[p.fiscal_year_end - 1]} |" in page, code
    for value in (amounts.MONTH_EFFECT[1], amounts.MONTH_EFFECT[2], amounts.MONTH_EFFECT[12],
                  amounts.QUARTER_END_EFFECT, amounts.FISCAL_YEAR_END_EFFECT, amounts.HOLY_WEEK_EFFECT):
        assert f"| {value:.2f} |" in page
    assert f"lognormal σ {amounts.NOISE_SIGMA:g}" in page and f"{amounts.LARGE_CONTRACT_PROBABILITY:.0%} of" in page


def test_as_of_sets_the_last_month_and_bad_dates_name_the_option():
    import typer

    from odoolake.cli.demo import last_full_month, parse_as_of

    assert last_full_month(parse_as_of("2026-12-01")) == date(2026, 11, 1)
    assert last_full_month(parse_as_of("2027-01-31")) == date(2026, 12, 1)
    assert parse_as_of(None) == date.today()
    with pytest.raises(typer.BadParameter, match="--as-of must be a date YYYY-MM-DD, got '2026-13-01'"):
        parse_as_of("2026-13-01")


def test_a_versions_forecast_file_keeps_every_value_exactly(tmp_path):
    """The table a version is logged with (models from code) reads back value for value: no rounding, ints kept."""
    from types import SimpleNamespace

    import pandas as pd

    from odoolake.ml.served import FORECAST_ARTIFACT, METHOD_CONFIG, ForecastTableModel, write_forecast

    forecast = pd.DataFrame([{"agency": "RIM", "period": "2026-12", "p10": 0.1 + 0.2, "p50": 473108.123456789012,
                              "p90": 1e-12, "horizon": 2, "origin": "2026-10"}])
    model = ForecastTableModel()
    model.load_context(SimpleNamespace(artifacts={FORECAST_ARTIFACT: str(write_forecast(forecast, tmp_path / "f.json"))},
                                       model_config={METHOD_CONFIG: "gbm"}))
    row = model.table[("RIM", "2026-12")]
    assert (row["p10"], row["p50"], row["p90"]) == (0.1 + 0.2, 473108.123456789012, 1e-12)
    assert row["horizon"] == 2 and isinstance(row["horizon"], int) and row["method"] == "gbm"
