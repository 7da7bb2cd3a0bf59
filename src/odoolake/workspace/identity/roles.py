"""Workspace users' roles and what each may do.

| role | may |
|---|---|
| ``admin`` | everything (the machine's owner is admin) |
| ``developer`` | everything except deploying to a production workspace |
| ``service_principal`` | what a developer may, and deploy to a production workspace |
| ``read_only`` | read (GET), run read-only SQL, score models, and manage their own tokens |

A workspace started with ``production=True`` (``odoolake up --production``) accepts changes to what a bundle
deploys (jobs, pipelines, notebooks and files, experiments, models, serving endpoints) only from a service
principal, as the seed's RBAC note asks. Running jobs stays open to developers. Users are kept in SQLite.
"""

from __future__ import annotations

import re
import time

from odoolake.workspace.db import Database, ReadCache
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied, ResourceDoesNotExist

ROLES = ("admin", "developer", "service_principal", "read_only")

# POSTs that only read or score, open to read-only users.
READ_POSTS = (
    re.compile(r"^/serving-endpoints/[^/]+/invocations$"),
    re.compile(r"^/model/[^/]+/[^/]+/invocations$"),
    re.compile(r"^/api/2\.0/sql/statements/?$"),  # the statement itself is checked to be read-only by the route
    re.compile(r"^/api/2\.0/mlflow/[\w-]+/search$"),
    re.compile(r"^/api/2\.0/token/(create|delete)$"),
)
# What a bundle deploys: protected on a production workspace.
DEPLOY_PATHS = re.compile(
    r"^/api/2\.\d/(jobs/(create|reset|update|delete)|pipelines(/[^/]+)?$|workspace/(import|mkdirs|delete)"
    r"|workspace-files/import-file/|serving-endpoints|mlflow/(experiments|registered-models)/"
    r"(create|update|delete|rename|restore))")


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
            return "admin"
        return self._row(user) or "developer"

    def exists(self, user: str) -> bool:
        return user == self.owner or self._row(user) is not None

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
        return [("(owner) " + self.owner, "admin"), *[(r["user_name"], r["role"]) for r in rows]]

    def authorize(self, user: str, role: str, method: str, path: str) -> None:
        """Raise PermissionDenied if ``role`` may not make this request."""
        if method in ("GET", "HEAD"):
            return
        if role == "read_only" and not any(p.match(path) for p in READ_POSTS):
            raise PermissionDenied(f"{user} is read-only: they may query and read the workspace, not change it "
                                   f"({method} {path}).")
        if self.production and role != "service_principal" and DEPLOY_PATHS.match(path):
            raise PermissionDenied(f"This is a production workspace: {method} {path} (a deploy) is accepted only "
                                   f"from a service principal, not from {user} ({role}).")
