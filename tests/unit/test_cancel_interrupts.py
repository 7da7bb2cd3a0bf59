"""A cancel that arrives while the statement's query is still on its way to the engine still stops the query.

The fake engine forgets an interrupt that finds nothing running, as Sail (and Spark) do; the cancel is sent after the
worker's last look at the statement and before its query reaches the engine. A service that interrupts once leaves the
query running to its end; these tests wait for the query to be stopped.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from odoolake.testing.waiting import wait_until
from odoolake.workspace.engine import interrupts
from odoolake.workspace.sql import operations, statements
from odoolake.workspace.sql.operations import CANCELED, SqlOperations
from odoolake.workspace.sql.sessions import SqlSession
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID, StatementService

QUERY_SECONDS = 60.0  # how long the fake query runs when nothing stops it: far longer than the tests wait


class RacingEngine:
    """A session whose query registers in the engine only after the test has sent its cancel."""

    def __init__(self) -> None:
        self.building = threading.Event()  # the worker is past its last check, its query not yet in the engine
        self.cancel_sent = threading.Event()
        self.running = threading.Event()  # the engine has the query
        self.stopped = threading.Event()  # an interrupt found it
        self.interrupts: list[str] = []
        self.tags: set[str] = set()
        self.frames = 0  # statements that got as far as building their query

    # what the services call on a Spark Connect session
    def addTag(self, tag: str) -> None:  # PySpark's names
        self.tags.add(tag)

    def removeTag(self, tag: str) -> None:
        self.tags.discard(tag)

    def interruptTag(self, tag: str) -> list[str]:
        self.interrupts.append(tag)
        self.cancel_sent.set()  # the query goes on to the engine only after the first interrupt has been sent
        if self.running.is_set() and tag in self.tags:
            self.stopped.set()
            return ["op-1"]
        return []  # nothing running with that tag: forgotten

    def sql(self, statement: str) -> None:
        return None

    is_stopped = False

    # what the services' engine helpers do, in place of the real ones
    def frame(self, spark: Any, statement: str, args: Any = None) -> str:
        self.frames += 1
        self.building.set()
        assert self.cancel_sent.wait(30), "the test never cancelled"
        return "frame"

    def run(self) -> None:
        self.running.set()
        if not self.stopped.wait(QUERY_SECONDS):
            raise AssertionError("the query ran to its end: no interrupt reached it")
        raise RuntimeError("[OPERATION_CANCELED] interrupted")


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> RacingEngine:
    fake = RacingEngine()
    monkeypatch.setattr(interrupts, "RETRY_SECONDS", 0.05)

    def run_and_fail(*_: Any, **__: Any) -> Any:
        fake.run()

    for module in (operations, statements):
        monkeypatch.setattr(module, "statement_frame", fake.frame)
    monkeypatch.setattr(operations, "arrow_and_schema", run_and_fail)
    monkeypatch.setattr(statements, "collected", run_and_fail)
    return fake


def test_a_thrift_cancel_before_the_query_reaches_the_engine_stops_it(engine: RacingEngine):
    ops = SqlOperations(workers=1)
    session = SqlSession("s-1", "alice", engine)
    op = ops.execute(session, "SELECT slow()")
    assert engine.building.wait(30)
    assert ops.cancel(op.op_id, "alice").state == CANCELED
    wait_until(engine.stopped.is_set, what="an interrupt to reach the query", timeout=QUERY_SECONDS / 3)
    wait_until(op.ran.is_set, what="the worker to end")
    assert engine.interrupts[0] == op.tag and len(engine.interrupts) >= 2  # the first one found nothing
    assert ops.get(op.op_id, "alice").state == CANCELED
    ops.close_all()


class OneSession:
    """The client sessions of /api/2.0/sql/sessions, holding one."""

    def __init__(self, session: SqlSession) -> None:
        self.session = session

    def get(self, session_id: str, principal: str) -> SqlSession:
        assert (session_id, principal) == (self.session.session_id, self.session.principal)
        return self.session


def test_a_statement_api_cancel_before_the_query_reaches_the_engine_stops_it(engine: RacingEngine):
    service = StatementService(engine=None, catalog=None, workers=1,
                               sql_sessions=OneSession(SqlSession("s-1", "alice", engine)))
    answer = service.execute({"statement": "SELECT slow()", "warehouse_id": LOCAL_WAREHOUSE_ID, "wait_timeout": "0s",
                              "session_id": "s-1"}, "alice")
    statement_id = answer["statement_id"]
    assert engine.building.wait(30)
    service.cancel(statement_id)
    wait_until(engine.stopped.is_set, what="an interrupt to reach the query", timeout=QUERY_SECONDS / 3)
    wait_until(service._get(statement_id).ran.is_set, what="the worker to end")
    assert engine.interrupts[0] == statement_id and len(engine.interrupts) >= 2
    assert service.get(statement_id)["status"]["state"] == "CANCELED"
    service.close()


def test_a_statement_cancelled_while_queued_never_reaches_the_engine(engine: RacingEngine):
    ops = SqlOperations(workers=1)
    blocker = ops.execute(SqlSession("s-0", "bob", engine), "SELECT slow()")  # holds the only worker
    assert engine.building.wait(30)
    queued = ops.execute(SqlSession("s-1", "alice", engine), "SELECT 1")
    ops.cancel(queued.op_id, "alice")
    ops.cancel(blocker.op_id, "bob")
    engine.cancel_sent.set()
    wait_until(queued.ran.is_set, what="the queued statement's worker to skip it")
    assert engine.frames == 1  # the blocker's: the queued statement never started
    assert queued.op_id not in "".join(engine.interrupts)  # nothing of it ever ran, so nothing needed stopping
    assert queued.state == CANCELED
    ops.close_all()


def test_a_cancel_is_never_overwritten_by_the_worker():
    """The worker's PENDING -> RUNNING and its SUCCEEDED / FAILED, and a cancel, each happen whole: a statement
    cancelled before its worker started stays CANCELED (and never starts), as does one cancelled while it ran."""
    from odoolake.workspace.sql.statements import Statement

    queued = Statement("queued")
    assert queued.settle("CANCELED") == "PENDING"
    assert not queued.begin() and queued.state == "CANCELED"
    running = Statement("running")
    assert running.begin() and running.state == "RUNNING"
    assert running.settle("CANCELED") == "RUNNING"
    assert running.settle("FAILED", error={"message": "interrupted"}) == "CANCELED"
    assert (running.state, running.error) == ("CANCELED", None)
    assert running.settle("SUCCEEDED") == "CANCELED" and running.state == "CANCELED"
