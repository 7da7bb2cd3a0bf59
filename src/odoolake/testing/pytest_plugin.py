"""Pytest plugin (auto-loaded through the ``pytest11`` entry point): Spark on the embedded engine.

Fixtures:
- ``lake_engine`` (session): a LocalEngine on a temporary workspace root;
- ``spark`` (session): a genuine PySpark session on it, the seed's test strategy made real::

      def test_my_transform(spark):
          df = spark.createDataFrame([(1, "RIM")], "id long, agency string")
          assert my_transform(df).count() == 1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def lake_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine import LocalEngine

    engine = LocalEngine(WorkspacePaths.from_env(tmp_path_factory.mktemp("odoolake-home")))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark(lake_engine: object) -> Iterator[object]:
    session = lake_engine.session()  # type: ignore[attr-defined]
    yield session
