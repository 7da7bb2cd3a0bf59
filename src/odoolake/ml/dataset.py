"""The training table and its split in time.

The seed splits at random (``train_test_split``), which lets the model see months after the ones it is
scored on. Here the holdout is always the latest months, and every training row is strictly earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from odoolake.errors import OdoolakeError

FEATURES = ["prev_month_wht", "prev_year_wht", "income_tax", "vat"]
TARGET = "withholding_tax"
KEYS = ["agency", "period"]


class ForecastDataError(OdoolakeError):
    """The feature table cannot support training or scoring."""


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame

    @property
    def train_periods(self) -> list[str]:
        return sorted(self.train["period"].unique())

    @property
    def test_periods(self) -> list[str]:
        return sorted(self.test["period"].unique())


def load_features(spark) -> pd.DataFrame:
    """``gold.bir_features`` as pandas, ordered by period and agency, with float features."""
    from odoolake.pipeline import io

    if not io.table_exists(spark, io.BIR_FEATURES):
        raise ForecastDataError(f"{io.BIR_FEATURES} does not exist yet: run the bir_etl job's features task first.")
    frame = spark.table(io.BIR_FEATURES).toPandas()
    for column in [*FEATURES, TARGET]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame.sort_values(KEYS).reset_index(drop=True)


def usable_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with both lags: the first twelve months of each agency have no same-month-last-year value."""
    return frame.dropna(subset=FEATURES).reset_index(drop=True)


def time_split(frame: pd.DataFrame, test_months: int = 3, min_train_months: int = 6) -> Split:
    """Hold out the latest ``test_months`` periods; train on every earlier one."""
    rows = usable_rows(frame)
    periods = sorted(rows["period"].unique())
    if test_months < 1:
        raise ForecastDataError(f"test_months must be at least 1, got {test_months}")
    if len(periods) < test_months + min_train_months:
        raise ForecastDataError(
            f"Not enough history to train: {len(periods)} month(s) have both lags (a month needs the same month "
            f"a year earlier), but {min_train_months} training and {test_months} holdout months are needed. "
            f"Load at least {12 + min_train_months + test_months} months of Odoo data.")
    cut = periods[-test_months]
    train, test = rows[rows["period"] < cut], rows[rows["period"] >= cut]
    return Split(train.reset_index(drop=True), test.reset_index(drop=True))
