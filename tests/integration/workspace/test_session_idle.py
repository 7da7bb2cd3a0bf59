"""Engine sessions left unused: closed after the engine's idle limit (4 h by default, as the SQL sessions; Sail's own
default was 15 minutes), a client told so by name, and the Statement API, whose callers keep no session, going on
in a new one. The limit is shortened here with ``ODOOLAKE_SESSION_IDLE_SECONDS``."""

from __future__ import annotations

import time

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementState
from databricks.sql.exc import Error as SqlError

from odoolake.workspace.engine.errors import SESSION_CLOSED
from odoolake.workspace.engine.session import SESSION_IDLE_ENV
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID
from tests.integration.workspace.conftest import running_server
from tests.integration.workspace.test_front_door import spark_client
from tests.integration.workspace.test_sql_connector import connect

IDLE_LIMIT = 2

# Session ``spark`` is used first, then probe sessions one after another; after sleeping the limit, each probe is
# asked in turn, half a second apart (a probe asked is used again, so each is asked once). The first probe refused
# shows the engine closed sessions unused since before it, ``spark`` among them: no guess at how late its timer runs.
IDLE_CLIENT = """
spark.sql("CREATE TEMP VIEW kept AS SELECT 7 AS x").collect()
probes = [SparkSession.builder.remote(url).create() for _ in range(40)]
for probe in probes:
    probe.sql("SELECT 1").collect()
import time
time.sleep(LIMIT)
for probe in probes:
    try:
        probe.sql("SELECT 1").collect()
    except Exception as exc:
        out["probe"] = exc.getCondition()
        break
    time.sleep(0.5)
try:
    out["rows"] = spark.sql("SELECT x FROM kept").collect()
except Exception as exc:
    out["condition"], out["message"] = exc.getCondition(), str(exc)
"""


def test_an_idle_session_is_closed_by_name_and_statements_go_on_in_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv(SESSION_IDLE_ENV, str(IDLE_LIMIT))
    with running_server(tmp_path / "ws") as server:
        w = WorkspaceClient(host=server.url, token=server.token)
        first = w.statement_execution.execute_statement("SELECT COUNT(*) FROM range(3)", LOCAL_WAREHOUSE_ID,
                                                    wait_timeout="30s")
        assert first.status.state == StatementState.SUCCEEDED

        out = spark_client(server, IDLE_CLIENT.replace("LIMIT", str(IDLE_LIMIT)), token=server.token)
        assert out.get("probe") == SESSION_CLOSED, out  # the engine closed sessions idle past the limit
        assert "rows" not in out and out["condition"] == SESSION_CLOSED, out
        assert f"went unused for longer than {IDLE_LIMIT} s" in out["message"], out["message"]
        assert "Start a new session" in out["message"]

        # The principal's Statement API session went idle before any probe: closed too, and replaced unseen.
        second = w.statement_execution.execute_statement("SELECT COUNT(*) FROM range(2)", LOCAL_WAREHOUSE_ID,
                                                     wait_timeout="30s")
        assert second.status.state == StatementState.SUCCEEDED, second.status
        assert second.result.data_array == [["2"]]



def test_a_query_running_longer_than_the_idle_limit_is_not_cut_off(tmp_path, monkeypatch):
    """Sail's idle clock counts requests, not work: the engine host keeps a session with a query in flight used."""
    from pyspark.sql.functions import udf

    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine import LocalEngine

    monkeypatch.setenv(SESSION_IDLE_ENV, str(IDLE_LIMIT))
    with LocalEngine(WorkspacePaths.from_env(tmp_path / "home").ensure()) as engine:
        spark = engine.session()

        @udf("int")
        def slow(x: int) -> int:
            import time

            time.sleep(4 * 2)  # four idle limits without a request from the client
            return x + 1

        assert spark.range(1).select(slow("id").alias("y")).collect()[0]["y"] == 1
        assert spark.sql("SELECT 2 AS n").collect()[0]["n"] == 2  # and the session goes on


def test_a_connection_asking_only_for_metadata_keeps_its_engine_session(tmp_path, monkeypatch):
    """Catalog, table and column calls are answered without the engine, whose idle clock counts only requests that
    reach it: a connection browsing the catalog for longer than the limit still has its temp view and settings."""
    monkeypatch.setenv(SESSION_IDLE_ENV, str(IDLE_LIMIT))
    with running_server(tmp_path / "ws") as server, connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP VIEW kept AS SELECT 7 AS x")
        cur.execute("SET spark.sql.session.timeZone = Asia/Manila")
        browsing_until = time.monotonic() + 3 * IDLE_LIMIT
        while time.monotonic() < browsing_until:  # a client's pace of metadata calls, not a wait for a condition
            cur.tables(schema_name="default")
            cur.fetchall()
            time.sleep(IDLE_LIMIT / 8)
        cur.execute("SELECT x, current_timezone() AS tz FROM kept")
        row = cur.fetchone()
    assert (row.x, row.tz) == (7, "Asia/Manila")


def test_a_session_the_engine_closed_is_dropped_and_the_client_told_to_reconnect(tmp_path, monkeypatch):
    monkeypatch.setenv(SESSION_IDLE_ENV, str(IDLE_LIMIT))
    with running_server(tmp_path / "ws") as server:
        with connect(server) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            (session,) = server.workspace.sql_sessions._sessions.values()
            session.spark.client.release_session()  # the engine forgets it; the client still holds its handle
            messages = []
            for _ in range(2):
                with pytest.raises(SqlError) as failed:
                    cur.execute("SELECT 2")
                messages.append(str(failed.value))
            assert server.workspace.sql_sessions.count() == 0, messages  # dropped, not kept failing
            assert f"Session {session.session_id} ended: the engine closed it" in messages[-1], messages
            assert "open a new connection" in messages[-1]
        with connect(server) as conn:  # closing a session the engine closed succeeds, as a connector expects
            (session,) = server.workspace.sql_sessions._sessions.values()
            session.spark.client.release_session()
        assert server.workspace.sql_sessions.count() == 0
        with connect(server) as conn, conn.cursor() as cur:  # a new connection works at once
            cur.execute("SELECT 3 AS n")
            assert cur.fetchone().n == 3


# Ben names Ana's session id until the engine host has forgotten and released it: he must never read her state.
TAKEOVER_CLIENT = """
import time
seen = []
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        attempt = SparkSession.builder.remote(url + ";session_id=SESSION").create()
        seen.append(["rows", [r.x for r in attempt.sql("SELECT x FROM kept").collect()]])
    except Exception as exc:
        seen.append([exc.getCondition() if hasattr(exc, "getCondition") else type(exc).__name__, str(exc)[:200]])
        if "belongs to another principal" not in str(exc):
            break
    time.sleep(0.5)
out["seen"] = seen
"""


def test_a_session_forgotten_by_the_engine_host_never_passes_to_another_principal(tmp_path, monkeypatch):
    """After FORGET_AFTER_LIMITS idle limits the engine host forgets who owned a session, having released it in
    Sail (which finds sessions by id alone): another principal naming the id gets a closed (or new, empty) session,
    never the owner's temp views."""
    monkeypatch.setenv(SESSION_IDLE_ENV, str(IDLE_LIMIT))
    with running_server(tmp_path / "ws") as server:
        server.workspace.roles.set_role("ben@example.com", "developer")
        ben = server.workspace.tokens.create("ben@example.com", "t")[0]
        ana = spark_client(server, """
spark.sql("CREATE TEMP VIEW kept AS SELECT 7 AS x").collect()
out["rows"] = [r.x for r in spark.sql("SELECT x FROM kept").collect()]
out["session"] = spark.session_id
""", token=server.token)
        assert ana.get("rows") == [7], ana
        out = spark_client(server, TAKEOVER_CLIENT.replace("SESSION", ana["session"]), token=ben)
        seen = out.get("seen", out)
        assert all(kind != "rows" or rows != [7] for kind, rows in seen), seen  # never Ana's view
        assert seen[0][0] == "INSUFFICIENT_PERMISSIONS", seen  # hers while the host remembers her
        assert "belongs to another principal" not in seen[-1][1], seen  # then forgotten, and closed in Sail
        assert seen[-1][0] in (SESSION_CLOSED, "TABLE_OR_VIEW_NOT_FOUND"), seen
