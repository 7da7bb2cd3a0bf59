"""Pipeline updates always end: one that raised, and one active when the server stopped, so that neither blocks
the pipeline's later updates for good."""

from __future__ import annotations

import threading

from odoolake.testing.waiting import wait_until
from odoolake.workspace.db import Database
from odoolake.workspace.pipelines import INTERRUPTED_MESSAGE, PipelinesService

SPEC = {"name": "p", "libraries": [{"notebook": {"path": "/Shared/p"}}], "target": "s"}


def test_an_update_active_when_the_server_stopped_is_failed_at_the_next_start(tmp_path):
    db = tmp_path / "workspace.db"
    started, release = threading.Event(), threading.Event()

    def hangs(spec, update_id, full_refresh):  # the update's task process, when the server is killed
        started.set()
        release.wait(30)
        return True, None

    before = PipelinesService(Database(db), hangs, "me@localhost")
    pipeline_id = before.create(SPEC)
    stuck = before.start_update(pipeline_id)
    assert started.wait(10)

    after = PipelinesService(Database(db), lambda *args: (True, None), "me@localhost")  # the restarted server
    assert after.recover() == 1
    update = after.get_update(pipeline_id, stuck)["update"]
    assert update["state"] == "FAILED" and update["message"] == INTERRUPTED_MESSAGE
    assert after.get(pipeline_id)["state"] == "FAILED"
    again = after.start_update(pipeline_id, wait=True)  # no "already has an active update"
    assert after.get_update(pipeline_id, again)["update"]["state"] == "COMPLETED"
    assert after.recover() == 0
    release.set()


def test_an_update_whose_run_raised_ends_failed_naming_the_error(tmp_path):
    def raises(spec, update_id, full_refresh):
        raise OSError("No space left on device")

    service = PipelinesService(Database(tmp_path / "workspace.db"), raises, "me@localhost")
    pipeline_id = service.create(SPEC)
    update_id = service.start_update(pipeline_id)
    update = wait_until(lambda: (u := service.get_update(pipeline_id, update_id)["update"])["state"] == "FAILED" and u,
                        what="the update to end")
    assert update["message"] == "The update could not run: OSError: No space left on device"
    assert service.start_update(pipeline_id, wait=False)
