"""Object permissions without a server: who may do what to a job or a pipeline, how an access control list is
checked and stored, and whom a job may run as (workspace/permissions.py)."""

from __future__ import annotations

import pytest

from odoolake.workspace.db import Database
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied
from odoolake.workspace.identity.roles import Caller
from odoolake.workspace.permissions import (
    CAN_MANAGE,
    CAN_MANAGE_RUN,
    CAN_RUN,
    CAN_VIEW,
    IS_OWNER,
    JOBS,
    PIPELINES,
    ObjectPermissions,
    Owned,
)

ADMIN = Caller("owner@x", is_admin=True)
CREATOR, OTHER, ROBOT = Caller("creator@x"), Caller("other@x"), Caller("robot@x")
USERS = {"owner@x", "creator@x", "other@x", "robot@x"}
JOB = Owned("7", "creator@x")
LEVELS = JOBS.levels


@pytest.fixture
def perms(tmp_path) -> ObjectPermissions:
    return ObjectPermissions(Database(tmp_path / "ws.db"), JOBS, USERS.__contains__, {"robot@x"}.__contains__)


def _acl(answer: dict) -> dict[str, list[tuple[str, bool]]]:
    return {next(v for k, v in e.items() if k != "all_permissions"):
            [(p["permission_level"], p["inherited"]) for p in e["all_permissions"]]
            for e in answer["access_control_list"]}


def test_the_creator_owns_a_new_job_and_admins_manage_it(perms):
    assert _acl(perms.answer(JOB)) == {"creator@x": [(IS_OWNER, False)], "admins": [(CAN_MANAGE, True)]}
    for level in LEVELS:
        perms.require(JOB, CREATOR, level, "do")
        perms.require(JOB, ADMIN, level, "do")
        perms.require(JOB, None, level, "do")  # the workspace itself (the scheduler)
    with pytest.raises(PermissionDenied, match=r"other@x may not run job 7: that needs CAN_VIEW"):
        perms.require(JOB, OTHER, CAN_VIEW, "run")


@pytest.mark.parametrize("granted, allowed", [
    (CAN_VIEW, {CAN_VIEW}),
    (CAN_MANAGE_RUN, {CAN_VIEW, CAN_MANAGE_RUN}),
    (CAN_MANAGE, {CAN_VIEW, CAN_MANAGE_RUN, CAN_MANAGE, IS_OWNER}),
])
def test_each_level_allows_what_it_names_and_nothing_above(perms, granted, allowed):
    perms.apply(JOB, perms.check([{"user_name": "other@x", "permission_level": granted}], CREATOR), replace=False)
    for level in LEVELS:
        if level in allowed:
            perms.require(JOB, OTHER, level, "do")
        else:
            with pytest.raises(PermissionDenied, match="needs CAN_MANAGE"):
                perms.require(JOB, OTHER, level, "do")


def test_a_grant_to_the_users_group_is_a_grant_to_everyone_and_other_groups_to_no_local_user(perms):
    perms.apply(JOB, perms.check([{"group_name": "finance", "permission_level": CAN_MANAGE}], CREATOR), False)
    with pytest.raises(PermissionDenied):
        perms.require(JOB, OTHER, CAN_VIEW, "see")
    perms.apply(JOB, perms.check([{"group_name": "users", "permission_level": CAN_MANAGE_RUN}], CREATOR), False)
    perms.require(JOB, OTHER, CAN_MANAGE_RUN, "run")
    with pytest.raises(PermissionDenied):
        perms.require(JOB, OTHER, CAN_MANAGE, "edit")


def test_put_replaces_the_direct_grants_patch_adds_and_the_owner_stays(perms):
    perms.apply(JOB, perms.check([{"user_name": "other@x", "permission_level": CAN_MANAGE}], CREATOR), False)
    perms.apply(JOB, perms.check([{"group_name": "users", "permission_level": CAN_VIEW}], CREATOR), True)
    assert _acl(perms.answer(JOB)) == {"creator@x": [(IS_OWNER, False)], "users": [(CAN_VIEW, False)],
                                       "admins": [(CAN_MANAGE, True)]}
    # the owner named with a lower level stays the owner
    perms.apply(JOB, perms.check([{"user_name": "creator@x", "permission_level": CAN_VIEW}], CREATOR), False)
    assert perms.owner(JOB) == "creator@x"
    perms.require(JOB, CREATOR, CAN_MANAGE, "edit")


def test_only_an_admin_gives_a_job_away_and_the_old_owner_keeps_can_manage(perms):
    to_robot = [{"service_principal_name": "robot@x", "permission_level": IS_OWNER}]
    with pytest.raises(PermissionDenied, match="Only a workspace admin may make robot@x the owner"):
        perms.check(to_robot, CREATOR, owner="creator@x")
    perms.apply(JOB, perms.check(to_robot, ADMIN, owner="creator@x"), replace=True)
    assert _acl(perms.answer(JOB)) == {"robot@x": [(IS_OWNER, False)], "creator@x": [(CAN_MANAGE, False)],
                                       "admins": [(CAN_MANAGE, True)]}
    assert perms.answer(JOB)["access_control_list"][0] == {
        "service_principal_name": "robot@x", "all_permissions": [{"permission_level": IS_OWNER, "inherited": False}]}


@pytest.mark.parametrize("acl, message", [
    ([{"user_name": "other@x", "permission_level": "CAN_RUN"}],
     r"permission_level 'CAN_RUN': a job's levels are CAN_VIEW, CAN_MANAGE_RUN, IS_OWNER, CAN_MANAGE"),
    ([{"user_name": "other@x", "group_name": "users", "permission_level": CAN_VIEW}], "name exactly one of"),
    ([{"permission_level": CAN_VIEW}], "name exactly one of"),
    ([{"user_name": "ghost@x", "permission_level": CAN_VIEW}], r"ghost@x is not a user.*odoolake users set ghost@x"),
    ([{"group_name": "users", "permission_level": IS_OWNER}], "a group \\(users\\) cannot own a job"),
    ([{"user_name": "creator@x", "permission_level": IS_OWNER},
      {"user_name": "other@x", "permission_level": IS_OWNER}], "exactly one owner"),
    ({"user_name": "other@x"}, "expected a list"),
])
def test_a_bad_access_control_list_is_refused_naming_the_problem_and_nothing_changes(perms, acl, message):
    with pytest.raises(InvalidParameterValue, match=message):
        perms.check(acl, ADMIN, owner="creator@x")
    assert _acl(perms.answer(JOB)) == {"creator@x": [(IS_OWNER, False)], "admins": [(CAN_MANAGE, True)]}


def test_forget_drops_a_deleted_jobs_grants(perms):
    perms.apply(JOB, perms.check([{"user_name": "other@x", "permission_level": CAN_MANAGE}], CREATOR), False)
    perms.forget("7")
    with pytest.raises(PermissionDenied):
        perms.require(JOB, OTHER, CAN_VIEW, "see")


def test_non_admins_run_jobs_only_as_themselves_or_a_service_principal(perms):
    perms.check_run_as({"user_name": "creator@x"}, CREATOR)
    perms.check_run_as({"service_principal_name": "robot@x"}, CREATOR)
    perms.check_run_as({"user_name": "other@x"}, ADMIN)
    perms.check_run_as({"user_name": "owner@x"}, None)
    perms.check_run_as({"user_name": "owner@x"}, CREATOR, present="owner@x")  # kept as found: not asked again
    perms.check_run_as(None, CREATOR)
    with pytest.raises(PermissionDenied, match="creator@x may set run_as only to themselves or to a service "
                                               "principal, not to the user owner@x"):
        perms.check_run_as({"user_name": "owner@x"}, CREATOR)
    with pytest.raises(InvalidParameterValue, match="expected exactly one of user_name or service_principal_name"):
        perms.check_run_as({"user_name": "creator@x", "service_principal_name": "robot@x"}, ADMIN)
    with pytest.raises(InvalidParameterValue, match="'ghost@x' is not a user or service principal"):
        perms.check_run_as({"user_name": "ghost@x"}, ADMIN)


def test_a_pipelines_grants_are_its_own_and_its_run_level_is_can_run(tmp_path):
    db = Database(tmp_path / "ws.db")
    jobs = ObjectPermissions(db, JOBS, USERS.__contains__, {"robot@x"}.__contains__)
    pipelines = ObjectPermissions(db, PIPELINES, USERS.__contains__, {"robot@x"}.__contains__)
    pipeline = Owned("7", "creator@x")  # the same id as a job: the two kinds' grants stay apart
    assert pipelines.kind.run_level == CAN_RUN and jobs.kind.run_level == CAN_MANAGE_RUN
    with pytest.raises(InvalidParameterValue, match="a pipeline's levels are CAN_VIEW, CAN_RUN, IS_OWNER"):
        pipelines.check([{"user_name": "other@x", "permission_level": CAN_MANAGE_RUN}], CREATOR)
    pipelines.apply(pipeline, pipelines.check([{"user_name": "other@x", "permission_level": CAN_RUN}], CREATOR), False)
    pipelines.require(pipeline, OTHER, CAN_RUN, "start")
    with pytest.raises(PermissionDenied, match=r"other@x may not run job 7: that needs CAN_MANAGE_RUN on the job"):
        jobs.require(Owned("7", "creator@x"), OTHER, CAN_MANAGE_RUN, "run")
    with pytest.raises(PermissionDenied, match=r"may not edit pipeline 7: that needs CAN_MANAGE on the pipeline .*"
                                               r"`databricks pipelines update-permissions`"):
        pipelines.require(pipeline, OTHER, CAN_MANAGE, "edit")
    assert pipelines.answer(pipeline)["object_id"] == "/pipelines/7"


def test_a_principal_is_named_as_what_it_is(perms):
    """A manager could write the owner entry as service_principal_name: <a user>."""
    with pytest.raises(InvalidParameterValue, match="owner@x is a user; name it as user_name"):
        perms.check([{"service_principal_name": "owner@x", "permission_level": CAN_VIEW}], ADMIN)
    with pytest.raises(InvalidParameterValue, match="robot@x is a service principal; name it as "
                                                    "service_principal_name"):
        perms.check([{"user_name": "robot@x", "permission_level": CAN_VIEW}], ADMIN)
