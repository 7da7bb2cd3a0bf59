"""A lake with three years of generated Odoo data and a trained forecaster, shared by the ML and serving tests."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from odoolake.cli.common import dbfs_lister
from odoolake.config import WorkspacePaths
from odoolake.datagen import GenConfig, generate
from odoolake.ml.train import TrainResult, train
from odoolake.pipeline import month_end
from odoolake.workspace.engine import LocalEngine

HTTP_TIMEOUT = 120.0  # seconds; httpx's default of 5 s is too short for a 2-core machine at a load average of 8


@pytest.fixture(scope="session", autouse=True)
def patient_http():
    """Give every plain ``httpx`` call in the tests HTTP_TIMEOUT unless it names its own timeout: a slow answer
    under load is not a failure (a wrong answer is)."""

    def patient(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            kwargs.setdefault("timeout", HTTP_TIMEOUT)
            return fn(*args, **kwargs)
        return call

    with pytest.MonkeyPatch.context() as mp:
        for name in ("get", "post", "put", "delete", "request"):
            mp.setattr(httpx, name, patient(getattr(httpx, name)))
        mp.setattr(httpx, "Client", functools.partial(httpx.Client, timeout=HTTP_TIMEOUT))
        yield


@pytest.fixture(scope="module")
def sail_address() -> Iterator[tuple[str, int]]:
    """A Sail Spark Connect server of the module's own, without an engine host in front of it."""
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    address = server.listening_address
    assert address is not None
    yield address
    server.stop()


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
