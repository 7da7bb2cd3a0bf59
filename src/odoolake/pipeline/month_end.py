"""The month-end as one call: bronze → silver → gold → BIR forms (checked against gold) → features.

The bundle's notebooks run the same stages; either way the forms of every quarter whose gold changed are rebuilt,
and the run fails if any quarter's form totals differ from gold."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from odoolake.pipeline import bronze, forms, gold, io, silver


@dataclass
class MonthEndResult:
    bronze: bronze.BronzeResult
    silver: silver.SilverResult
    gold_periods: list[str]
    form_quarters: list[str]


@io.stage
def run(spark: SparkSession, raw_root: str, list_files: Callable[[str], Iterable[str]],
        on_stage: Callable[[str], None] | None = None, full_refresh: bool = False) -> MonthEndResult:
    def stage(name: str) -> None:
        if on_stage:
            on_stage(name)

    stage("bronze_ingestion")
    b = bronze.ingest(spark, raw_root, list_files)
    stage("silver_cleaning")
    s = silver.run(spark, full_refresh=full_refresh)
    stage("gold_aggregation")
    g = gold.run(spark, s.periods if full_refresh else None)
    stage("bir_forms")
    q = forms.run(spark, s.periods if full_refresh else None)
    forms.check_in_step(spark)
    stage("features")
    gold.refresh_features(spark)
    return MonthEndResult(b, s, g, q)
