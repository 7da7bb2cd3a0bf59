"""``io.catalog_scope``: a stage lists each schema's tables once instead of asking ``tableExists`` per write, and the
listing stays true through the stage's own creates and drops, and is forgotten when the stage ends."""

from __future__ import annotations

import pytest
from pyspark.sql.connect.catalog import Catalog

from odoolake.config import WorkspacePaths
from odoolake.pipeline import io
from odoolake.workspace.engine import LocalEngine

TABLE = "silver.scope_probe"


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    engine = LocalEngine(WorkspacePaths.from_env(tmp_path_factory.mktemp("scope")))
    session = engine.session()
    io.ensure_schemas(session)
    yield session
    engine.close()


@pytest.fixture
def catalog_calls(monkeypatch) -> dict[str, int]:
    """How many ``tableExists`` and ``listTables`` calls reach the catalog."""
    counts = {"tableExists": 0, "listTables": 0}
    for name in counts:
        original = getattr(Catalog, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(Catalog, name, counted)
    return counts


def _rows(spark, period: str):
    return spark.createDataFrame([(period, 1)], "period string, n int")


def _periods(spark) -> list[str]:
    return sorted(r[0] for r in spark.table(TABLE).select("period").collect())


def test_a_stage_lists_a_schema_once(spark, catalog_calls):
    names = ["silver.moves", "silver.move_lines", "silver.tax_lines", TABLE, "silver.moves"]
    with io.catalog_scope(spark):
        for name in names:
            io.table_exists(spark, name)
        with io.catalog_scope(spark):  # a stage called by another (month_end.run) uses the outer listing
            io.table_exists(spark, TABLE)
    assert catalog_calls == {"tableExists": 0, "listTables": 1}
    io.table_exists(spark, TABLE)  # outside a stage every question goes to the catalog
    assert catalog_calls == {"tableExists": 1, "listTables": 1}


def test_the_listing_follows_the_stages_own_creates_and_drops(spark):
    """A table created by the first write of a stage must be seen by the next one: else the second replace_where
    would overwrite the table and lose the first write's rows (a full run writes lines in several groups)."""
    io.drop_tables(spark, [TABLE])
    with io.catalog_scope(spark):
        assert not io.table_exists(spark, TABLE)
        io.replace_where(_rows(spark, "2026-01"), TABLE, "period = '2026-01'")
        assert io.table_exists(spark, TABLE)
        io.replace_where(_rows(spark, "2026-02"), TABLE, "period = '2026-02'")
        assert _periods(spark) == ["2026-01", "2026-02"]
        io.drop_tables(spark, [TABLE])
        assert not io.table_exists(spark, TABLE)
        io.replace_where(_rows(spark, "2026-03"), TABLE, "period = '2026-03'")  # created again, not a replaceWhere
    assert _periods(spark) == ["2026-03"]


def test_each_stage_lists_afresh(spark):
    """Tables dropped or created between two stages (by anyone) are seen by the next stage."""
    io.replace_where(_rows(spark, "2026-04"), TABLE, "period = '2026-04'")
    with io.catalog_scope(spark):
        assert io.table_exists(spark, TABLE)
    spark.sql(f"DROP TABLE {TABLE}")
    with io.catalog_scope(spark):
        assert not io.table_exists(spark, TABLE)
    spark.sql(f"CREATE TABLE {TABLE} (period string, n int) USING delta")
    with io.catalog_scope(spark):
        assert io.table_exists(spark, TABLE)


def test_stage_entry_points_run_in_a_scope(spark, catalog_calls):
    """The pipeline's entry points are wrapped: their table questions are answered from one listing per schema."""
    seen: list[bool] = []

    @io.stage
    def probe(session) -> None:
        seen.append(id(session) in io._LISTINGS)
        for _ in range(3):
            io.table_exists(session, TABLE)

    probe(spark)
    assert seen == [True] and id(spark) not in io._LISTINGS
    assert catalog_calls == {"tableExists": 0, "listTables": 1}
