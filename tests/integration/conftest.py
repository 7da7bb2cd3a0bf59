"""A lake with three years of generated Odoo data and a trained forecaster, shared by the ML and serving tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.ml.train import TrainResult, train
from odoolake.pipeline import month_end
from odoolake.workspace.engine import LocalEngine


@dataclass
class ForecastLake:
    paths: WorkspacePaths
    spark: Any
    first: TrainResult


@pytest.fixture(scope="session")
def forecast_lake(tmp_path_factory) -> ForecastLake:
    paths = WorkspacePaths.from_env(tmp_path_factory.mktemp("forecast")).ensure()
    generate(GenConfig(months=36, end=date(2026, 10, 1), lines=24_000, seed=11, as_of=date(2026, 11, 3)),
             paths.dbfs_to_local("dbfs:/raw/odoo"))
    engine = LocalEngine(paths)
    spark = engine.session()
    month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
    first = train(spark, paths, chart_dir=paths.dbfs_to_local("dbfs:/reports/test-training"))
    yield ForecastLake(paths, spark, first)
    engine.close()
