"""Permissions of jobs and pipelines (access control lists), as Databricks' Permissions API keeps them.

| level | job | pipeline |
|---|---|---|
| ``CAN_VIEW`` | see the job and its runs | see the pipeline and its updates |
| ``CAN_MANAGE_RUN`` / ``CAN_RUN`` | also run it now and cancel its runs | also start and stop updates |
| ``IS_OWNER`` | also edit and delete it and change its permissions; one user or service principal | the same |
| ``CAN_MANAGE`` | the same as the owner, without being it | the same |

(Locally every user sees every job and pipeline: there is no visibility control.) The creator owns an object
until an admin gives it to someone else (the previous owner then keeps ``CAN_MANAGE``, as Databricks does).
Workspace admins hold ``CAN_MANAGE`` on everything (inherited from the ``admins`` group), and a grant to the group
``users`` is a grant to every user. Other groups are kept and shown, but no local user is in them (the local
workspace has no groups of its own).

Whom a job runs as is part of the same rule: a non-admin may set ``run_as`` only to themselves or to a service
principal (every local user holds Databricks' Service Principal User role on the service principals), never to
another user, whose rights the job's runs would otherwise get.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from odoolake.workspace.db import Database
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied
from odoolake.workspace.identity.roles import ADMINS, ALL_USERS, Caller

CAN_VIEW, CAN_MANAGE_RUN, CAN_RUN, IS_OWNER, CAN_MANAGE = (
    "CAN_VIEW", "CAN_MANAGE_RUN", "CAN_RUN", "IS_OWNER", "CAN_MANAGE")
RANK = {CAN_VIEW: 1, CAN_MANAGE_RUN: 2, CAN_RUN: 2, IS_OWNER: 3, CAN_MANAGE: 3}  # owner and manager may do the same
USER, SERVICE_PRINCIPAL, GROUP = "user_name", "service_principal_name", "group_name"
PRINCIPAL_KINDS = (USER, SERVICE_PRINCIPAL, GROUP)


@dataclass(frozen=True)
class ObjectKind:
    """One kind of object the Permissions API keeps: its path segment, its name, and its levels in order."""

    api_type: str  # /api/2.0/permissions/<api_type>/<id>
    object_type: str  # the answer's object_type
    noun: str
    descriptions: dict[str, str]

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.descriptions)

    @property
    def run_level(self) -> str:
        return next(level for level in self.levels if RANK[level] == 2)


JOBS = ObjectKind("jobs", "job", "job", {
    CAN_VIEW: "Can view the job and its runs",
    CAN_MANAGE_RUN: "Can view, run now and cancel runs of the job",
    IS_OWNER: "Owns the job: can edit and delete it and change its permissions",
    CAN_MANAGE: "Can edit and delete the job and change its permissions",
})
PIPELINES = ObjectKind("pipelines", "pipelines", "pipeline", {
    CAN_VIEW: "Can view the pipeline and its updates",
    CAN_RUN: "Can view the pipeline, and start and stop its updates",
    IS_OWNER: "Owns the pipeline: can edit and delete it and change its permissions",
    CAN_MANAGE: "Can edit and delete the pipeline and change its permissions",
})


@dataclass(frozen=True)
class Grant:
    kind: str  # one of PRINCIPAL_KINDS
    principal: str
    level: str


@dataclass(frozen=True)
class Owned:
    """An object whose permissions are asked about: its id, and who made it (its owner until an admin says)."""

    object_id: str
    creator: str


class ObjectPermissions:
    def __init__(self, db: Database, kind: ObjectKind, known_principal: Callable[[str], bool],
                 is_service_principal: Callable[[str], bool]) -> None:
        self.db = db
        self.kind = kind
        self.known_principal = known_principal
        self.is_service_principal = is_service_principal

    # -- reading ---------------------------------------------------------------------------------

    def _rows(self, obj: Owned) -> list[Grant]:
        rows = self.db.connect().execute(
            "SELECT kind, principal, level FROM object_permissions WHERE object_type = ? AND object_id = ? "
            "ORDER BY kind, principal", (self.kind.api_type, obj.object_id)).fetchall()
        return [Grant(r["kind"], r["principal"], r["level"]) for r in rows]

    def _kind_of(self, name: str) -> str:
        return SERVICE_PRINCIPAL if self.is_service_principal(name) else USER

    def grants(self, obj: Owned) -> list[Grant]:
        """The object's direct grants, its owner first (the creator while no one else was made owner)."""
        rows = self._rows(obj)
        owner = next((g for g in rows if g.level == IS_OWNER), None) or Grant(self._kind_of(obj.creator),
                                                                              obj.creator, IS_OWNER)
        return [owner, *(g for g in rows if g.level != IS_OWNER and g.principal != owner.principal)]

    def owner(self, obj: Owned) -> str:
        return self.grants(obj)[0].principal

    def rank_of(self, obj: Owned, caller: Caller) -> int:
        if caller.is_admin:
            return RANK[CAN_MANAGE]
        return max((RANK[g.level] for g in self.grants(obj)
                    if (g.kind != GROUP and g.principal == caller.user) or (g.kind == GROUP and g.principal == ALL_USERS)),
                   default=0)

    def require(self, obj: Owned, caller: Caller | None, level: str, action: str) -> None:
        """Raise PermissionDenied unless ``caller`` (None: the workspace itself) holds ``level`` on the object."""
        if caller is None or self.rank_of(obj, caller) >= RANK[level]:
            return
        needed = CAN_MANAGE if RANK[level] == RANK[CAN_MANAGE] else level
        noun = self.kind.noun
        raise PermissionDenied(f"{caller.user} may not {action} {noun} {obj.object_id}: that needs {needed} on the "
                               f"{noun} (its owner {self.owner(obj)} or an admin can grant it with "
                               f"`databricks {self.kind.api_type} update-permissions`).")

    def answer(self, obj: Owned) -> dict:
        """The Permissions API's document for the object."""
        root = f"/{self.kind.api_type}/"
        acl: list[dict[str, Any]] = [{g.kind: g.principal, "all_permissions": [
            {"permission_level": g.level, "inherited": False}]} for g in self.grants(obj)]
        acl.append({GROUP: ADMINS, "all_permissions": [
            {"permission_level": CAN_MANAGE, "inherited": True, "inherited_from_object": [root]}]})
        return {"object_id": f"{root}{obj.object_id}", "object_type": self.kind.object_type,
                "access_control_list": acl}

    def levels(self) -> dict:
        return {"permission_levels": [{"permission_level": level, "description": text}
                                      for level, text in self.kind.descriptions.items()]}

    # -- changing --------------------------------------------------------------------------------

    def _grants(self, acl: Any, where: str) -> list[Grant]:
        """An access control list of the API (``[{"user_name": …, "permission_level": …}]``), entry by entry."""
        if not isinstance(acl, list):
            raise InvalidParameterValue(f"Invalid {where}: expected a list of access control entries.")
        grants: dict[tuple[str, str], Grant] = {}
        for i, entry in enumerate(acl):
            if not isinstance(entry, dict):
                raise InvalidParameterValue(f"Invalid {where}[{i}]: expected an object.")
            named = [kind for kind in PRINCIPAL_KINDS if entry.get(kind)]
            if len(named) != 1 or not isinstance(entry[named[0]], str):
                raise InvalidParameterValue(f"Invalid {where}[{i}]: name exactly one of user_name, "
                                            f"service_principal_name or group_name.")
            level = entry.get("permission_level")
            if level not in self.kind.levels:
                raise InvalidParameterValue(f"Invalid {where}[{i}].permission_level {level!r}: a {self.kind.noun}'s "
                                            f"levels are {', '.join(self.kind.levels)}.")
            key = (named[0], entry[named[0]])
            known = grants.get(key)
            if known is None or RANK[level] > RANK[known.level] or level == IS_OWNER:
                grants[key] = Grant(named[0], entry[named[0]], level)
        return list(grants.values())

    def check(self, acl: Any, caller: Caller | None, where: str = "access_control_list",
              owner: str | None = None) -> list[Grant]:
        """``acl`` checked before anything is written: the grants it makes. ``owner`` is the object's present owner
        (None for an object not yet made, whose owner will be ``caller``)."""
        grants = self._grants(acl, where)
        owners = [g for g in grants if g.level == IS_OWNER]
        if len(owners) > 1:
            raise InvalidParameterValue(f"Invalid {where}: a {self.kind.noun} has exactly one owner; "
                                        f"{', '.join(g.principal for g in owners)} are all IS_OWNER.")
        for g in grants:
            if g.kind != GROUP and not self.known_principal(g.principal):
                raise InvalidParameterValue(f"Invalid {where}: {g.principal} is not a user or service principal "
                                            f"of this workspace (add it with: odoolake users set {g.principal} "
                                            f"developer).")
            if g.kind != GROUP and g.kind != self._kind_of(g.principal):
                actual = "a service principal" if self._kind_of(g.principal) == SERVICE_PRINCIPAL else "a user"
                raise InvalidParameterValue(f"Invalid {where}: {g.principal} is {actual}; name it as "
                                            f"{self._kind_of(g.principal)}.")
        if owners:
            new_owner = owners[0]
            if new_owner.kind == GROUP:
                raise InvalidParameterValue(f"Invalid {where}: a group ({new_owner.principal}) cannot own a "
                                            f"{self.kind.noun}; the owner is a user or a service principal.")
            present = owner if owner is not None else (caller.user if caller else None)
            if new_owner.principal != present and caller is not None and not caller.is_admin:
                raise PermissionDenied(f"Only a workspace admin may make {new_owner.principal} the owner of a "
                                       f"{self.kind.noun} (its owner is {present}).")
        return grants

    def apply(self, obj: Owned, grants: list[Grant], replace: bool) -> None:
        """Store checked grants: ``replace`` (PUT) makes them the object's only direct grants, else (PATCH) each one
        sets its principal's level. A list without an owner keeps the present one; a new owner leaves the previous
        one with CAN_MANAGE."""
        previous = self.grants(obj)[0]
        new_owner = next((g for g in grants if g.level == IS_OWNER), None)
        key = (self.kind.api_type, obj.object_id)
        insert = ("INSERT OR REPLACE INTO object_permissions(object_type, object_id, kind, principal, level) "
                  "VALUES (?, ?, ?, ?, ?)")
        with self.db.transaction() as conn:
            if replace:
                conn.execute("DELETE FROM object_permissions WHERE object_type = ? AND object_id = ? AND level != ?",
                             (*key, IS_OWNER))
            for g in grants:
                conn.execute("DELETE FROM object_permissions WHERE object_type = ? AND object_id = ? AND kind = ? "
                             "AND principal = ?", (*key, g.kind, g.principal))
            if new_owner is not None:
                conn.execute("DELETE FROM object_permissions WHERE object_type = ? AND object_id = ? AND level = ?",
                             (*key, IS_OWNER))
                if new_owner.principal != previous.principal:
                    conn.execute(insert, (*key, previous.kind, previous.principal, CAN_MANAGE))
            conn.executemany(insert, [(*key, g.kind, g.principal, g.level) for g in grants])
            if new_owner is None:  # the present owner stays owner, whatever the list named them
                conn.execute("DELETE FROM object_permissions WHERE object_type = ? AND object_id = ? "
                             "AND principal = ? AND kind != ?", (*key, previous.principal, GROUP))
                conn.execute(insert, (*key, previous.kind, previous.principal, IS_OWNER))

    def forget(self, object_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM object_permissions WHERE object_type = ? AND object_id = ?",
                         (self.kind.api_type, object_id))

    # -- run_as ----------------------------------------------------------------------------------

    def check_run_as(self, run_as: Any, caller: Caller | None, present: str | None = None) -> None:
        """A job's or pipeline's ``run_as``: one user or service principal of the workspace, which a non-admin
        ``caller`` may name only if it is themselves or a service principal (asked only when it changes from
        ``present``, whom the object runs as now)."""
        if not run_as:
            return
        if not isinstance(run_as, dict) or len(run_as) != 1 or next(iter(run_as)) not in (USER, SERVICE_PRINCIPAL):
            raise InvalidParameterValue("Invalid run_as: expected exactly one of user_name or service_principal_name.")
        name = next(iter(run_as.values()))
        if not isinstance(name, str) or not self.known_principal(name):
            raise InvalidParameterValue(f"Invalid run_as: {name!r} is not a user or service principal of this "
                                        f"workspace (add it with: odoolake users set {name} service_principal).")
        if name == present or caller is None or caller.is_admin or name == caller.user or \
                self.is_service_principal(name):
            return
        raise PermissionDenied(f"Invalid run_as: {caller.user} may set run_as only to themselves or to a service "
                               f"principal, not to the user {name} (a workspace admin may).")
