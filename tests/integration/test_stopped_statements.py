"""SQL statements the engine runs beside Sail (INSERT, DELETE, UPDATE, MERGE, INSERT … REPLACE WHERE, CREATE OR
REPLACE … AS) stop as a DataFrame write does: a client's interrupt mid-write (here by tag) fences the table, so the
statement never commits, however long Sail's work on it goes on, and the client is told the operation was
cancelled."""

from __future__ import annotations

import threading
import time

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from odoolake.config import WorkspacePaths
from odoolake.testing.waiting import wait_until
from odoolake.workspace.catalog.store import CatalogStore, FullName
from odoolake.workspace.engine import LocalEngine
from odoolake.workspace.engine.errors import error_class_of
from odoolake.workspace.engine.fence import FENCE_PROPERTY

BASE_ROWS = 100
SLOW_ROWS = 500
PAUSE = 0.02  # a Python UDF pausing per row, in one partition: about 10 s of work
WRITE_SECONDS = SLOW_ROWS * PAUSE
# Stopped by a tag, which only the client's own operation carries: the work the engine does for it must stop too.
TAG = "stop-this-statement"

STATEMENTS = {
    "insert": f"INSERT INTO dw.target SELECT pace(id), 'late' FROM range(0, {SLOW_ROWS}, 1, 1)",
    "delete": "DELETE FROM dw.target WHERE pace(id) >= 0",
    "replace_where": f"INSERT INTO dw.target REPLACE WHERE batch = 'base' SELECT pace(id), 'base' "
                     f"FROM range(0, {SLOW_ROWS}, 1, 1)",
    # a replace sets the new definition's properties after its write: a stopped one must not
    "create_or_replace": f"CREATE OR REPLACE TABLE dw.target TBLPROPERTIES ('new' = '1') AS SELECT pace(id) AS id, "
                         f"'late' AS batch FROM range(0, {SLOW_ROWS}, 1, 1)",
}


def _data_commits(location: str, version: int) -> list[dict]:
    return [entry for entry in DeltaTable(location).history() if entry["version"] > version and not (
        entry["operation"] == "SET TBLPROPERTIES" and FENCE_PROPERTY in entry["operationParameters"]["properties"])]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(STATEMENTS))
def test_an_interrupted_statement_never_commits(tmp_path, kind):
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    marker = tmp_path / "under-way"
    with LocalEngine(paths) as engine:
        spark = engine.session()
        spark.sql("CREATE SCHEMA IF NOT EXISTS dw")
        spark.range(BASE_ROWS).selectExpr("id", "'base' AS batch").write.format("delta").saveAsTable("dw.target")
        spark.sql("ALTER TABLE dw.target SET TBLPROPERTIES ('keep' = 'me')")
        location = CatalogStore(paths, "owner@localhost").table(FullName("main", "dw", "target")).storage_location
        before = DeltaTable(location).version()

        @F.udf(LongType())
        def pace(x):  # runs inside the engine: the marker proves the statement's work is under way
            open(str(marker), "a").close()
            time.sleep(PAUSE)
            return x

        spark.udf.register("pace", pace)
        outcome: dict[str, BaseException | None] = {}

        def run() -> None:
            spark.addTag(TAG)  # on this thread's calls only
            try:
                spark.sql(STATEMENTS[kind]).collect()
                outcome["error"] = None
            except Exception as exc:
                outcome["error"] = exc

        statement = threading.Thread(target=run)
        statement.start()
        wait_until(lambda: marker.exists() or not statement.is_alive(), what="the statement's work to start")
        assert statement.is_alive(), f"the statement ended before it was interrupted: {outcome}"
        started = time.monotonic()
        spark.interruptTag(TAG)
        statement.join(timeout=WRITE_SECONDS + 120)
        assert not statement.is_alive()
        assert error_class_of(outcome["error"]) == "OPERATION_CANCELED", outcome["error"]
        while time.monotonic() < started + WRITE_SECONDS + 5:  # past the time the work would have needed
            assert _data_commits(location, before) == [], "an interrupted statement committed"
            time.sleep(0.5)
        assert sorted(r["batch"] for r in spark.table("dw.target").select("batch").distinct().collect()) == ["base"]
        assert spark.table("dw.target").count() == BASE_ROWS
        properties = DeltaTable(location).metadata().configuration
        assert properties.get("keep") == "me" and "new" not in properties
