"""The forecasting methods compared in the backtest.

Each is a function of the history known at the forecast date (every agency's closed months, up to the origin)
that returns the next ``horizon`` months' median forecast per agency, never negative. Nothing else is seen: no
month after the origin, no other column of that month.

Baselines (what a clerk could do with a spreadsheet):
- ``naive``: last month again;
- ``seasonal_naive``: the same month last year;
- ``median_12``: the median of the last twelve months (robust to a one-off contract).

Models:
- ``ets``: exponential smoothing (statsmodels) on log1p of the history, damped additive trend, additive
  monthly seasonality once two years are known;
- ``theta``: the Theta method (statsmodels) on log1p, deseasonalised once two years are known;
- ``gbm``: one gradient-boosting model for all agencies (scikit-learn ``GradientBoostingRegressor``, depth-2
  trees, absolute-error loss, so it predicts a median) on the calendar month, Holy Week, the horizon, the same
  month last year, last month and the year-on-year growth, all on log1p relative to the agency's level (the
  mean of its last twelve months), so agencies of every size teach it the same calendar.

The models see the history with one-off spikes capped (:func:`cap_one_offs`): a contract that doubled one month
is not a pattern to repeat. The baselines see it as it is. Heavy libraries are imported inside the functions:
the CLI and the serving path never load them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from odoolake.ml.calendar import is_holy_week_month, shift

SEASON = 12
SEASONAL_MIN_MONTHS = 2 * SEASON  # two full years before the seasonal models use a seasonal component
ONE_OFF_CAP = 2.5  # a month above this multiple of its trailing 12-month median is capped there for the models


@dataclass(frozen=True)
class Candidate:
    name: str
    baseline: bool
    forecast: Callable[[pd.DataFrame, int, int], pd.DataFrame]  # (history, horizon, seed) -> horizon x agencies
    about: str


def _frame(values: np.ndarray, history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    index = pd.Index(range(1, horizon + 1), name="horizon")
    return pd.DataFrame(np.clip(np.nan_to_num(values, nan=0.0), 0.0, None), index=index,
                        columns=history.columns)


def naive(history: pd.DataFrame, horizon: int, seed: int = 0) -> pd.DataFrame:
    return _frame(np.tile(history.iloc[-1].to_numpy(), (horizon, 1)), history, horizon)


def seasonal_naive(history: pd.DataFrame, horizon: int, seed: int = 0) -> pd.DataFrame:
    """The same month a year earlier; last month's value where the history is shorter than that."""
    n = len(history)
    rows = [history.iloc[n - SEASON + h - 1].to_numpy() if n - SEASON + h - 1 >= 0 else history.iloc[-1].to_numpy()
            for h in range(1, horizon + 1)]
    return _frame(np.array(rows), history, horizon)


def median_12(history: pd.DataFrame, horizon: int, seed: int = 0) -> pd.DataFrame:
    return _frame(np.tile(history.iloc[-SEASON:].median().to_numpy(), (horizon, 1)), history, horizon)


def cap_one_offs(history: pd.DataFrame) -> pd.DataFrame:
    """Each month capped at ``ONE_OFF_CAP`` times the median of the twelve months before it (and floored at 0)."""
    trailing = history.rolling(SEASON, min_periods=3).median().shift(1)
    cap = (trailing * ONE_OFF_CAP).where(trailing > 0)
    return history.clip(lower=0.0).where(cap.isna() | (history <= cap), cap)


def _log_history(history: pd.DataFrame) -> pd.DataFrame:
    return np.log1p(cap_one_offs(history))


def ets(history: pd.DataFrame, horizon: int, seed: int = 0) -> pd.DataFrame:
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    logs = _log_history(history)
    seasonal = len(logs) >= SEASONAL_MIN_MONTHS
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series; the backtest judges the result
        for agency in logs.columns:
            y = logs[agency].to_numpy()
            model = ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal="add" if seasonal else None,
                                         seasonal_periods=SEASON if seasonal else None,
                                         initialization_method="estimated")
            out.append(model.fit().forecast(horizon))
    return _frame(np.expm1(np.array(out).T), history, horizon)


def theta(history: pd.DataFrame, horizon: int, seed: int = 0) -> pd.DataFrame:
    import warnings

    from statsmodels.tsa.forecasting.theta import ThetaModel

    logs = _log_history(history)
    seasonal = len(logs) >= SEASONAL_MIN_MONTHS
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for agency in logs.columns:
            model = ThetaModel(logs[agency].to_numpy(), period=SEASON, deseasonalize=seasonal, method="additive")
            out.append(np.asarray(model.fit().forecast(horizon)))
    return _frame(np.expm1(np.array(out).T), history, horizon)


GBM_FEATURES = ["horizon", "month", "holy_week", "seasonal_lag", "last", "growth"]
_LEVEL, _AGENCY = len(GBM_FEATURES), len(GBM_FEATURES) + 1  # columns after the features; the target is last


def _gbm_rows(logs: np.ndarray, periods: list[str], origin: int, horizons: range, with_target: bool) -> list[list]:
    """One row per agency and horizon at ``origin`` (an index into ``periods``), all on the log1p scale and
    relative to the agency's level (mean of its last twelve months), so one model serves agencies of any size."""
    rows: list[list] = []
    n = logs.shape[0]
    if origin < SEASON - 1:
        return rows
    level = logs[origin - SEASON + 1:origin + 1].mean(axis=0)
    growth = (level - logs[origin - 2 * SEASON + 1:origin - SEASON + 1].mean(axis=0) if origin >= 2 * SEASON - 1
              else np.zeros(logs.shape[1]))  # unknown before two years: none
    for h in horizons:
        target = origin + h
        if with_target and target >= n:
            continue
        period = shift(periods[origin], h)
        year, month = int(period[:4]), int(period[5:7])
        for a in range(logs.shape[1]):
            rows.append([h, month, float(is_holy_week_month(year, month)), logs[target - SEASON, a] - level[a],
                         logs[origin, a] - level[a], growth[a] * (h + (SEASON - 1) / 2) / SEASON, level[a], a,
                         logs[target, a] - level[a] if with_target else np.nan])
    return rows


def gbm(history: pd.DataFrame, horizon: int, seed: int = 0) -> pd.DataFrame:
    from sklearn.ensemble import GradientBoostingRegressor

    logs = _log_history(history).to_numpy()
    periods = list(history.index)
    n = len(periods)
    train = np.array([row for origin in range(SEASON - 1, n - 1)
                      for row in _gbm_rows(logs, periods, origin, range(1, horizon + 1), True)])
    ahead = np.array(_gbm_rows(logs, periods, n - 1, range(1, horizon + 1), False))
    if len(train) < 4 * len(history.columns) or not len(ahead):  # too little history for a model: the last level
        return _frame(np.expm1(np.tile(logs[-SEASON:].mean(axis=0), (horizon, 1))), history, horizon)
    width = len(GBM_FEATURES)
    model = GradientBoostingRegressor(loss="absolute_error", n_estimators=80, max_depth=2, learning_rate=0.05,
                                      subsample=0.8, random_state=seed)
    model.fit(train[:, :width], train[:, -1])
    predicted = model.predict(ahead[:, :width]) + ahead[:, _LEVEL]  # back from "relative to the level"
    out = np.zeros((horizon, logs.shape[1]))
    for row, value in zip(ahead, predicted, strict=True):
        out[int(row[0]) - 1, int(row[_AGENCY])] = np.expm1(value)
    return _frame(out, history, horizon)


CANDIDATES: dict[str, Candidate] = {c.name: c for c in (
    Candidate("naive", True, naive, "last month again"),
    Candidate("seasonal_naive", True, seasonal_naive, "the same month last year"),
    Candidate("median_12", True, median_12, "median of the last 12 months"),
    Candidate("ets", False, ets, "exponential smoothing on log1p, damped trend, monthly seasonality (statsmodels)"),
    Candidate("theta", False, theta, "Theta method on log1p, deseasonalised (statsmodels)"),
    Candidate("gbm", False, gbm, "one gradient-boosting model for all agencies on lags and calendar (scikit-learn)"),
)}
BASELINES = tuple(name for name, c in CANDIDATES.items() if c.baseline)
# ETS costs about 50 ms a fit (one per agency and origin), 5-10 s for a backtest on a busy laptop: it runs when
# asked for (``--candidates``), not in the month-end job, whose training must take seconds.
DEFAULT_CANDIDATES = ("naive", "seasonal_naive", "median_12", "theta", "gbm")
