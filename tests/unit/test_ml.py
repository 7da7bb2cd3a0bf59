"""The forecaster's pure parts: time split, baseline, metrics and the promotion rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from odoolake.ml.candidates import SeasonalNaive
from odoolake.ml.dataset import ForecastDataError, time_split
from odoolake.ml.metrics import evaluate
from odoolake.ml.train import promotion


def _features(months: int, agencies=("RIM", "BOM")) -> pd.DataFrame:
    rows = []
    for a in agencies:
        for i in range(months):
            period = f"{2024 + i // 12}-{i % 12 + 1:02d}"
            rows.append({"agency": a, "period": period, "withholding_tax": 100.0 + i,
                         "prev_month_wht": None if i < 1 else 99.0 + i,
                         "prev_year_wht": None if i < 12 else 88.0 + i, "income_tax": 5.0, "vat": 50.0})
    return pd.DataFrame(rows).astype({c: "float64" for c in ("prev_month_wht", "prev_year_wht")})


def test_holdout_is_the_latest_months_and_training_is_strictly_earlier():
    split = time_split(_features(24), test_months=3)
    assert split.test_periods == ["2025-10", "2025-11", "2025-12"]
    assert max(split.train_periods) < min(split.test_periods)
    assert split.train_periods[0] == "2025-01"  # the first twelve months have no same-month-last-year lag
    assert split.train[["prev_year_wht", "prev_month_wht"]].notna().all().all()
    assert len(split.test) == 3 * 2


def test_too_little_history_is_refused_with_the_months_needed():
    with pytest.raises(ForecastDataError, match=r"Load at least 21 months"):
        time_split(_features(15), test_months=3)
    with pytest.raises(ForecastDataError, match="test_months must be at least 1"):
        time_split(_features(24), test_months=0)


def test_seasonal_naive_uses_last_year_and_falls_back_to_last_month():
    x = pd.DataFrame({"prev_month_wht": [10.0, 20.0], "prev_year_wht": [7.0, np.nan], "income_tax": [0, 0],
                      "vat": [0, 0]})
    assert list(SeasonalNaive().fit(x).predict(x)) == [7.0, 20.0]


def test_mape_skips_zero_actuals():
    m = evaluate([0.0, 100.0, 200.0], [5.0, 110.0, 180.0])
    assert m["mape"] == pytest.approx((0.1 + 0.1) / 2)
    assert m["mae"] == pytest.approx(35 / 3)


@pytest.mark.parametrize(("mae", "baseline", "champion", "champion_mae", "promoted", "words"), [
    (50.0, 100.0, None, None, True, "first version to beat the naive baseline"),
    (120.0, 100.0, None, None, False, "does not beat the seasonal naive baseline"),
    (50.0, 100.0, "2", 60.0, True, "vs champion v2 60.00"),
    (60.0, 100.0, "2", 60.0, False, "kept out"),  # a tie keeps the champion
    (100.0, 100.0, "2", 150.0, False, "does not beat the seasonal naive baseline"),
])
def test_promotion_rule(mae, baseline, champion, champion_mae, promoted, words):
    got, why = promotion(mae, baseline, champion, champion_mae)
    assert got is promoted
    assert words in why
