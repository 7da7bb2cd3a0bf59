"""Session configuration a SQL client sends when it opens a session: what reaches the engine, what is refused."""

from __future__ import annotations

import pytest

from odoolake.workspace.errors import InvalidParameterValue
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
