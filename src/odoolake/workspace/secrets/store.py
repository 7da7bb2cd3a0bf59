"""Secret scopes, secrets and their ACLs, as the Databricks Secrets API defines them.

Permissions are ordered READ < WRITE < MANAGE: READ reads and lists secrets, WRITE also puts and deletes them,
MANAGE also changes the scope's ACL and deletes the scope. The creator of a scope gets MANAGE (or the group
``users`` does, with ``initial_manage_principal: users``); workspace admins manage every scope. Values are sealed
(crypto.py) before they reach SQLite.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from odoolake.workspace.db import Database
from odoolake.workspace.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from odoolake.workspace.identity.roles import ALL_USERS, Caller
from odoolake.workspace.secrets.crypto import load_key, seal, unseal

READ, WRITE, MANAGE = "READ", "WRITE", "MANAGE"
PERMISSIONS = (READ, WRITE, MANAGE)  # in increasing order
BACKEND = "DATABRICKS"
NAME = re.compile(r"^[\w.@-]{1,128}$")
MAX_VALUE_BYTES = 128 * 1024
MAX_SECRETS_PER_SCOPE = 1000


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise InvalidParameterValue(f"Invalid {field} {value!r}: 1-128 letters, digits, '_', '-', '.' or '@'.")
    return value


class SecretStore:
    def __init__(self, db: Database, home: Path, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.home = home
        self.clock = clock
        self._key: bytes | None = None
        self.known_principal: Callable[[str], bool] = lambda name: True  # the workspace sets its users table's

    def sealing_key(self) -> bytes:
        if self._key is None:
            self._key = load_key(self.home)
        return self._key

    # -- permissions -------------------------------------------------------------------------------

    def permission(self, scope: str, caller: Caller) -> str | None:
        if caller.is_admin:
            return MANAGE
        rows = self.db.connect().execute(
            "SELECT permission FROM secret_acls WHERE scope = ? AND principal IN (?, ?)",
            (scope, caller.user, ALL_USERS)).fetchall()
        held = [r["permission"] for r in rows]
        return max(held, key=PERMISSIONS.index) if held else None

    def _require(self, scope: str, caller: Caller, needed: str) -> None:
        self._scope(scope)
        held = self.permission(scope, caller)
        if held is None or PERMISSIONS.index(held) < PERMISSIONS.index(needed):
            raise PermissionDenied(f"{caller.user} needs {needed} permission on secret scope {scope} (has "
                                   f"{held or 'none'}); a MANAGE holder can grant it with secrets/acls/put.")

    def _scope(self, scope: str) -> None:
        _name(scope, "scope")
        row = self.db.connect().execute("SELECT 1 FROM secret_scopes WHERE name = ?", (scope,)).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Scope {scope} does not exist!")

    # -- scopes ------------------------------------------------------------------------------------

    def create_scope(self, scope: object, caller: Caller, initial_manage_principal: object = None,
                     backend_type: object = None) -> None:
        name = _name(scope, "scope")
        if backend_type not in (None, BACKEND):
            raise InvalidParameterValue(f"Invalid scope_backend_type {backend_type!r}: the local workspace keeps "
                                        f"{BACKEND} scopes (Azure Key Vault scopes live in Azure).")
        if initial_manage_principal not in (None, ALL_USERS):
            raise InvalidParameterValue(f"Invalid initial_manage_principal {initial_manage_principal!r}: omit it "
                                        f"(the creator manages the scope) or use {ALL_USERS!r}.")
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM secret_scopes WHERE name = ?", (name,)).fetchone():
                raise ResourceAlreadyExists(f"Scope {name} already exists!")
            conn.execute("INSERT INTO secret_scopes(name, backend_type, creator, created) VALUES (?, ?, ?, ?)",
                         (name, BACKEND, caller.user, int(self.clock() * 1000)))
            conn.execute("INSERT INTO secret_acls(scope, principal, permission) VALUES (?, ?, ?)",
                         (name, initial_manage_principal or caller.user, MANAGE))

    def delete_scope(self, scope: object, caller: Caller) -> None:
        name = _name(scope, "scope")
        self._require(name, caller, MANAGE)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM secret_scopes WHERE name = ?", (name,))

    def scopes(self) -> list[dict]:
        rows = self.db.connect().execute("SELECT name, backend_type FROM secret_scopes ORDER BY name").fetchall()
        return [{"name": r["name"], "backend_type": r["backend_type"]} for r in rows]

    # -- secrets -----------------------------------------------------------------------------------

    def put(self, scope: object, key: object, value: bytes, caller: Caller) -> None:
        name, key_name = _name(scope, "scope"), _name(key, "key")
        self._require(name, caller, WRITE)
        if len(value) > MAX_VALUE_BYTES:
            raise InvalidParameterValue(f"The secret value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}.",
                                        error_code="MAX_SECRET_SIZE_EXCEEDED")
        sealed = seal(self.sealing_key(), f"{name}/{key_name}", value)
        with self.db.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM secrets WHERE scope = ? AND key != ?",
                                 (name, key_name)).fetchone()[0]
            if count >= MAX_SECRETS_PER_SCOPE:
                raise InvalidParameterValue(f"Scope {name} already holds {MAX_SECRETS_PER_SCOPE} secrets, the limit.",
                                            error_code="MAX_SECRETS_PER_SCOPE_EXCEEDED")
            conn.execute("INSERT INTO secrets(scope, key, sealed, updated) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(scope, key) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated",
                         (name, key_name, sealed, int(self.clock() * 1000)))

    def delete(self, scope: object, key: object, caller: Caller) -> None:
        name, key_name = _name(scope, "scope"), _name(key, "key")
        self._require(name, caller, WRITE)
        with self.db.transaction() as conn:
            if not conn.execute("DELETE FROM secrets WHERE scope = ? AND key = ?", (name, key_name)).rowcount:
                raise ResourceDoesNotExist(f"Secret {key_name} does not exist in scope {name}!")

    def list_secrets(self, scope: object, caller: Caller) -> list[dict]:
        name = _name(scope, "scope")
        self._require(name, caller, READ)
        rows = self.db.connect().execute("SELECT key, updated FROM secrets WHERE scope = ? ORDER BY key", (name,))
        return [{"key": r["key"], "last_updated_timestamp": r["updated"]} for r in rows]

    def get(self, scope: object, key: object, caller: Caller) -> bytes:
        name, key_name = _name(scope, "scope"), _name(key, "key")
        self._require(name, caller, READ)
        row = self.db.connect().execute("SELECT sealed FROM secrets WHERE scope = ? AND key = ?",
                                        (name, key_name)).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Secret {key_name} does not exist in scope {name}!")
        return unseal(self.sealing_key(), f"{name}/{key_name}", row["sealed"])

    # -- ACLs --------------------------------------------------------------------------------------

    def put_acl(self, scope: object, principal: object, permission: object, caller: Caller) -> None:
        name = _name(scope, "scope")
        if not isinstance(principal, str) or not principal.strip():
            raise InvalidParameterValue("Invalid principal: a user name, a service principal or 'users' is required.")
        if "@" in principal and not self.known_principal(principal):  # other names are groups, as in permissions
            raise InvalidParameterValue(f"Invalid principal: {principal} is not a user of this workspace (add it "
                                        f"with: odoolake users set {principal} developer).")
        if permission not in PERMISSIONS:
            raise InvalidParameterValue(f"Invalid permission {permission!r}: expected one of {', '.join(PERMISSIONS)}.")
        self._require(name, caller, MANAGE)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO secret_acls(scope, principal, permission) VALUES (?, ?, ?) "
                         "ON CONFLICT(scope, principal) DO UPDATE SET permission = excluded.permission",
                         (name, principal, permission))

    def delete_acl(self, scope: object, principal: object, caller: Caller) -> None:
        name = _name(scope, "scope")
        self._require(name, caller, MANAGE)
        with self.db.transaction() as conn:
            if not conn.execute("DELETE FROM secret_acls WHERE scope = ? AND principal = ?",
                                (name, principal)).rowcount:
                raise ResourceDoesNotExist(f"No ACL for {principal} on scope {name}.")

    def acls(self, scope: object, caller: Caller) -> list[dict]:
        name = _name(scope, "scope")
        self._require(name, caller, MANAGE)
        rows = self.db.connect().execute("SELECT principal, permission FROM secret_acls WHERE scope = ? "
                                         "ORDER BY principal", (name,))
        return [{"principal": r["principal"], "permission": r["permission"]} for r in rows]

    def acl(self, scope: object, principal: object, caller: Caller) -> dict:
        found = [a for a in self.acls(scope, caller) if a["principal"] == principal]
        if not found:
            raise ResourceDoesNotExist(f"No ACL for {principal} on scope {scope}.")
        return found[0]
