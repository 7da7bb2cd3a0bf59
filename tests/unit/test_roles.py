"""The role rules of identity/roles.py as a table: every verb that changes something is refused where it must be.

Written from the rules in docs/reliability.md (the Roles table), not from the code's regular expressions.
"""

from __future__ import annotations

import pytest

from odoolake.workspace.db import Database
from odoolake.workspace.errors import PermissionDenied
from odoolake.workspace.identity.roles import ADMIN, DEVELOPER, READ_ONLY, ROLES, SERVICE_PRINCIPAL, Roles

OWNER = "owner@localhost"

READS = [("GET", "/api/2.2/jobs/list"), ("HEAD", "/api/2.0/fs/files/Volumes/main/default/v/a.csv"),
         ("GET", "/api/2.0/dbfs/read")]
# Calls that read, score or act on the caller's own things: open to every role, production or not.
READ_POSTS = [("POST", "/serving-endpoints/bir-forecast/invocations"),
              ("POST", "/serving-endpoints/bir-forecast/served-models/live/invocations"),
              ("POST", "/model/bir_tax_forecaster/champion/invocations"),
              ("POST", "/api/2.0/sql/statements"), ("POST", "/api/2.0/sql/statements/01ab/cancel"),
              ("POST", "/api/2.0/mlflow/experiments/search"), ("POST", "/api/3.0/mlflow/traces/search"),
              ("POST", "/api/2.0/token/create"),
              ("POST", "/api/2.0/token/delete")]
# Operating deployed jobs: open to all but read-only users, also in production.
OPERATE = [("POST", "/api/2.2/jobs/run-now"), ("POST", "/api/2.1/jobs/runs/cancel"),
           ("POST", "/api/2.2/jobs/runs/cancel-all"), ("POST", "/api/2.0/pipelines/p1/updates")]
# Changes to deployed code or data: every verb that is not a read.
CHANGES = [("POST", "/api/2.2/jobs/create"), ("POST", "/api/2.2/jobs/reset"), ("POST", "/api/2.1/jobs/delete"),
           ("POST", "/api/2.2/jobs/runs/submit"), ("POST", "/api/2.2/jobs/runs/delete"),
           ("POST", "/api/2.0/workspace/import"), ("POST", "/api/2.0/workspace/delete"),
           ("POST", "/api/2.0/workspace-files/import-file/Shared/x.py"),
           ("POST", "/api/2.0/dbfs/put"), ("POST", "/api/2.0/dbfs/create"), ("POST", "/api/2.0/dbfs/add-block"),
           ("POST", "/api/2.0/dbfs/move"), ("POST", "/api/2.0/dbfs/delete"),
           ("PUT", "/api/2.0/fs/files/Volumes/main/default/v/a.csv"),
           ("DELETE", "/api/2.0/fs/files/Volumes/main/default/v/a.csv"),
           ("PUT", "/api/2.0/fs/directories/Volumes/main/default/v/d"),
           ("DELETE", "/api/2.0/fs/directories/Volumes/main/default/v/d"),
           ("PUT", "/api/2.0/pipelines/p1"), ("DELETE", "/api/2.0/pipelines/p1"), ("POST", "/api/2.0/pipelines"),
           ("POST", "/api/2.0/serving-endpoints"), ("PUT", "/api/2.0/serving-endpoints/e/config"),
           ("DELETE", "/api/2.0/serving-endpoints/e"), ("PATCH", "/api/2.0/mlflow/registered-models/update"),
           ("DELETE", "/api/2.0/mlflow/registered-models/delete"), ("POST", "/api/2.0/secrets/put"),
           ("POST", "/api/2.0/secrets/scopes/create"), ("POST", "/api/2.0/secrets/acls/put")]


@pytest.fixture()
def roles(tmp_path):
    def make(production: bool) -> Roles:
        r = Roles(Database(tmp_path / f"{production}.db"), OWNER, production)
        for role in ROLES:
            if role != ADMIN:
                r.set_role(f"{role}@example.ph", role)
        return r
    return make


def _allowed(r: Roles, role: str, method: str, path: str) -> bool:
    user = OWNER if role == ADMIN else f"{role}@example.ph"
    assert r.role_of(user) == role
    try:
        r.authorize(user, role, method, path)
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize("production", [False, True])
@pytest.mark.parametrize("role", ROLES)
def test_the_role_table(roles, role, production):
    r = roles(production)
    assert all(_allowed(r, role, m, p) for m, p in READS + READ_POSTS)
    assert all(_allowed(r, role, m, p) is (role != READ_ONLY) for m, p in OPERATE)
    may_change = role != READ_ONLY and (not production or role == SERVICE_PRINCIPAL)
    wrong = [(m, p) for m, p in CHANGES if _allowed(r, role, m, p) is not may_change]
    assert not wrong, f"{role} (production={production}): {wrong}"


@pytest.mark.parametrize(("role", "production", "allowed"), [
    (ADMIN, False, True), (DEVELOPER, False, True), (SERVICE_PRINCIPAL, False, True), (READ_ONLY, False, False),
    (ADMIN, True, False), (DEVELOPER, True, False), (SERVICE_PRINCIPAL, True, True), (READ_ONLY, True, False),
])
def test_data_writes_outside_the_http_verb(roles, role, production, allowed):
    """The hook SQL writes and Spark Connect writes go through (check_data_write)."""
    r = roles(production)
    user = OWNER if role == ADMIN else f"{role}@example.ph"
    if allowed:
        r.check_data_write(user, role, "a Spark Connect write to gold.x")
        return
    expected = "read-only and may only run read-only SQL" if role == READ_ONLY else "production workspace"
    with pytest.raises(PermissionDenied, match=expected) as caught:
        r.check_data_write(user, role, "a Spark Connect write to gold.x")
    assert "a Spark Connect write to gold.x" in caught.value.message and user in caught.value.message


def test_users_without_a_row_are_developers_and_unknown_roles_are_refused(roles):
    r = roles(False)
    assert r.role_of("stranger@example.ph") == DEVELOPER and not r.exists("stranger@example.ph")
    assert r.role_of(OWNER) == ADMIN
    with pytest.raises(Exception, match="Unknown role 'root'"):
        r.set_role("x@example.ph", "root")
