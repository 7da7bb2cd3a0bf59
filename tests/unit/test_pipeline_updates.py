"""Pipeline updates always end: one that raised, and one active when the server stopped, so that neither blocks
the pipeline's later updates for good; and each runs as the pipeline's principal, started only by who may."""

from __future__ import annotations

import threading

import pytest

from odoolake.testing.waiting import wait_until
from odoolake.workspace.db import Database
from odoolake.workspace.errors import PermissionDenied
from odoolake.workspace.identity.roles import Caller
from odoolake.workspace.pipelines import INTERRUPTED_MESSAGE, PipelinesService

SPEC = {"name": "p", "libraries": [{"notebook": {"path": "/Shared/p"}}], "target": "s"}


def test_an_update_active_when_the_server_stopped_is_failed_at_the_next_start(tmp_path):
    db = tmp_path / "workspace.db"
    started, release = threading.Event(), threading.Event()

    def hangs(spec, update_id, full_refresh, principal):  # the update's task process, when the server is killed
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
    def raises(spec, update_id, full_refresh, principal):
        raise OSError("No space left on device")

    service = PipelinesService(Database(tmp_path / "workspace.db"), raises, "me@localhost")
    pipeline_id = service.create(SPEC)
    update_id = service.start_update(pipeline_id)
    update = wait_until(lambda: (u := service.get_update(pipeline_id, update_id)["update"])["state"] == "FAILED" and u,
                        what="the update to end")
    assert update["message"] == "The update could not run: OSError: No space left on device"
    assert service.start_update(pipeline_id, wait=False)


def test_an_update_runs_as_the_pipelines_creator_or_run_as_never_as_a_name_the_body_claims(tmp_path):
    """Updates ran as the workspace owner (an admin) whoever made the pipeline, or as any ``creator_user_name``
    the request body named."""
    seen: list[str] = []
    users = {"me@localhost", "dev@x", "robot@x"}
    service = PipelinesService(Database(tmp_path / "workspace.db"),
                               lambda spec, update_id, full, principal: (seen.append(principal), (True, None))[1],
                               "me@localhost", users.__contains__, {"robot@x"}.__contains__)
    developer = Caller("dev@x")
    claimed = service.create({**SPEC, "name": "claims", "creator_user_name": "me@localhost"}, developer)
    service.start_update(claimed, wait=True, caller=developer)
    assert seen == ["dev@x"]
    assert service.get(claimed)["creator_user_name"] == "dev@x"
    assert "creator_user_name" not in service.get(claimed)["spec"]  # the server says who made it, not the body
    with pytest.raises(PermissionDenied, match="may set run_as only to themselves or to a service principal, not "
                                               "to the user me@localhost"):
        service.create({**SPEC, "name": "as admin", "run_as": {"user_name": "me@localhost"}}, developer)
    robot = service.create({**SPEC, "name": "robot", "run_as": {"service_principal_name": "robot@x"}}, developer)
    service.start_update(robot, wait=True, caller=developer)
    assert seen[-1] == "robot@x" and service.get(robot)["run_as_user_name"] == "robot@x"
    # someone else's pipeline: seen, but not started, edited or deleted without a grant
    theirs = service.create({**SPEC, "name": "theirs"}, Caller("me@localhost", is_admin=True))
    with pytest.raises(PermissionDenied, match=f"dev@x may not start an update of pipeline {theirs}: that needs "
                                               f"CAN_RUN"):
        service.start_update(theirs, caller=developer)
    with pytest.raises(PermissionDenied, match="needs CAN_MANAGE"):
        service.edit(theirs, {**SPEC, "name": "mine now"}, developer)
    with pytest.raises(PermissionDenied, match="needs CAN_MANAGE"):
        service.delete(theirs, developer)
    assert service.get(theirs)["name"] == "theirs"
    service.set_permissions(theirs, [{"user_name": "dev@x", "permission_level": "CAN_RUN"}],
                            Caller("me@localhost", is_admin=True), replace=False)
    service.start_update(theirs, wait=True, caller=developer)
    assert seen[-1] == "me@localhost"  # it runs as its owner, whoever starts it


@pytest.mark.parametrize("text, kept", [
    ("level='ERROR'", ["b"]),
    ("level in ('INFO', 'WARN')", ["a", "c"]),
    ("level != 'ERROR' AND event_type = 'create_update'", ["a"]),
    ("timestamp >= '2026-12-05T10:00:00Z'", ["b", "c"]),
    ("timestamp < '2026-12-05T10:00:00'", ["a"]),  # no zone: UTC
    ("", ["a", "b", "c"]),
])
def test_the_events_filter_keeps_what_its_terms_say(text, kept):
    from odoolake.workspace.pipelines import events_filter

    events = [{"id": "a", "level": "INFO", "event_type": "create_update", "timestamp": "2026-12-05T09:59:59.000Z"},
              {"id": "b", "level": "ERROR", "event_type": "update_progress", "timestamp": "2026-12-05T10:00:00.000Z"},
              {"id": "c", "level": "INFO", "event_type": "update_progress", "timestamp": "2026-12-05T10:00:01.500Z"}]
    keep = events_filter(text)
    assert [e["id"] for e in events if keep(e)] == kept


@pytest.mark.parametrize("text, message", [
    ("name LIKE 'x'", "is not a term on level, event_type, timestamp or id"),
    ("level = ERROR", "the value of level is a quoted string"),
    ("timestamp > 'yesterday'", "'yesterday' is not a timestamp"),
    ("level in 'ERROR'", r"level in needs a list like \('WARN', 'ERROR'\)"),
    ("level = 'ERROR' OR level='INFO'", r"terms are joined with AND only; for either of two values use level in"),
])
def test_a_filter_the_events_call_does_not_know_is_refused_naming_the_term(text, message):
    from odoolake.workspace.errors import InvalidParameterValue
    from odoolake.workspace.pipelines import events_filter

    with pytest.raises(InvalidParameterValue, match=message):
        events_filter(text)
