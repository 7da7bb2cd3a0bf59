"""The models compared on the holdout.

- ``seasonal_naive``: last year's same month, the baseline every forecast must beat.
- ``random_forest``: the seed's ``RandomForestRegressor(n_estimators=100, max_depth=10)``.
- ``ridge``: standardised ridge regression with the penalty chosen by leave-one-out. With a few dozen
  agency-months a low-variance linear model is the better-justified choice: withholding scales with the
  purchases behind input VAT and with last year's level, and unlike a forest it extrapolates when an
  agency grows past anything seen in training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class SeasonalNaive(RegressorMixin, BaseEstimator):
    """Predict the same month last year; fall back to last month where that is missing."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> SeasonalNaive:
        self.is_fitted_ = True
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        last_year = X["prev_year_wht"].to_numpy(dtype="float64")
        last_month = X["prev_month_wht"].to_numpy(dtype="float64")
        return np.where(np.isnan(last_year), last_month, last_year)


def seasonal_naive(seed: int) -> SeasonalNaive:
    return SeasonalNaive()


def random_forest(seed: int) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=100, max_depth=10, random_state=seed, n_jobs=1)


def ridge(seed: int):
    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 25)))


BASELINE = "seasonal_naive"
CANDIDATES: dict[str, Callable[[int], Any]] = {
    BASELINE: seasonal_naive,
    "random_forest": random_forest,
    "ridge": ridge,
}


def params_of(model: Any) -> dict[str, Any]:
    """The parameters worth logging: the estimator's own, flattened, without nested objects."""
    out: dict[str, Any] = {"estimator": type(model).__name__}
    for key, value in model.get_params(deep=True).items():
        if isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
    return out
