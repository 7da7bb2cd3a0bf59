"""Finished statements are forgotten after ``KEEP_SECONDS``; running ones stay, and so does everything younger."""

from __future__ import annotations

import time

from odoolake.workspace.sql.statements import KEEP_SECONDS, Statement, StatementService


def test_old_finished_statements_go_and_running_or_young_ones_stay():
    service = StatementService(engine=None, catalog=None)
    old = time.monotonic() - KEEP_SECONDS - 60
    made = [("old-done", old, "SUCCEEDED"), ("old-running", old + 1, "RUNNING"), ("old-failed", old + 2, "FAILED"),
            ("young-done", time.monotonic() - 5, "SUCCEEDED"), ("young-running", time.monotonic(), "RUNNING")]
    for statement_id, created, state in made:
        service._statements[statement_id] = Statement(statement_id, state=state, created=created)
    service._expire()
    assert list(service._statements) == ["old-running", "young-done", "young-running"]
    service._statements["old-running"].state = "CANCELED"
    service._expire()
    assert list(service._statements) == ["young-done", "young-running"]
    service.close()
