"""Session configuration a SQL client sends when it opens a session: what reaches the engine, what is refused."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql.types import LongType, StructField, StructType

from odoolake.testing.waiting import wait_until
from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.sql import statements
from odoolake.workspace.sql.operations import SqlOperations
from odoolake.workspace.sql.sessions import SessionNotFound, SqlSessions, engine_settings


def test_short_names_map_to_spark_settings_and_labels_and_wire_settings_stay_out():
    assert engine_settings({"TIMEZONE": "Asia/Manila", "ansi_mode": "false", "spark.sql.shuffle.partitions": 4,
                            "QUERY_TAGS": "dbt_model:monthly_remittance", "spark.thriftserver.arrowBasedRowSet": "1"}
                           ) == {"spark.sql.session.timeZone": "Asia/Manila", "spark.sql.ansi.enabled": "false",
                                 "spark.sql.shuffle.partitions": "4"}


def test_an_unknown_parameter_is_refused_naming_it_and_the_accepted_ones():
    with pytest.raises(InvalidParameterValue, match=r"Configuration STATEMENT_TIMOUT is not available: .*TIMEZONE"):
        engine_settings({"STATEMENT_TIMOUT": "10"})


class _Spark:
    is_stopped = False
    stopped = False

    def stop(self) -> None:
        self.stopped = True


class _Engine:
    def session(self, principal: str) -> _Spark:
        return _Spark()

    def stop_session(self, spark: _Spark) -> None:
        spark.stop()


def test_a_session_idle_past_the_limit_is_closed_when_next_asked_for():
    """The engine closes a session unused for the idle limit; the warehouse says so by name at the next call,
    instead of passing the call to a closed engine session (no other session needs to open first)."""
    sessions = SqlSessions(_Engine(), idle_seconds=3600)
    kept, idle = sessions.open("ana@example.com"), sessions.open("ana@example.com")
    idle.last_used -= 3601
    kept.last_used -= 3599
    assert sessions.get(kept.session_id, "ana@example.com") is kept
    with pytest.raises(SessionNotFound, match=rf"Session {idle.session_id} does not exist or was closed \(sessions "
                                              r"close after 1 h without use\); open a new connection\."):
        sessions.get(idle.session_id, "ana@example.com")
    assert idle.spark.stopped and not kept.spark.stopped and sessions.count() == 1


def test_a_statement_running_past_the_idle_limit_keeps_its_session_and_restarts_its_clock():
    """The engine hears from a session all the while a statement runs in it (its keep-alive), so the warehouse must
    not close the session under the statement, and the idle limit counts from when the statement ended."""
    sessions = SqlSessions(_Engine(), idle_seconds=3600)
    session = sessions.open("ana@example.com")
    with session.in_use():
        session.last_used -= 3601  # sent an hour ago, still running
        sessions.expire()
        assert sessions.count() == 1 and not session.spark.stopped
    assert sessions.get(session.session_id, "ana@example.com") is session
    sessions.expire()
    assert sessions.count() == 1 and session.running == 0


def test_a_failed_statement_also_ends_its_use_of_the_session():
    sessions = SqlSessions(_Engine(), idle_seconds=3600)
    session = sessions.open("ana@example.com")
    with pytest.raises(RuntimeError), session.in_use():
        raise RuntimeError("the statement failed")
    assert session.running == 0
    session.last_used -= 3601
    sessions.expire()
    assert sessions.count() == 0 and session.spark.stopped


class _SlowStatement:
    """A session whose one statement runs until ``release`` is set."""

    is_stopped = False
    stopped = False

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def addTag(self, tag: str) -> None:
        pass

    def removeTag(self, tag: str) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def sql(self, statement: str) -> Any:
        self.started.set()
        assert self.release.wait(30)
        return self

    def _to_table(self) -> tuple[pa.Table, None]:
        return pa.table({"num_affected_rows": [1]}), None


def test_a_thrift_statement_holds_its_session_while_it_runs():
    """The SQL connector's statements run through the warehouse's operations: one running past the idle limit
    keeps its session, and its end restarts the session's clock."""
    spark = _SlowStatement()
    engine = _Engine()
    engine.session = lambda principal: spark  # type: ignore[method-assign]
    sessions, operations = SqlSessions(engine, idle_seconds=3600), SqlOperations()
    try:
        session = sessions.open("ana@example.com")
        op = operations.execute(session, "INSERT INTO t VALUES (1)")
        assert spark.started.wait(30)
        session.last_used -= 3601
        sessions.expire()
        assert sessions.count() == 1 and not spark.stopped
        spark.release.set()
        assert op.ran.wait(30) and op.state == "FINISHED", op.failure
        sessions.expire()
        assert sessions.count() == 1
    finally:
        spark.release.set()
        operations.close_all()


def test_a_statement_api_statement_holds_its_session_while_it_runs(monkeypatch):
    """The same for a statement sent with the ``session_id`` of /api/2.0/sql/sessions."""
    spark = _SlowStatement()
    engine = _Engine()
    engine.session = lambda principal: spark  # type: ignore[method-assign]

    def collected(df: Any, row_limit: int | None) -> tuple[list, StructType]:
        spark.started.set()
        assert spark.release.wait(30)
        return [(1,)], StructType([StructField("n", LongType())])

    monkeypatch.setattr(statements, "collected", collected)
    monkeypatch.setattr(statements, "statement_frame", lambda spark, text, args=None: spark)
    sessions = SqlSessions(engine, idle_seconds=3600)
    service = statements.StatementService(engine=engine, catalog=None, sql_sessions=sessions)
    try:
        session = sessions.open("ana@example.com")
        started = service.execute({"statement": "SELECT 1", "warehouse_id": statements.LOCAL_WAREHOUSE_ID,
                                   "wait_timeout": "0s", "session_id": session.session_id}, "ana@example.com")
        assert spark.started.wait(30)
        session.last_used -= 3601
        sessions.expire()
        assert sessions.count() == 1 and not spark.stopped
        spark.release.set()
        wait_until(lambda: service.get(started["statement_id"])["status"]["state"] == "SUCCEEDED",
                   what="the statement to succeed")
        sessions.expire()
        assert sessions.count() == 1 and session.running == 0
    finally:
        spark.release.set()
        service.close()
