"""One chart per agency: what it withheld, what the champion forecast in the backtest and for the coming months.

- actual expanded withholding per month (solid);
- the backtest's one-month-ahead forecasts with their p10-p90 band, on a shaded "backtest" span;
- the forecast for the next months with its band, after the last closed month;
- titled by what is forecast, peso-formatted axis.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def pesos(value: float, _position: object = None) -> str:
    """Axis label: ₱1.25M, ₱1M, ₱850k, ₱0."""
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"₱{value / 1_000_000:,.2f}".rstrip("0").rstrip(".") + "M"
    if magnitude >= 1_000:
        return f"₱{value / 1_000:,.0f}k"
    return f"₱{value:,.0f}"


def forecast_charts(actual: pd.DataFrame, backtest: pd.DataFrame, future: pd.DataFrame, out_dir: Path,
                    subtitle: str) -> list[Path]:
    """``actual``: wide (period x agency); ``backtest``: the champion's rows (agency, horizon, period, p10, p50,
    p90); ``future``: agency, period, p10, p50, p90. One PNG per agency in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    out_dir.mkdir(parents=True, exist_ok=True)
    one_ahead = backtest[backtest["horizon"] == 1]
    written = []
    for agency in sorted(set(actual.columns) | set(future["agency"])):
        past = one_ahead[one_ahead["agency"] == agency].sort_values("period")
        ahead = future[future["agency"] == agency].sort_values("period")
        periods = sorted(set(actual.index) | set(past["period"]) | set(ahead["period"]))
        x = {p: i for i, p in enumerate(periods)}
        fig, ax = plt.subplots(figsize=(9, 3.4), dpi=100)
        if agency in actual.columns:
            ax.plot([x[p] for p in actual.index], actual[agency], marker="o", markersize=3, color="#1f4e79",
                    label="withheld (actual)")
        if not past.empty:
            xs = [x[p] for p in past["period"]]
            ax.axvspan(xs[0] - 0.5, xs[-1] + 0.5, color="#eeeeee", label="backtest (forecast made a month before)")
            ax.fill_between(xs, past["p10"], past["p90"], color="#f4b183", alpha=0.5, linewidth=0)
            ax.plot(xs, past["p50"], linestyle="--", marker="x", markersize=4, color="#c55a11",
                    label="forecast, p10-p90 band")
        if not ahead.empty:
            xs = [x[p] for p in ahead["period"]]
            ax.fill_between(xs, ahead["p10"], ahead["p90"], color="#a9d18e", alpha=0.6, linewidth=0)
            ax.plot(xs, ahead["p50"], marker="D", markersize=4, color="#38761d", label="next months, p10-p90 band")
        ax.set_title(f"Expanded withholding tax to remit, {agency}: actual and forecast\n{subtitle}", fontsize=10)
        ax.yaxis.set_major_formatter(FuncFormatter(pesos))
        ax.set_ylim(bottom=0)
        step = max(1, len(periods) // 18)
        ax.set_xticks(range(0, len(periods), step), [periods[i] for i in range(0, len(periods), step)])
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.legend(loc="upper left", fontsize=7)
        fig.tight_layout()
        path = out_dir / f"{agency}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
