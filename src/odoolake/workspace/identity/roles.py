"""Workspace users' roles and what each may do.

| role | may |
|---|---|
| ``admin`` | everything (the machine's owner is admin) |
| ``developer`` | all but deploying to a production workspace; in the tree, only ``/Shared/…`` and ``/Users/<self>/…`` |
| ``service_principal`` | what a developer may, and deploy to a production workspace |
| ``read_only`` | read (GET), run read-only SQL, score models, and manage their own tokens |

A workspace started with ``production=True`` (``odoolake up --production``) accepts every change to deployed code
or data (jobs, runs/submit, notebooks and files, DBFS and Volumes, SQL writes, Spark Connect writes, pipelines,
experiments, models, serving endpoints, secrets) only from a service principal, as the seed's RBAC note asks.
Running and cancelling the deployed jobs stays open to developers. Users are kept in SQLite.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from odoolake.workspace.db import Database, ReadCache
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied, ResourceDoesNotExist

ADMIN, DEVELOPER, SERVICE_PRINCIPAL, READ_ONLY = "admin", "developer", "service_principal", "read_only"
ROLES = (ADMIN, DEVELOPER, SERVICE_PRINCIPAL, READ_ONLY)
ALL_USERS, ADMINS = "users", "admins"  # Databricks' built-in groups: every user, and the workspace admins


@dataclass(frozen=True)
class Caller:
    """Who makes a request, as object permissions (secret scopes, jobs, pipelines) need to know it."""

    user: str
    is_admin: bool = False

# POSTs that only read, score or manage the caller's own things: open to read-only users. Anything not listed here
# is a change (an allow-list: a new route is protected until it is added on purpose).
READ_POSTS = (
    re.compile(r"^/serving-endpoints/[^/]+/(served-models/[^/]+/)?invocations$"),
    re.compile(r"^/model/[^/]+/[^/]+/invocations$"),
    re.compile(r"^/api/2\.0/sql/statements/?$"),  # the statement itself is checked to be read-only by the route
    re.compile(r"^/api/2\.0/sql/statements/[^/]+/cancel$"),  # the route lets read-only users cancel only their own
    re.compile(r"^/sql/1\.0/warehouses/[^/]+$"),  # the SQL connector's Thrift calls: the engine checks each statement
    re.compile(r"^/api/[23]\.0/mlflow/[\w-]+/search$"),  # runs, experiments, logged models, traces (v3)
    # what MLflow's client sends when anyone loads a Unity Catalog model: its (best-effort) downstream lineage
    re.compile(r"^/api/2\.0/mlflow/unity-catalog/model-versions/emit-lineage$"),
    re.compile(r"^/api/2\.0/token/(create|delete)$"),  # the Token API acts on the caller's own tokens only
)
# What operating a production workspace takes, open to everyone but read-only users there: running and stopping
# what is deployed. Everything else that changes the workspace (jobs, runs/submit, notebooks and files, DBFS and
# Volumes, SQL writes, pipelines, models, endpoints, secrets) is a deploy, accepted only from a service principal.
OPERATE_POSTS = (
    re.compile(r"^/api/2\.\d/jobs/(run-now|runs/cancel|runs/cancel-all)$"),
    re.compile(r"^/api/2\.0/pipelines/[^/]+/(updates|stop)$"),
    re.compile(r"^/api/2\.\d/clusters/(start|restart)$"),
    re.compile(r"^/api/2\.0/sql/warehouses/[^/]+/(start|stop)$"),
)


class Roles:
    def __init__(self, db: Database, owner: str, production: bool = False) -> None:
        self.db = db
        self.owner = owner
        self.production = production
        self._roles = ReadCache(db)  # asked on every request: read once until something commits

    def _row(self, user: str) -> str | None:
        def load() -> str | None:
            row = self.db.connect().execute("SELECT role FROM users WHERE user_name = ?", (user,)).fetchone()
            return row["role"] if row else None

        return self._roles.get(user, load)

    def role_of(self, user: str) -> str:
        if user == self.owner:
            return ADMIN
        return self._row(user) or DEVELOPER

    def exists(self, user: str) -> bool:
        return user == self.owner or self._row(user) is not None

    def is_service_principal(self, user: str) -> bool:
        return user != self.owner and self._row(user) == SERVICE_PRINCIPAL

    def set_role(self, user: str, role: str) -> None:
        if role not in ROLES:
            raise InvalidParameterValue(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO users(user_name, role, created) VALUES (?, ?, ?) "
                         "ON CONFLICT(user_name) DO UPDATE SET role = excluded.role", (user, role, int(time.time())))
        self._roles.clear()

    def remove(self, user: str) -> None:
        with self.db.transaction() as conn:
            if not conn.execute("DELETE FROM users WHERE user_name = ?", (user,)).rowcount:
                raise ResourceDoesNotExist(f"User {user} does not exist.")
        self._roles.clear()

    def users(self) -> list[tuple[str, str]]:
        rows = self.db.connect().execute("SELECT user_name, role FROM users ORDER BY user_name").fetchall()
        return [("(owner) " + self.owner, ADMIN), *[(r["user_name"], r["role"]) for r in rows]]

    def authorize(self, user: str, role: str, method: str, path: str) -> None:
        """Raise PermissionDenied if ``role`` may not make this request.

        1. GET and HEAD read, and are open to every role.
        2. A read-only user may make only the READ_POSTS.
        3. On a production workspace, anyone but a service principal may make only READ_POSTS and OPERATE_POSTS.
        """
        if method in ("GET", "HEAD"):
            return
        if role == READ_ONLY and not any(p.match(path) for p in READ_POSTS):
            raise PermissionDenied(f"{user} is read-only: they may query and read the workspace, not change it "
                                   f"({method} {path}).")
        if self.production and role != SERVICE_PRINCIPAL and not any(p.match(path) for p in (*READ_POSTS,
                                                                                           *OPERATE_POSTS)):
            raise PermissionDenied(f"This is a production workspace: {method} {path} (a deploy) is accepted only "
                                   f"from a service principal, not from {user} ({role}).")

    def check_data_write(self, user: str, role: str, action: str) -> None:
        """Raise PermissionDenied unless ``user`` may change tables or files by ``action``, a phrase such as
        "a statement that writes (…)" or "a Spark Connect write to gold.x".

        The one rule for writes that do not show in the HTTP method and path: SQL statements, and writes through
        Spark Connect (the front door calls this for every plan that writes). Read-only users never write; on a
        production workspace only service principals do.
        """
        if role == READ_ONLY:
            raise PermissionDenied(f"{user} is read-only and may only run read-only SQL, not {action}.")
        if self.production and role != SERVICE_PRINCIPAL:
            raise PermissionDenied(f"This is a production workspace: {action} changes deployed data and is accepted "
                                   f"only from a service principal, not from {user} ({role}).")
