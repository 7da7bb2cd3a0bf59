"""`odoolake lake sql` runs on the embedded engine without PySpark's client: its rows and errors must be what PySpark's
``collect()`` and error messages give for the same statement."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from odoolake.cli.thin_sql import EngineRefused, run
from odoolake.config import WorkspacePaths
from odoolake.workspace.engine import LocalEngine

EVERY_TYPE = ("SELECT 1 AS one, 1234567.5BD AS amount, TIMESTAMP'2026-01-02 03:04:05' AS ts, "
              "TIMESTAMP_NTZ'2026-01-02 03:04:05' AS ts_ntz, DATE'2026-01-01' AS d, map('a', 1) AS m, "
              "named_struct('x', 1, 'y', 'z') AS s, array(named_struct('k', 1)) AS nested, X'0102' AS b, "
              "CAST(NULL AS STRING) AS missing, 1.5D AS dbl, INTERVAL '1' DAY AS iv, 'ñ' AS text")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    paths = WorkspacePaths.from_env(tmp_path_factory.mktemp("thin")).ensure()
    engine = LocalEngine(paths)
    yield paths, engine.session()
    engine.close()


def _pyspark(spark, statement: str, limit: int) -> tuple[list[str], list[tuple]]:
    frame = spark.sql(statement)
    rows = frame.limit(limit + 1).collect() if frame.columns else []
    return frame.columns, [tuple(r.asDict(recursive=True).values()) for r in rows]  # what the command printed


@pytest.mark.parametrize("statement", [EVERY_TYPE, "SELECT id FROM range(7)", "SELECT * FROM range(0)",
                                       "SHOW SCHEMAS"])
def test_rows_are_what_pyspark_collects(engine, statement):
    paths, spark = engine
    assert run(paths, statement, 5) == _pyspark(spark, statement, 5)


def test_commands_run_once_and_answer_as_with_pyspark(engine):
    paths, spark = engine
    assert run(paths, "CREATE TABLE default.thin_t AS SELECT 1 AS a", 5) == (["count"], [(1,)])
    assert run(paths, "INSERT INTO default.thin_t VALUES (2)", 5) == (["count"], [(1,)])
    assert sorted(r[0] for r in spark.table("default.thin_t").collect()) == [1, 2]


@pytest.mark.parametrize(("statement", "condition"), [("SELECT * FROM default.nope", "TABLE_OR_VIEW_NOT_FOUND"),
                                                      ("SELEC 1", "PARSE_SYNTAX_ERROR"),
                                                      ("", "PARSE_EMPTY_STATEMENT")])
def test_errors_carry_the_engines_message(engine, statement, condition):
    paths, spark = engine
    with pytest.raises(EngineRefused) as refused:
        run(paths, statement, 5)
    with pytest.raises(Exception) as pyspark_error:
        _pyspark(spark, statement, 5)
    assert str(refused.value).startswith(f"[{condition}]")
    assert str(refused.value) == str(pyspark_error.value).split("\n")[0]


def test_the_command_does_not_import_pyspark(engine):
    paths, _ = engine
    probe = ("import sys, runpy; sys.argv = ['odoolake', 'lake', 'sql', 'SELECT 41 + 1 AS answer', '--output', 'json',"
             f" '--home', {str(paths.home)!r}]\ntry:\n    runpy.run_module('odoolake.cli.main', run_name='__main__')\n"
             "finally:\n    print('PYSPARK' if 'pyspark.sql.connect.session' in sys.modules else 'THIN', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert json.loads(proc.stdout)["rows"] == [{"answer": 42}], proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "THIN"
