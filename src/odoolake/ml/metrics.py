"""Forecast accuracy. MAPE skips months whose actual is zero (undefined there); sMAPE counts them."""

from __future__ import annotations

import numpy as np


def evaluate(actual, predicted, low=None, high=None) -> dict[str, float]:
    """MAE, MAPE, sMAPE and bias (mean of forecast − actual: positive means over-forecast); with an interval,
    its coverage (share of actuals inside [low, high]) and mean width, over the rows that have one."""
    y = np.asarray(actual, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    nonzero = y != 0
    denominator = np.abs(y) + np.abs(p)
    out = {
        "mae": float(np.mean(np.abs(p - y))) if len(y) else float("nan"),
        "mape": float(np.mean(np.abs((p[nonzero] - y[nonzero]) / y[nonzero]))) if nonzero.any() else float("nan"),
        "smape": float(np.mean(np.where(denominator > 0, 2 * np.abs(p - y) / np.where(denominator > 0, denominator, 1),
                                        0.0))) if len(y) else float("nan"),
        "bias": float(np.mean(p - y)) if len(y) else float("nan"),
    }
    if low is not None and high is not None:
        lo = np.asarray(low, dtype="float64")
        hi = np.asarray(high, dtype="float64")
        has = ~(np.isnan(lo) | np.isnan(hi))
        out["coverage"] = float(np.mean((y[has] >= lo[has]) & (y[has] <= hi[has]))) if has.any() else float("nan")
        out["width"] = float(np.mean(hi[has] - lo[has])) if has.any() else float("nan")
        out["interval_rows"] = float(has.sum())
    return out
