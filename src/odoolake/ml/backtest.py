"""Rolling-origin backtest, intervals from past errors, and the honest choice of a champion.

**Backtest.** For each of the last ``origins`` months (the origin: the last closed month at a simulated forecast
date), every candidate forecasts the next ``horizon`` months from the history up to the origin only; each
forecast whose month is already known is scored.

**Intervals.** p10/p90 come from the candidate's own past errors on the log1p scale, per horizon: the 10th and
90th percentiles of ``log1p(actual) − log1p(forecast)`` added to the forecast's log1p, so a band is never below
zero and widens for larger agencies in proportion. In the backtest a forecast's band uses only errors of
earlier forecasts whose month had closed by its origin (at least ``MIN_CALIBRATION`` of them), so the coverage
reported is what a user would have seen; the future's band uses every backtest error.

**Choice.** The loss is the absolute error in pesos (what finance plans with). The best model (lowest backtest
MAE among the non-baselines) becomes the champion only if it beats the best baseline and a paired moving-block
bootstrap over origins (blocks of ``horizon`` consecutive origins, since neighbouring origins share target
months) says the improvement is not chance: one-sided p-value below ``alpha`` divided by the number of models
compared (Bonferroni, since the best of several is tested). Otherwise the best baseline is the champion.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from odoolake.ml.calendar import shift
from odoolake.ml.candidates import CANDIDATES, DEFAULT_CANDIDATES
from odoolake.ml.history import ForecastDataError, History
from odoolake.ml.metrics import evaluate

MIN_CALIBRATION = 16  # past errors needed before a backtest forecast gets an interval
QUANTILES = (0.1, 0.9)
MIN_ORIGINS = 12
MIN_FIRST_ORIGIN_MONTHS = 12  # the first origin needs a year of history (the seasonal naive looks back 12 months)


@dataclass(frozen=True)
class BacktestConfig:
    horizon: int = 3
    origins: int = MIN_ORIGINS
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    alpha: float = 0.05
    bootstrap: int = 2000
    seed: int = 42

    def validate(self) -> None:
        if not 1 <= self.horizon <= 12:
            raise ForecastDataError(f"horizon must be 1 to 12 months, got {self.horizon}")
        if self.origins < MIN_ORIGINS:
            raise ForecastDataError(f"origins must be at least {MIN_ORIGINS}, got {self.origins}")
        unknown = [c for c in self.candidates if c not in CANDIDATES]
        if unknown:
            raise ForecastDataError(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
        if not any(CANDIDATES[c].baseline for c in self.candidates):
            raise ForecastDataError("candidates must include at least one baseline (naive, seasonal_naive, median_12)")

    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def months_needed(self) -> int:
        return MIN_FIRST_ORIGIN_MONTHS + self.origins


@dataclass
class Selection:
    champion: str
    best_baseline: str
    best_model: str | None
    improvement: float  # best model's MAE relative to the best baseline's, minus 1 (negative is better)
    p_value: float | None
    threshold: float
    reason: str


@dataclass
class Backtest:
    config: BacktestConfig
    rows: pd.DataFrame  # candidate, agency, origin, horizon, period, actual, p50, p10, p90
    metrics: dict[str, dict[str, float]]
    selection: Selection
    log_errors: dict[str, dict[int, np.ndarray]] = field(repr=False, default_factory=dict)

    def champion_rows(self) -> pd.DataFrame:
        return self.rows[self.rows["candidate"] == self.selection.champion].reset_index(drop=True)


def run(history: History, config: BacktestConfig, progress=None) -> Backtest:
    config.validate()
    wide = history.wide
    n = len(wide)
    if n < config.months_needed:
        raise ForecastDataError(
            f"Not enough history to train: {n} month(s) in gold.bir_features, but {config.origins} origins "
            f"after a first year need {config.months_needed}. Load more months of Odoo data or pass fewer origins "
            f"(at least {MIN_ORIGINS}).")
    origin_indices = list(range(n - 1 - config.origins, n - 1))
    records = []
    for step, t in enumerate(origin_indices, start=1):
        known = wide.iloc[:t + 1]
        for name in config.candidates:
            forecast = CANDIDATES[name].forecast(known, config.horizon, config.seed)
            for h in range(1, config.horizon + 1):
                if t + h >= n:
                    break
                actual = wide.iloc[t + h]
                for agency in wide.columns:
                    records.append((name, agency, wide.index[t], h, wide.index[t + h], float(actual[agency]),
                                    float(forecast.loc[h, agency])))
        if progress is not None:
            progress(step, len(origin_indices))
    rows = pd.DataFrame(records, columns=["candidate", "agency", "origin", "horizon", "period", "actual", "p50"])
    rows = add_backtest_intervals(rows)
    metrics = {name: evaluate(g["actual"], g["p50"], g["p10"], g["p90"]) for name, g in rows.groupby("candidate")}
    metrics = {name: metrics[name] for name in config.candidates}
    selection = select(rows, config)
    errors = {name: {h: log_errors(g[g["horizon"] == h]) for h in range(1, config.horizon + 1)}
              for name, g in rows.groupby("candidate")}
    return Backtest(config, rows, metrics, selection, errors)


def log_errors(rows: pd.DataFrame) -> np.ndarray:
    return (np.log1p(rows["actual"].clip(lower=0)) - np.log1p(rows["p50"].clip(lower=0))).to_numpy()


def band(p50, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p10 and p90 around ``p50`` from past log1p errors (never below zero)."""
    lo_q, hi_q = np.quantile(errors, QUANTILES)
    base = np.log1p(np.clip(np.asarray(p50, dtype="float64"), 0, None))
    return np.clip(np.expm1(base + lo_q), 0, None), np.clip(np.expm1(base + hi_q), 0, None)


def add_backtest_intervals(rows: pd.DataFrame) -> pd.DataFrame:
    """p10/p90 for each backtest forecast from errors known at its origin (see the module doc)."""
    out = rows.copy()
    out["p10"] = np.nan
    out["p90"] = np.nan
    for _, group in out.groupby(["candidate", "horizon"]):
        for origin, at in group.groupby("origin"):
            past = group[group["period"] <= origin]
            if len(past) < MIN_CALIBRATION:
                continue
            lo, hi = band(at["p50"], log_errors(past))
            out.loc[at.index, "p10"] = lo
            out.loc[at.index, "p90"] = hi
    return out


def per_origin_loss(rows: pd.DataFrame, candidate: str) -> pd.Series:
    mine = rows[rows["candidate"] == candidate]
    return (mine["p50"] - mine["actual"]).abs().groupby(mine["origin"]).mean().sort_index()


def block_bootstrap_p(diff: np.ndarray, block: int, draws: int, seed: int) -> float:
    """One-sided p-value that the mean of ``diff`` (model − baseline loss per origin) is not below zero."""
    n = len(diff)
    block = max(1, min(block, n))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(draws, -(-n // block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(draws, -1)[:, :n]
    means = diff[idx].mean(axis=1)
    centred = means - diff.mean()  # the null: no difference, same spread
    return float((np.sum(centred <= diff.mean()) + 1) / (draws + 1)) if diff.mean() < 0 else 1.0


def select(rows: pd.DataFrame, config: BacktestConfig) -> Selection:
    mae = {name: float((g["p50"] - g["actual"]).abs().mean()) for name, g in rows.groupby("candidate")}
    baselines = [c for c in config.candidates if CANDIDATES[c].baseline]
    models = [c for c in config.candidates if not CANDIDATES[c].baseline]
    best_baseline = min(baselines, key=lambda c: mae[c])
    threshold = config.alpha / max(1, len(models))
    if not models:
        return Selection(best_baseline, best_baseline, None, 0.0, None, threshold,
                         f"only baselines were compared; {best_baseline} has the lowest backtest MAE")
    best_model = min(models, key=lambda c: mae[c])
    improvement = mae[best_model] / mae[best_baseline] - 1 if mae[best_baseline] else 0.0
    diff = (per_origin_loss(rows, best_model) - per_origin_loss(rows, best_baseline)).to_numpy()
    p_value = block_bootstrap_p(diff, config.horizon, config.bootstrap, config.seed)
    words = (f"{best_model} MAE {mae[best_model]:,.0f} vs best baseline {best_baseline} {mae[best_baseline]:,.0f} "
             f"({improvement:+.1%}); paired block bootstrap over {len(diff)} origins p = {p_value:.4f} "
             f"(needs < {threshold:.4f} = {config.alpha:g}/{len(models)} models)")
    if mae[best_model] < mae[best_baseline] and p_value < threshold:
        return Selection(best_model, best_baseline, best_model, improvement, p_value, threshold,
                         f"{best_model} is the champion: {words}")
    return Selection(best_baseline, best_baseline, best_model, improvement, p_value, threshold,
                     f"{best_baseline} (a baseline) is the champion, no model beat it beyond chance: {words}")


def future(history: History, backtest: Backtest) -> pd.DataFrame:
    """The champion's forecast for the months after the history, with p10/p90 from all its backtest errors."""
    config = backtest.config
    name = backtest.selection.champion
    forecast = CANDIDATES[name].forecast(history.wide, config.horizon, config.seed)
    rows = []
    for h in range(1, config.horizon + 1):
        p50 = forecast.loc[h].to_numpy()
        errors = backtest.log_errors[name][h]
        lo, hi = band(p50, errors) if len(errors) else (np.full_like(p50, np.nan), np.full_like(p50, np.nan))
        for agency, mid, low, high in zip(history.wide.columns, p50, lo, hi, strict=True):
            rows.append({"agency": agency, "origin": history.last, "horizon": h, "period": shift(history.last, h),
                         "p10": round(float(low), 2), "p50": round(float(mid), 2), "p90": round(float(high), 2)})
    return pd.DataFrame(rows)
