"""Forecast-vs-actual charts, one PNG per agency, for the run output and the MLflow run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def forecast_vs_actual(frame: pd.DataFrame, out_dir: Path, holdout_start: str | None = None,
                       title: str = "Withholding tax: forecast vs actual") -> list[Path]:
    """``frame`` has agency, period, actual and predicted; the holdout months are shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for agency, rows in frame.sort_values("period").groupby("agency"):
        periods = list(rows["period"])
        fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
        ax.plot(periods, rows["actual"], marker="o", label="actual", color="#1f4e79")
        ax.plot(periods, rows["predicted"], marker="x", linestyle="--", label="forecast", color="#c55a11")
        if holdout_start is not None and holdout_start in periods:
            ax.axvspan(periods.index(holdout_start) - 0.5, len(periods) - 0.5, color="#dddddd", alpha=0.6,
                       label="holdout")
        ax.set_title(f"{title} — {agency}")
        ax.set_ylabel("PHP")
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{agency}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
