"""``docs/forecasting.md``, written from a registered version's training run, so every number in it is recorded.

The page is rebuilt by ``odoolake ml report --file docs/forecasting.md`` after the command the page names;
nothing in it is typed by hand except the prose around the numbers.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from odoolake.ml import backtest, candidates, tracking
from odoolake.ml.train import METRICS

PAGE = """# Forecasting withholding tax

`odoolake.ml` trains `bir_tax_forecaster`: for every agency, the expanded withholding tax (EWT) it will have
to remit for each of the next {horizon} months, as a median forecast with a p10-p90 interval, made from the
months already closed. This page is generated from a recorded training run (see the end); its numbers are that
run's.

## What is forecast, from what

- **Target**: `gold.bir_features.withholding_tax`, the EWT an agency withheld in a month (what its 0619-E or
  1601-EQ remits).
- **Known at the forecast date**: the closed months only (the forecast date is the day after the last one).
  No column of the month being forecast is used: the old model needed that month's VAT and creditable tax, so it
  could only "predict" a month that had closed.
- **Horizon**: the next {horizon} months. Holy Week (which moves between March and April) and the calendar month
  are known ahead and may be used.
- **Never negative**: models work on `log1p` of the amounts and every forecast and bound is clipped at zero.
- **One-off contracts** (a fit-out, a system) are not forecast: for the models, a month above
  {cap:g} times its trailing 12-month median is capped there. Finance adds a known contract by hand.
- **Revisions**: the backtest reads past months as the lake knows them now. At a real forecast date the newest
  closed month still lacks bills posted after the extract (drafts at the cut-off, posted and back-dated later),
  so real one-month-ahead errors can be somewhat larger than the backtest's.

## Candidates

| candidate | kind | what it does |
|---|---|---|
{candidate_rows}

{ets_note}

## How they are judged

- **Rolling-origin backtest**: {origins} origins (the last closed month at a simulated forecast date), every
  agency, horizons 1-{horizon}; each forecast uses only the months up to its origin. Metrics over all those
  forecasts: MAE (PHP), MAPE (months with a non-zero actual), sMAPE, bias (forecast − actual: negative is
  under-forecast), coverage of the p10-p90 interval (80% is the aim) and its mean width.
- **Intervals** come from the candidate's own past errors on the `log1p` scale, per horizon. In the backtest a
  forecast's interval uses only errors of earlier forecasts whose month had closed by its origin (at least
  {min_cal} of them), so the coverage is what a user would have seen; the next months' interval uses all of them.
- **Honest choice**: the best model (lowest MAE) is the champion only if it beats the best baseline and a paired
  moving-block bootstrap over origins ({bootstrap} draws, blocks of {horizon} origins) gives a one-sided p-value
  below {alpha:g} divided by the number of models compared (Bonferroni). Otherwise the best baseline is the
  champion, and this page says so.
- **Registry**: each training registers the champion's forecast as a new version (a pyfunc answering
  `agency` + `period`, logged as code with the forecast table as a JSON artifact, so loading it unpickles nothing;
  see [Serving](#serving)) tagged with its training window, the Delta version and a content
  fingerprint of `gold.bir_features`, the configuration fingerprint and the backtest metrics, then moves the
  `champion` alias to it. The same data and configuration again registers nothing. A run that fails leaves the
  alias where it was. `odoolake ml models` lists the versions with these tags.

## Results

Data: {data_line}. Training window {window}; forecast made after {origin}.

| candidate | MAE (PHP) | MAPE | sMAPE | bias (PHP) | p10-p90 coverage | interval width (PHP) |
|---|---:|---:|---:|---:|---:|---:|
{metric_rows}

**Champion: `{champion}`** (version {version}). {decision}

{verdict}

### Forecast for the next months (version {version}, `{champion}`)

| agency | {month_headers} |
|---|{month_align}
{forecast_rows}

Each cell: median forecast, and the p10-p90 interval below it.

## Where things are

- Runs: experiment `/Shared/Experiments/BIR_Tax_Forecasting` in `$ODOOLAKE_HOME/mlflow/mlflow.db`, artifacts
  under `dbfs:/mlflow/bir_forecasting`: `backtest/forecasts.csv` (every candidate's backtest forecasts),
  `forecast/forecast.csv`, `charts/<agency>.png`. Open them with `odoolake ml ui`.
- `gold.bir_forecast` (written by `odoolake ml score` or the `score_forecast` task): `kind = 'forecast'` rows
  for the coming months (`predicted_wht` = p50, `predicted_wht_p10`, `predicted_wht_p90`, `model_version`),
  and `kind = 'backtest'` rows with the champion method's backtest forecasts beside the actual (`origin`,
  `horizon`, `abs_error`). Charts per agency in `dbfs:/reports/bir_forecast/latest/`: actual, backtest
  forecasts with their band on a shaded span, the next months with their band, peso axis.
- With too little history (fewer than {months_needed} months for {origins} origins) the `train_forecaster` task
  says so and the month-end goes on.

## Serving

The served model takes what Odoo knows: `agency` (the company's code) and `period` (`YYYY-MM`, or a date in
that month), and answers `p10`, `p50`, `p90`, `horizon`, `origin` and `method` per row:

```
POST /serving-endpoints/bir-forecast/invocations
{{"dataframe_records": [{{"agency": "{example_agency}", "period": "{example_period}"}}]}}
```

A missing field, an agency the version does not forecast, a period that is not a month or outside the
version's horizon, and a version logged without a signature all get HTTP 400 naming the field.

## How this page was made

```
{command}
```
"""


def _money(value: float) -> str:
    return f"{value:,.0f}" if value == value else "–"


def _pct(value: float) -> str:
    return f"{value:.1%}" if value == value else "–"


def render(version: Any, run: Any, forecast: pd.DataFrame, command: str, data_line: str) -> str:
    """The page for one registered version (``version``: an MLflow ModelVersion; ``run``: its training run)."""
    params, metrics, tags = run.data.params, run.data.metrics, version.tags
    names = [n for n in params.get("candidates", "").split(",") if n]
    config = backtest.BacktestConfig(horizon=int(params["horizon"]), origins=int(params["origins"]),
                                     candidates=tuple(names), alpha=float(params["alpha"]),
                                     bootstrap=int(params["bootstrap"]), seed=int(params["seed"]))
    champion = tags.get("method", "")
    metric_rows = []
    for name in names:
        m = {k: metrics.get(f"{name}_{k}", float("nan")) for k in METRICS}
        label = f"**{name}**" if name == champion else name
        metric_rows.append(f"| {label} | {_money(m['mae'])} | {_pct(m['mape'])} | {_pct(m['smape'])} | "
                           f"{m['bias']:+,.0f} | {_pct(m['coverage'])} | {_money(m['width'])} |")
    candidate_rows = [f"| `{c.name}` | {'baseline' if c.baseline else 'model'} | {c.about} |"
                      for c in candidates.CANDIDATES.values() if c.name in names]
    if candidates.CANDIDATES[champion].baseline:
        verdict = ("No model beat the best baseline by more than chance on this data, so the baseline is the "
                   "champion: its forecasts and intervals are what Odoo and `gold.bir_forecast` get.")
    else:
        verdict = (f"`{champion}` beat the best baseline, `{tags.get('best_baseline')}`, by more than the backtest's "
                   "own variation; its forecasts and intervals are what Odoo and `gold.bir_forecast` get.")
    coverage = metrics.get(f"{champion}_coverage", float("nan"))
    if coverage == coverage and abs(coverage - 0.8) > 0.1:
        side = "below" if coverage < 0.8 else "above"
        verdict += (f" Its p10-p90 interval held the actual in {coverage:.0%} of the backtest forecasts that had one, "
                    f"{side} the 80% aimed at: read the band as {'too narrow' if side == 'below' else 'too wide'}.")
    ets_note = ("ETS (`ets`: exponential smoothing on log1p, damped trend, monthly seasonality, statsmodels) is "
                "compared too." if "ets" in names else
                "ETS (`ets`) is available with `odoolake ml train --candidates all`; the month-end job leaves it out "
                "because it fits one model per agency and origin (about a hundred fits, each tens of milliseconds) "
                "and Theta, the simplest of that family, is already compared.")
    months = sorted(forecast["period"].unique())
    forecast_rows = []
    for agency, rows in forecast.groupby("agency"):
        cells = []
        for month in months:
            r = rows[rows["period"] == month].iloc[0]
            cells.append(f"{_money(r['p50'])}<br><small>{_money(r['p10'])}–{_money(r['p90'])}</small>")
        forecast_rows.append(f"| {agency} | " + " | ".join(cells) + " |")
    first = forecast.iloc[0]
    return PAGE.format(
        horizon=config.horizon, origins=config.origins, cap=candidates.ONE_OFF_CAP, min_cal=backtest.MIN_CALIBRATION,
        bootstrap=config.bootstrap, alpha=config.alpha, candidate_rows="\n".join(candidate_rows),
        data_line=data_line, window=tags.get("training_window", ""), origin=tags.get("origin", ""),
        metric_rows="\n".join(metric_rows), champion=champion, version=version.version,
        decision=tags.get("decision", ""), verdict=verdict, month_headers=" | ".join(months),
        month_align="---:|" * len(months), forecast_rows="\n".join(forecast_rows),
        months_needed=config.months_needed, example_agency=first["agency"], example_period=first["period"],
        command=command, ets_note=ets_note)


def for_version(paths, version_ref: str | None, command: str, data_line: str,
                model_name: str = tracking.MODEL_NAME) -> str:
    from odoolake.ml.scoring import version_frames

    client = tracking.client(paths)
    tracking.configure(paths)
    version = (client.get_model_version(model_name, version_ref) if version_ref
               else client.get_model_version_by_alias(model_name, tracking.ALIAS))
    run = client.get_run(version.run_id)
    forecast, _ = version_frames(version.run_id)
    return render(version, run, forecast, command, data_line)
