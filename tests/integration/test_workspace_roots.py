"""A workspace root named as people name folders works end to end on the engine; one the engine cannot use, or a host
that cannot start, is one line from the real command (nothing made, no host left)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from deltalake import DeltaTable

from odoolake.config import ROOT_CHARACTERS_REFUSED, WorkspacePaths
from odoolake.errors import EngineError
from odoolake.superset.publish import publish
from odoolake.testing.sessions import engine_hosts, in_own_thread
from odoolake.testing.waiting import wait_until
from odoolake.workspace.catalog.store import file_uri
from odoolake.workspace.engine import LocalEngine, host
from odoolake.workspace.engine.launcher import EngineLease, host_gone

# an apostrophe and URL sub-delimiters, which Sail reads literally in a file URL (escaped, it found no table)
PEOPLES_FOLDER = "o'brien&co_(lake)+1=@:!$;"


def _lake_sql(home, statement: str = "SELECT 1 AS one", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "odoolake.cli.entry", "lake", "sql", statement, "--home", str(home)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def test_tables_checkpoints_and_the_command_work_under_a_root_named_like_a_persons_folder(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / PEOPLES_FOLDER).ensure()
    engine = LocalEngine(paths)
    try:
        in_own_thread(lambda: _tables_and_checkpoints(paths, engine.session()))
    finally:
        engine.close()
    # every file inside the root (Sail writes under a path as its URL spells it), and readable by another reader
    assert [p.name for p in tmp_path.iterdir()] == [PEOPLES_FOLDER]
    assert sorted(DeltaTable(str(paths.warehouse / "default" / "t")).to_pyarrow_table().column("x").to_pylist()) == [1, 2]
    assert DeltaTable(str(paths.warehouse / "default" / "c")).to_pyarrow_table().num_rows == 1
    proc = _lake_sql(paths.home, "SELECT sum(x) AS total FROM main.default.t")
    assert proc.returncode == 0, proc.stderr
    assert "3" in proc.stdout


def _tables_and_checkpoints(paths: WorkspacePaths, spark) -> None:
    spark.sql("CREATE TABLE main.default.t AS SELECT 1 AS x")
    spark.sql("INSERT INTO main.default.t VALUES (2)")
    spark.range(5).write.format("delta").mode("overwrite").saveAsTable("main.default.r")
    for _ in range(2):
        spark.sql("CREATE OR REPLACE TABLE main.default.c AS SELECT 'x' AS y")
    spark.sql("CREATE TABLE main.default.s (z INT) PARTITIONED BY (z)")
    assert sorted(r.x for r in spark.table("main.default.t").collect()) == [1, 2]
    assert spark.table("main.default.r").count() == 5
    kept = spark.range(3).checkpoint()  # rows kept in the host's spill folder (released with the DataFrame)
    assert kept.count() == 3
    location = dict(tuple(r)[:2] for r in spark.sql("DESCRIBE TABLE EXTENDED main.default.t").collect())["Location"]
    assert location == file_uri(paths.warehouse / "default" / "t")
    assert spark.sql(f"SELECT count(*) FROM delta.`{location}`").first()[0] == 2  # DESCRIBE's location reads
    spark.sql("CREATE SCHEMA IF NOT EXISTS gold")
    spark.sql("CREATE TABLE gold.totals AS SELECT 7 AS total")
    published = publish(spark, paths.dbfs_to_local("dbfs:/superset/gold.duckdb"), ("totals",))
    assert published.tables == {"totals": 1}  # the DuckDB file Superset reads, under the same root


@pytest.mark.parametrize("char", ["#", "*", " "])
def test_a_root_the_engine_cannot_use_is_refused_in_one_line(tmp_path, char):
    root = tmp_path / f"lake{char}x"
    proc = _lake_sql(root)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    why = next(w for chars, w in ROOT_CHARACTERS_REFUSED.items() if char in chars)
    assert lines[0] == (f"error: workspace root {root}: its path holds {char!r}, and {why}; choose another folder "
                        "(--home or ODOOLAKE_HOME)")
    assert not root.exists() and not engine_hosts(root)


def test_a_file_given_as_the_root_is_named_and_kept(tmp_path):
    file = tmp_path / "lake.txt"
    file.write_text("kept")
    proc = _lake_sql(file)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"error: workspace root {file}: it is a file, not a folder; choose another folder "
                                   "(--home or ODOOLAKE_HOME)")
    assert file.read_text() == "kept"


def test_a_host_that_cannot_start_is_one_line_naming_why_and_its_log(tmp_path, monkeypatch):
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    monkeypatch.setenv("SAIL_EXECUTION__BATCH_SIZE", "many")  # a setting Sail refuses when it loads its config
    with pytest.raises(EngineError) as raised:
        EngineLease(paths, "tester")
    message = str(raised.value)
    assert message.startswith("The engine did not start (exit code 1): RuntimeError: failed to load the "
                              "application config: ")
    assert "EXECUTION.BATCH_SIZE" in message and message.endswith(f"; see {host.log_file(paths.home)}.")
    assert "\n" not in message and "Traceback" in host.log_file(paths.home).read_text()  # the whole of it is there
    proc = _lake_sql(paths.home, SAIL_EXECUTION__BATCH_SIZE="many")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: The engine did not start (exit code 1): RuntimeError:")
    # the failed lease let go of its locks (it was never returned to be closed): once the cause is gone, a lease
    # starts the host, and closing it stops the host as the only client's close does
    monkeypatch.delenv("SAIL_EXECUTION__BATCH_SIZE")
    lease = EngineLease(paths, "tester")
    pid = lease.status["pid"]
    lease.close()
    # a lock the failed lease kept would stop both the close and the host's own idle check: it would never exit
    wait_until(lambda: host_gone({"pid": pid}), what="the host to exit once its only lease closed", timeout=60)
    assert raised.value  # the failed lease is still referenced (by its traceback) until here
