"""Bad input through every SQL client gets an error naming the problem, and leaves what is stored as it was: the
SDK's Statement Execution API, the SQL connector (Thrift) and SQLAlchemy on it. An unknown warehouse id, a
parameter that is not of its type, a missing table and an unsupported construct, each named the same way on every
path (the rule is one function per kind: ``statements.bind_parameter``, ``rewrite.refuse``)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from databricks import sql
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

from .test_sql_connector import connect

BAD_WAREHOUSE = "nosuchwarehouse"


@pytest.fixture(scope="module")
def ledger(server):
    with server.workspace.engine.spark() as spark:
        spark.sql("CREATE SCHEMA IF NOT EXISTS errs")
        spark.sql("CREATE OR REPLACE TABLE errs.ledger (agency STRING, day DATE, amount DECIMAL(18,2))")
        spark.sql("INSERT INTO errs.ledger VALUES ('RIM', DATE'2026-01-31', 10.00), ('BOM', DATE'2026-02-28', 5.50)")
    return "errs.ledger"


def _rows(server) -> list[tuple]:
    with server.workspace.engine.spark() as spark:
        return sorted(tuple(r) for r in spark.table("errs.ledger").collect())


def _engine(server, warehouse: str = LOCAL_WAREHOUSE_ID) -> sa.Engine:
    port = int(server.url.rsplit(":", 1)[1])
    return sa.create_engine(f"databricks://token:{server.token}@127.0.0.1?http_path=/sql/1.0/warehouses/{warehouse}"
                            "&catalog=main&schema=errs",
                            connect_args={"_port": port, "_tls_trusted_ca_file": server.ca_bundle,
                                          "enable_telemetry": False, "_retry_stop_after_attempts_count": 1})


def test_unknown_warehouse_is_named_by_every_client(server, w):
    with pytest.raises(DatabricksError, match=f"Invalid warehouse_id '{BAD_WAREHOUSE}'") as rest:
        w.statement_execution.execute_statement(warehouse_id=BAD_WAREHOUSE, statement="SELECT 1")
    assert rest.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(sql.exc.Error, match=f"Warehouse {BAD_WAREHOUSE} does not exist"):
        connect(server, http_path=f"/sql/1.0/warehouses/{BAD_WAREHOUSE}")
    engine = _engine(server, BAD_WAREHOUSE)
    try:
        with pytest.raises(sa.exc.DBAPIError, match=f"Warehouse {BAD_WAREHOUSE} does not exist"), engine.connect():
            pass
    finally:
        engine.dispose()


def test_a_bad_parameter_is_named_and_nothing_is_written(server, w, ledger):
    before = _rows(server)
    insert = f"INSERT INTO {ledger} VALUES ('LAS', :day, 1.00)"
    with pytest.raises(DatabricksError, match=r"Invalid parameters\.day: 'someday' is not a valid DATE"):
        w.statement_execution.execute_statement(
            warehouse_id=LOCAL_WAREHOUSE_ID, statement=insert, wait_timeout="30s",
            parameters=[StatementParameterListItem(name="day", value="someday", type="DATE")])
    with connect(server) as conn, conn.cursor() as cur, \
            pytest.raises(sql.exc.Error, match=r"Invalid parameters\.day: 'someday' is not a valid DATE"):
        cur.execute(insert, [sql.parameters.DateParameter(name="day", value="someday")])
    assert _rows(server) == before


def test_a_missing_table_and_an_unsupported_construct_are_named_on_every_path(server, w, ledger):
    before = _rows(server)
    failures = {}
    missing = ("DELETE FROM errs.no_such_table WHERE amount > 0", "SELECT * FROM errs.no_such_table")
    for statement in (*missing, "CREATE MATERIALIZED VIEW errs.v AS SELECT 1 AS x"):
        answer = w.statement_execution.execute_statement(warehouse_id=LOCAL_WAREHOUSE_ID, statement=statement,
                                                         wait_timeout="30s")
        assert answer.status.state == StatementState.FAILED
        with connect(server) as conn, conn.cursor() as cur, pytest.raises(sql.exc.Error) as thrift:
            cur.execute(statement)
        engine = _engine(server)
        try:
            with engine.connect() as alchemy, pytest.raises(sa.exc.DBAPIError) as via_alchemy:
                alchemy.execute(sa.text(statement))
        finally:
            engine.dispose()
        failures[statement] = (answer.status.error.message, str(thrift.value), str(via_alchemy.value))
    for message in (m for statement in missing for m in failures[statement]):
        assert "[TABLE_OR_VIEW_NOT_FOUND]" in message and "no_such_table" in message and "42P01" in message
    for message in failures["CREATE MATERIALIZED VIEW errs.v AS SELECT 1 AS x"]:
        assert "[UNSUPPORTED_FEATURE" in message and "materialized views" in message
    assert _rows(server) == before


def test_a_write_that_starts_like_a_query_is_never_a_silent_success(server, w, ledger):
    """Queries are fetched in one engine call (``results.statement_frame``; which statements count as queries is
    tests/unit/test_sqltext.py's); a write that starts like one (``WITH … INSERT``) is done once on every path and
    answers an INSERT's counts (``WITH … INSERT … REPLACE WHERE`` too, which Sail 0.7.2 does not parse), and one
    Delta refuses (a subquery in the condition) fails naming it, never a success that wrote nothing, and writes
    nothing."""
    before = _rows(server)
    write = ("WITH c AS (SELECT '{agency}' AS agency) INSERT INTO {ledger} {replace}SELECT agency, DATE'2026-03-31', "
             "1.25 FROM c")
    answer = w.statement_execution.execute_statement(warehouse_id=LOCAL_WAREHOUSE_ID, wait_timeout="30s",
                                                     statement=write.format(agency="JAP", ledger=ledger, replace=""))
    assert answer.status.state == StatementState.SUCCEEDED, answer.status
    assert answer.result.data_array == [["1", "1"]]  # num_affected_rows, num_inserted_rows
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(write.format(agency="KOR", ledger=ledger, replace=""))
        assert [tuple(r) for r in cur.fetchall()] == [(1, 1)]
    after = _rows(server)
    assert len(after) == len(before) + 2 and sorted(r[0] for r in set(after) - set(before)) == ["JAP", "KOR"]
    replacing = write.format(agency="JAP", ledger=ledger, replace="REPLACE WHERE agency = 'JAP' ")
    answer = w.statement_execution.execute_statement(warehouse_id=LOCAL_WAREHOUSE_ID, statement=replacing,
                                                     wait_timeout="30s")
    assert answer.status.state == StatementState.SUCCEEDED, answer.status
    replaced = _rows(server)  # the JAP rows replaced by the one the query gives; the others kept
    assert sorted(r for r in replaced if r[0] == "JAP") == [r for r in set(after) - set(before) if r[0] == "JAP"]
    assert sorted(r for r in replaced if r[0] != "JAP") == sorted(r for r in after if r[0] != "JAP")
    refused = write.format(agency="JAP", ledger=ledger, replace="REPLACE WHERE agency IN (SELECT agency FROM c) ")
    answer = w.statement_execution.execute_statement(warehouse_id=LOCAL_WAREHOUSE_ID, statement=refused,
                                                     wait_timeout="30s")
    assert answer.status.state == StatementState.FAILED
    assert "[UNSUPPORTED_FEATURE]" in answer.status.error.message and "subquery" in answer.status.error.message
    with connect(server) as conn, conn.cursor() as cur, pytest.raises(sql.exc.Error, match=r"UNSUPPORTED_FEATURE"):
        cur.execute(refused)
    assert sorted(_rows(server)) == sorted(replaced)
