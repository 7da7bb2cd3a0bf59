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


def test_a_statement_held_past_the_idle_limit_keeps_its_session_and_restarts_its_clock():
    """The engine hears from a session all the while a statement runs in it (its keep-alive), so the warehouse must
    not close the session under the statement, and the idle limit counts from when the statement ended."""
    sessions = SqlSessions(_Engine(), idle_seconds=3600)
    session = sessions.open("ana@example.com")
    session.hold()
    session.last_used -= 3601  # sent an hour ago, still running
    sessions.expire()
    assert sessions.count() == 1 and not session.spark.stopped
    session.release()
    assert sessions.get(session.session_id, "ana@example.com") is session
    sessions.expire()
    assert sessions.count() == 1 and session.running == 0
    session.last_used -= 3601
    sessions.expire()
    assert sessions.count() == 0 and session.spark.stopped


class _SlowStatement:
    """An engine session whose statements each run until ``release`` is set."""

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


def _two_sessions(idle_seconds: int) -> tuple[SqlSessions, list[_SlowStatement]]:
    sparks = [_SlowStatement(), _SlowStatement()]
    engine = _Engine()
    given = iter(sparks)
    engine.session = lambda principal: next(given)  # type: ignore[method-assign]
    return SqlSessions(engine, idle_seconds=idle_seconds), sparks


def _expire_while_held(sessions: SqlSessions, opened: list, sparks: list[_SlowStatement]) -> None:
    """Session 1's statement runs (on the one worker), session 2's waits for the worker: both an hour old."""
    assert sparks[0].started.wait(30) and not sparks[1].started.is_set()
    for session in opened:
        session.last_used -= 3601
    sessions.expire()
    assert sessions.count() == 2 and not any(spark.stopped for spark in sparks)
    for spark in sparks:
        spark.release.set()


def test_a_thrift_statement_holds_its_session_from_when_it_is_sent_until_it_ends():
    """The SQL connector's statements run through the warehouse's operations: one running past the idle limit, or
    waiting for a worker, keeps its session, and its end restarts the session's clock."""
    sessions, sparks = _two_sessions(3600)
    operations = SqlOperations(workers=1)
    try:
        opened = [sessions.open("ana@example.com") for _ in sparks]
        ops = [operations.execute(session, "INSERT INTO t VALUES (1)") for session in opened]
        _expire_while_held(sessions, opened, sparks)
        assert all(op.ran.wait(30) and op.state == "FINISHED" for op in ops), [op.failure for op in ops]
        sessions.expire()
        assert sessions.count() == 2 and all(session.running == 0 for session in opened)
    finally:
        for spark in sparks:
            spark.release.set()
        operations.close_all()


def test_a_statement_api_statement_holds_its_session_from_when_it_is_sent_until_it_ends(monkeypatch):
    """The same for statements sent with the ``session_id`` of /api/2.0/sql/sessions."""
    sessions, sparks = _two_sessions(3600)

    def collected(df: Any, row_limit: int | None) -> tuple[list, StructType]:
        df.sql("SELECT 1")
        return [(1,)], StructType([StructField("n", LongType())])

    monkeypatch.setattr(statements, "collected", collected)
    monkeypatch.setattr(statements, "statement_frame", lambda spark, text, args=None: spark)
    service = statements.StatementService(engine=sessions.engine, catalog=None, sql_sessions=sessions, workers=1)
    try:
        opened = [sessions.open("ana@example.com") for _ in sparks]
        sent = [service.execute({"statement": "SELECT 1", "warehouse_id": statements.LOCAL_WAREHOUSE_ID,
                                 "wait_timeout": "0s", "session_id": session.session_id}, "ana@example.com")
                for session in opened]
        _expire_while_held(sessions, opened, sparks)
        for answer in sent:
            wait_until(lambda answer=answer: service.get(answer["statement_id"])["status"]["state"] == "SUCCEEDED",
                       what="the statement to succeed")
        wait_until(lambda: all(session.running == 0 for session in opened), what="the sessions to be released")
        sessions.expire()
        assert sessions.count() == 2
    finally:
        for spark in sparks:
            spark.release.set()
        service.close()
