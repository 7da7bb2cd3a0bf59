"""Holdout metrics. MAPE skips months whose actual withholding is zero (it is undefined there)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score


def evaluate(actual, predicted) -> dict[str, float]:
    y = np.asarray(actual, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    nonzero = y != 0
    mape = float(np.mean(np.abs((y[nonzero] - p[nonzero]) / y[nonzero]))) if nonzero.any() else float("nan")
    return {"r2": float(r2_score(y, p)) if len(y) > 1 else float("nan"),
            "mae": float(mean_absolute_error(y, p)),
            "mape": mape}
