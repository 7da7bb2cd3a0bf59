"""Parameters in statements that are not queries (INSERT, UPDATE, DELETE, MERGE, CTAS), as a Databricks warehouse
binds them: the engine binds markers in queries only, so the workspace writes their values into the statement as
literals (``engine/sql_parameters.py``). Driven by the real clients: the SQL connector (named, ``?`` and typed
parameters, ``executemany``), SQLAlchemy's ``insert()`` and pandas' ``to_sql``, the Statement API, and PySpark's
``spark.sql(…, args=…)`` over Spark Connect."""

from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

from .test_sql_connector import connect

COLUMNS = "id INT, payee STRING, amount DECIMAL(18,2), day DATE, at TIMESTAMP, flag BOOLEAN"


def _fresh(server, table: str) -> None:
    with server.workspace.engine.spark() as spark:
        spark.sql("CREATE SCHEMA IF NOT EXISTS dmlp")
        spark.sql(f"DROP TABLE IF EXISTS dmlp.{table}")
        spark.sql(f"CREATE TABLE dmlp.{table} ({COLUMNS})")


def _rows(cur, table: str) -> list[tuple]:
    cur.execute(f"SELECT * FROM dmlp.{table} ORDER BY id")
    return [tuple(r) for r in cur.fetchall()]


def test_the_connector_binds_parameters_in_insert_update_delete_merge_and_ctas(server):
    _fresh(server, "ledger")
    tricky = "O'Brien \\ ; DROP TABLE dmlp.ledger --"
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO dmlp.ledger VALUES (:id, :payee, :amount, :day, :at, :flag)",
                    {"id": 1, "payee": tricky, "amount": decimal.Decimal("1234.56"), "day": dt.date(2026, 2, 28),
                     "at": dt.datetime(2026, 2, 28, 10, 15, 0), "flag": True})
        cur.execute("INSERT INTO dmlp.ledger (id, payee, amount, day, at, flag) SELECT ?, ?, ?, ?, ?, ?",
                    [2, "x", decimal.Decimal("0.05"), dt.date(2026, 3, 1), None, False])
        cur.executemany("INSERT INTO dmlp.ledger VALUES (:id, :payee, NULL, NULL, NULL, NULL)",
                        [{"id": 3, "payee": "RIM"}, {"id": 4, "payee": "BOM"}])
        cur.execute("UPDATE dmlp.ledger SET amount = :amount WHERE id = :id", {"amount": decimal.Decimal("7.50"),
                                                                                "id": 3})
        cur.execute("DELETE FROM dmlp.ledger WHERE payee = :payee", {"payee": "BOM"})
        cur.execute("MERGE INTO dmlp.ledger t USING (SELECT :id AS id, :payee AS payee) s ON t.id = s.id "
                    "WHEN MATCHED THEN UPDATE SET t.payee = s.payee", {"id": 2, "payee": "merged"})
        cur.execute("CREATE OR REPLACE TABLE dmlp.ledger_copy AS SELECT *, :note AS note FROM dmlp.ledger",
                    {"note": "copied"})
        rows = _rows(cur, "ledger")
        cur.execute("SELECT DISTINCT note FROM dmlp.ledger_copy")
        notes = [r.note for r in cur.fetchall()]
    assert rows[0][:2] == (1, tricky) and rows[0][2:4] == (decimal.Decimal("1234.56"), dt.date(2026, 2, 28))
    assert rows[0][4].replace(tzinfo=None) == dt.datetime(2026, 2, 28, 10, 15) and rows[0][5] is True
    assert rows[1] == (2, "merged", decimal.Decimal("0.05"), dt.date(2026, 3, 1), None, False)
    assert rows[2] == (3, "RIM", decimal.Decimal("7.50"), None, None, None)
    assert len(rows) == 3 and notes == ["copied"]


def test_a_marker_inside_a_string_is_not_a_parameter_and_missing_columns_are_null(server):
    _fresh(server, "texts")
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO dmlp.texts (payee, id) VALUES ('keep :id and ? as written', :id)", {"id": 9})
        cur.execute("INSERT INTO dmlp.texts (flag, id) SELECT :flag, 10", {"flag": True})
        cur.execute("INSERT INTO dmlp.texts (payee, id) WITH c AS (SELECT :id AS v) SELECT 'cte', v FROM c", {"id": 11})
        rows = _rows(cur, "texts")
    assert rows == [(9, "keep :id and ? as written", None, None, None, None), (10, None, None, None, None, True),
                    (11, "cte", None, None, None, None)]


def test_a_json_path_colon_is_not_a_marker_and_a_missing_value_stays_a_marker():
    from pyspark.sql.connect.proto import expressions_pb2

    from odoolake.workspace.engine.sql_parameters import bind

    one = expressions_pb2.Expression(literal={"integer": 1})
    assert bind("INSERT INTO t SELECT raw:id, f(x):k, :id, ?, ':id', `:id` FROM s", {"id": one}, [one]) == \
        "INSERT INTO t SELECT raw:id, f(x):k, (1), (1), ':id', `:id` FROM s"
    assert bind("UPDATE t SET a = :a WHERE b = :b", {"a": one}, []) == "UPDATE t SET a = (1) WHERE b = :b"


def test_a_value_no_literal_can_hold_is_refused_by_name():
    from pyspark.sql.connect.proto import expressions_pb2

    from odoolake.workspace.engine.sql_parameters import UnboundableParameter, bind

    nan = expressions_pb2.Expression(literal={"decimal": {"value": "NaN"}})
    with pytest.raises(UnboundableParameter, match="parameter :x: the value cannot be written as a SQL literal"):
        bind("INSERT INTO t VALUES (:x)", {"x": nan}, [])


def test_sqlalchemy_inserts_and_pandas_to_sql(server):
    _fresh(server, "frames")
    port = int(server.url.rsplit(":", 1)[1])
    engine = sa.create_engine(f"databricks://token:{server.token}@127.0.0.1?http_path=/sql/1.0/warehouses/"
                              f"{LOCAL_WAREHOUSE_ID}&catalog=main&schema=dmlp",
                              connect_args={"_port": port, "_tls_trusted_ca_file": server.ca_bundle,
                                            "enable_telemetry": False})
    try:
        table = sa.Table("frames", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "payee": "RIM"}, {"id": 2, "payee": "BOM"}])
        pd.DataFrame({"agency": ["RIM", "BOM"], "wht": [1.5, 2.25]}).to_sql("remitted", engine, if_exists="replace",
                                                                            index=False)
        with engine.connect() as conn:
            inserted = conn.execute(sa.text("SELECT id, payee FROM frames ORDER BY id")).all()
            remitted = conn.execute(sa.text("SELECT agency, wht FROM remitted ORDER BY agency")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in inserted] == [(1, "RIM"), (2, "BOM")]
    assert [tuple(r) for r in remitted] == [("BOM", 2.25), ("RIM", 1.5)]


def test_the_statement_api_and_pyspark_bind_typed_parameters_in_an_insert(server):
    _fresh(server, "typed")
    w = WorkspaceClient(host=server.url, token=server.token)
    answer = w.statement_execution.execute_statement(
        "INSERT INTO dmlp.typed VALUES (:id, NULL, :amount, :day, NULL, NULL)", LOCAL_WAREHOUSE_ID,
        parameters=[StatementParameterListItem(name="id", value="5", type="INT"),
                    StatementParameterListItem(name="amount", value="99.995", type="DECIMAL(18,2)"),
                    StatementParameterListItem(name="day", value="2026-12-31", type="DATE")], wait_timeout="30s")
    assert answer.status.state == StatementState.SUCCEEDED, answer.status
    with server.workspace.engine.spark() as spark:
        spark.sql("INSERT INTO dmlp.typed VALUES (:id, :payee, NULL, NULL, NULL, NULL)",
                  args={"id": 6, "payee": "spark"})
        spark.sql("UPDATE dmlp.typed SET flag = ? WHERE id = ?", args=[True, 6])
        rows = sorted(tuple(r) for r in spark.table("dmlp.typed").select("id", "payee", "amount", "day", "flag")
                      .collect())
    assert rows == [(5, None, decimal.Decimal("100.00"), dt.date(2026, 12, 31), None), (6, "spark", None, None, True)]


def test_a_parameter_that_is_not_a_value_is_refused_by_name(server):
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    _fresh(server, "refused")
    with server.workspace.engine.spark() as spark, pytest.raises(PySparkException, match="parameter :id: only a "
                                                                                          "value can be a parameter"):
        spark.sql("INSERT INTO dmlp.refused VALUES (:id, NULL, NULL, NULL, NULL, NULL)", args={"id": F.col("x")})
