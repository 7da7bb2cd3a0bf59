"""What the forecaster learns from: each agency's monthly expanded withholding, as known at the forecast date.

``gold.bir_features`` holds one row per agency and month (months without bills are zero). Only closed months are
in it: the forecast date is the day after the last one. Amounts are cast to float whatever the column type
(DOUBLE or DECIMAL(18,2)): the models work in floating point, the lake keeps money exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import pandas as pd

from odoolake.errors import OdoolakeError
from odoolake.ml.calendar import periods_between, shift

TARGET = "withholding_tax"


class ForecastDataError(OdoolakeError):
    """The feature table cannot support training or scoring."""


@dataclass(frozen=True)
class History:
    """``wide``: one row per month (``YYYY-MM``, dense, ascending), one column per agency, PHP as float."""

    wide: pd.DataFrame
    table_version: int | None = None

    @property
    def periods(self) -> list[str]:
        return list(self.wide.index)

    @property
    def agencies(self) -> list[str]:
        return list(self.wide.columns)

    @property
    def first(self) -> str:
        return self.wide.index[0]

    @property
    def last(self) -> str:
        return self.wide.index[-1]

    def fingerprint(self) -> str:
        """A hash of the values (to the centavo): equal for equal data, whatever Delta version holds it."""
        text = self.wide.round(2).to_csv(float_format="%.2f", lineterminator="\n")
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def from_long(frame: pd.DataFrame, table_version: int | None = None) -> History:
    """``frame`` has agency, period and withholding_tax; missing agency-months become zero."""
    if frame.empty:
        raise ForecastDataError("gold.bir_features is empty: run the month-end (bir_etl) on some Odoo data first.")
    values = frame.assign(**{TARGET: pd.to_numeric(frame[TARGET].map(_as_float), errors="coerce")})
    wide = values.pivot_table(index="period", columns="agency", values=TARGET, aggfunc="sum")
    full = periods_between(min(wide.index), max(wide.index))
    wide = wide.reindex(full).fillna(0.0).astype("float64").sort_index(axis=1)
    wide.index.name, wide.columns.name = "period", "agency"
    return History(wide, table_version)


def _as_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]  # Decimal, int or float alike


def closed_months(frame: pd.DataFrame, today: date | None = None) -> pd.DataFrame:
    """The rows of months over by ``today``: an extract taken on 3 November holds a few days of November (and
    perhaps bills dated ahead), which as the last month would be learned from as a whole month and start the
    forecast a month late."""
    current = f"{today or date.today():%Y-%m}"
    kept = frame[frame["period"] < current]
    if kept.empty and not frame.empty:
        raise ForecastDataError(f"gold.bir_features holds only months not over yet ({min(frame['period'])} on, "
                                f"today is {today or date.today():%d %b %Y}): the forecast learns from closed "
                                "months; train it once a month has ended.")
    return kept


def load(spark, table: str | None = None, today: date | None = None) -> History:
    """The table's closed months (:func:`closed_months`) as a :class:`History`, with its current Delta version
    (None where the format has none)."""
    from pyspark.sql import functions as F

    from odoolake.pipeline import io

    name = table or io.BIR_FEATURES
    if not io.table_exists(spark, name):
        raise ForecastDataError(f"{name} does not exist yet: run the bir_etl job's features task first.")
    rows = spark.table(name).select("agency", "period", F.col(TARGET).cast("double").alias(TARGET)).toPandas()
    return from_long(closed_months(rows, today), table_version(spark, name))


def table_version(spark, name: str) -> int | None:
    from odoolake.pipeline import io

    if io.table_format() != "delta":
        return None
    last = spark.sql(f"DESCRIBE HISTORY {name} LIMIT 1").first()
    return int(last["version"]) if last is not None else None


def next_periods(last: str, horizon: int) -> list[str]:
    return [shift(last, h) for h in range(1, horizon + 1)]
