"""A principal's Statement API session that the engine closed: a statement runs again in a new session only when
nothing the principal SET is lost with it; otherwise the error says so, once, and nothing is cached wrongly."""

from __future__ import annotations

import types

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from odoolake.workspace.engine.errors import SESSION_CLOSED
from odoolake.workspace.sql import statements


class Closed(Exception):
    def getCondition(self) -> str:
        return SESSION_CLOSED


class Spark:
    """An engine session holding a time zone; once ``closed`` every call fails as Sail's closed session does."""

    def __init__(self) -> None:
        self.tz, self.closed, self.is_stopped = "UTC", False, False

    def sql(self, text: str, args: object = None) -> types.SimpleNamespace:
        if self.closed:
            raise Closed("[INVALID_HANDLE.SESSION_CLOSED] Session s was closed")
        if text.upper().startswith("SET SPARK.SQL.SESSION.TIMEZONE"):
            self.tz = text.split("=")[1].strip()
        return types.SimpleNamespace(spark=self)

    def addTag(self, tag: str) -> None:
        pass

    def removeTag(self, tag: str) -> None:
        pass


class Engine:
    def session(self, principal: str | None = None) -> Spark:
        return Spark()

    def stop_session(self, spark: Spark) -> None:
        spark.is_stopped = True


@pytest.fixture
def service(monkeypatch):
    def collected(df, row_limit):
        if df.spark.closed:
            raise Closed("[INVALID_HANDLE.SESSION_CLOSED] Session s was closed")
        return [(df.spark.tz,)], StructType([StructField("tz", StringType())])

    monkeypatch.setattr(statements, "collected", collected)
    monkeypatch.setattr(statements, "statement_frame", lambda spark, text, args=None: spark.sql(text))
    monkeypatch.setattr(statements.show_metadata, "producer", lambda text, metadata: None)
    service = statements.StatementService(engine=Engine(), catalog=types.SimpleNamespace(
        all_tables=lambda: [], views=lambda catalog: []))
    yield service
    service.close()


def run(service, text: str) -> dict:
    return service.execute({"statement": text, "warehouse_id": statements.LOCAL_WAREHOUSE_ID, "wait_timeout": "30s"},
                           "ana@example.com")


def test_a_closed_session_without_settings_is_replaced_unseen(service):
    assert run(service, "SELECT tz")["result"]["data_array"] == [["UTC"]]
    service._sessions.get("ana@example.com").closed = True
    assert run(service, "SELECT tz ")["result"]["data_array"] == [["UTC"]]


def test_a_closed_session_that_held_a_setting_is_reported_once_and_never_answers_from_defaults(service):
    assert run(service, "SET spark.sql.session.timeZone = Asia/Manila")["status"]["state"] == "SUCCEEDED"
    assert run(service, "SELECT tz")["result"]["data_array"] == [["Asia/Manila"]]
    service._sessions.get("ana@example.com").closed = True
    failed = run(service, "SELECT tz ")["status"]
    assert failed["state"] == "FAILED" and f"[{SESSION_CLOSED}]" in failed["error"]["message"]
    assert run(service, "SELECT tz ")["result"]["data_array"] == [["UTC"]]  # a new session, after being told
    assert run(service, "SET spark.sql.session.timeZone = Asia/Manila")["status"]["state"] == "SUCCEEDED"
    assert run(service, "SELECT tz ")["result"]["data_array"] == [["Asia/Manila"]]  # no UTC answer from the cache
