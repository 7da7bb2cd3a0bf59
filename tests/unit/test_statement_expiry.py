"""Statements are forgotten ``KEEP_SECONDS`` after they ended or were last asked for; running ones stay, and so does
everything younger, and a statement that ran longer than ``KEEP_SECONDS`` keeps its result as long as a quick one."""

from __future__ import annotations

import time

import pyarrow as pa

from odoolake.workspace.sql.operations import KEEP_SECONDS as OPERATION_KEEP_SECONDS
from odoolake.workspace.sql.operations import SqlOperation, SqlOperations
from odoolake.workspace.sql.statements import KEEP_SECONDS, Statement, StatementService


def test_old_finished_statements_go_and_running_young_or_recently_read_ones_stay():
    service = StatementService(engine=None, catalog=None)
    now = time.monotonic()
    old = now - KEEP_SECONDS - 60
    made = [("old-done", old, old, "SUCCEEDED"), ("old-running", old + 1, old + 1, "RUNNING"),
            ("old-failed", old + 2, old + 2, "FAILED"),
            ("long-query", old + 3, now - 30, "SUCCEEDED"),  # made hours ago, ended 30 s ago
            ("read-lately", old + 4, now - 60, "SUCCEEDED"),  # ended long ago, its result fetched a minute ago
            ("young-done", now - 5, now - 5, "SUCCEEDED"), ("young-running", now, now, "RUNNING")]
    for statement_id, created, used, state in made:
        service._statements[statement_id] = Statement(statement_id, state=state, created=created, used=used)
    service._expire()
    assert list(service._statements) == ["old-running", "long-query", "read-lately", "young-done", "young-running"]

    service._statements["old-running"].settle("CANCELED")  # it ends now: kept for KEEP_SECONDS from now
    service._expire()
    assert "old-running" in service._statements
    service._statements["old-running"].used = old
    service._expire()
    assert list(service._statements) == ["long-query", "read-lately", "young-done", "young-running"]

    service._statements["read-lately"].used = old
    service.get("read-lately")  # a client asking for it keeps it
    service._expire()
    assert "read-lately" in service._statements
    service.close()


def test_a_thrift_operation_read_slowly_is_kept_while_its_client_reads():
    operations = SqlOperations()
    op = SqlOperation("op", session=_Session(), kind="EXECUTE_STATEMENT")
    operations._ops["op"] = op
    assert op.begin() and op.settle("FINISHED", table=pa.table({"n": [1, 2, 3]})) == "RUNNING"
    op.used = time.monotonic() - OPERATION_KEEP_SECONDS + 30  # ended (or last read) almost an hour ago
    operations.get("op", "ana@example.com").take(1)  # the client fetches the next rows
    operations.expire()
    assert "op" in operations._ops
    op.used = time.monotonic() - OPERATION_KEEP_SECONDS - 1
    operations.expire()
    assert "op" not in operations._ops
    operations.close_all()


class _Session:
    principal = "ana@example.com"
    session_id = "s"
