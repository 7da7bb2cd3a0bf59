"""Who may touch which files and tables through the engine.

Rules, each named once:
- ``LAKE_ROOTS``: a principal other than an admin reads and writes files only under the lake's roots (the DBFS
  root, Volumes, the managed warehouse); anything else is refused with ``PATH_OUTSIDE_LAKE``. Paths are resolved
  (``..`` and symlinks followed) before the check, so a link inside DBFS cannot lead out of it;
- ``READ_ONLY``: a read-only principal runs queries, never writes (tables, files, DDL), and sends no code of its own
  (Python UDFs, UDTFs, data sources: they run inside the engine with the workspace's rights, refused with
  ``CODE_FROM_READ_ONLY``);
- ``PRODUCTION``: on a production workspace only a service principal writes (jobs deploy and run as one).
``dbfs:/…`` and ``/Volumes/…`` paths are mapped to their local directories for every principal.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from odoolake.config import WorkspacePaths
from odoolake.workspace.engine.identity import CallRefused, Principal
from odoolake.workspace.errors import PermissionDenied
from odoolake.workspace.identity.roles import ADMIN, READ_ONLY, Roles

PATH_OUTSIDE_LAKE = "PATH_OUTSIDE_LAKE"
READ_ONLY_PRINCIPAL = "READ_ONLY_PRINCIPAL"
PRODUCTION_WRITE = "PRODUCTION_WRITE"
CODE_FROM_READ_ONLY = "CODE_FROM_READ_ONLY"
INSUFFICIENT_PERMISSIONS = "INSUFFICIENT_PERMISSIONS"  # the Spark error class Databricks uses for all three
PATH_NOT_FOUND = "PATH_NOT_FOUND"  # Spark's class for a read of files that are not there

_GLOB = re.compile(r"[*?\[{]")


def lake_roots(paths: WorkspacePaths) -> tuple[Path, ...]:
    """The directories ``LAKE_ROOTS`` allows, resolved: the DBFS root, Volumes, the managed warehouse."""
    return tuple(p.resolve() for p in (paths.dbfs_root, paths.volumes, paths.warehouse))


def outside_lake(roots: tuple[Path, ...], who: str, role: str, local_path: str) -> str | None:
    """Why ``LAKE_ROOTS`` refuses ``who`` (of ``role``) the local path ``local_path``, or None when it allows it."""
    if role == ADMIN:
        return None
    if "://" in local_path:
        return (f"[{PATH_OUTSIDE_LAKE}] {local_path!r}: only the lake's own storage (dbfs:/, /Volumes, the warehouse) "
                "can be read or written here.")
    if "\x00" in local_path:
        return f"[{PATH_OUTSIDE_LAKE}] {local_path!r} holds a NUL byte, which no file name can."
    fixed = _GLOB.split(local_path, maxsplit=1)[0]
    # only the part before a wildcard is resolved: a ``..`` at or after it (``/dbfs/[x]/../../..``) would climb out
    # of the lake unseen once the engine expands the pattern
    if fixed != local_path and ".." in local_path[fixed.rfind("/") + 1:].split("/"):
        return (f"[{PATH_OUTSIDE_LAKE}] {local_path!r}: a '..' after a wildcard cannot be checked; name the "
                "directory without it.")
    if not os.path.isabs(fixed):
        return f"[{PATH_OUTSIDE_LAKE}] {local_path!r} is a relative path: name files with dbfs:/… or /Volumes/… paths."
    resolved = Path(fixed).resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        return (f"[{PATH_OUTSIDE_LAKE}] {who} ({role}) may read and write files only under the lake's roots (dbfs:/, "
                f"/Volumes, the warehouse); {local_path!r} is outside them.")
    return None


class AccessRules:
    def __init__(self, paths: WorkspacePaths, roles: Roles) -> None:
        self.paths = paths
        self.roles = roles
        self._production_file = paths.home / "production"

    # -- paths -------------------------------------------------------------------------------------------------

    def roots(self) -> tuple[Path, ...]:
        return lake_roots(self.paths)

    def local(self, path: str) -> str:
        """``dbfs:/x``, ``/dbfs/x``, ``/Volumes/c/s/v/x`` and ``file:/x`` as the local path the engine opens."""
        try:
            lake = self.paths.lake_to_local(path)
        except ValueError as exc:
            raise CallRefused("PERMISSION_DENIED", f"[{PATH_OUTSIDE_LAKE}] {exc}", INSUFFICIENT_PERMISSIONS,
                              "42501") from None
        if lake is not None:
            return str(lake)
        if path.startswith("file://"):
            return path[len("file://"):]
        if path.startswith("file:/"):
            return path[len("file:"):]
        return path

    def check_path(self, principal: Principal, local_path: str) -> None:
        problem = outside_lake(self.roots(), principal.name, principal.role, local_path)
        if problem is not None:
            raise CallRefused("PERMISSION_DENIED", problem, INSUFFICIENT_PERMISSIONS, "42501")

    # -- code ----------------------------------------------------------------------------------------------------

    @staticmethod
    def may_send_code(principal: Principal) -> bool:
        return principal.role != READ_ONLY

    @staticmethod
    def refuse_code(principal: Principal) -> CallRefused:
        return CallRefused(
            "PERMISSION_DENIED",
            f"[{CODE_FROM_READ_ONLY}] {principal.name} ({principal.role}) may run queries but not code in the engine: "
            "Python UDFs, UDTFs and data sources run with the workspace's own rights. Use SQL and built-in "
            "functions, or ask an admin for the developer role.", INSUFFICIENT_PERMISSIONS, "42501")

    @staticmethod
    def check_named_later(principal: Principal) -> None:
        """``LAKE_ROOTS`` for a name only the engine will know (``IDENTIFIER(:param)``): it may be a file path
        (``text.`/etc/…```), so only an admin may use one."""
        if principal.role != ADMIN:
            raise CallRefused("PERMISSION_DENIED", f"[{PATH_OUTSIDE_LAKE}] {principal.name} ({principal.role}): "
                                                   "IDENTIFIER() with a parameter or an expression could name a file "
                                                   "(text.`/path`), and file paths are checked in the statement's "
                                                   "text only; write the name there or as IDENTIFIER('…').",
                              INSUFFICIENT_PERMISSIONS, "42501")

    def map_and_check(self, principal: Principal, path: str) -> str:
        local = self.local(path)
        self.check_path(principal, local)
        return local

    def map_and_check_read(self, principal: Principal, path: str) -> str:
        """``map_and_check`` for a path files are read from: it must exist (a glob must match something), as Spark
        checks before it plans the read (``PATH_NOT_FOUND``); Sail read a missing path as no rows."""
        local = self.map_and_check(principal, path)
        if local.startswith("/") and "{" not in local and not (
                glob.glob(local) if _GLOB.search(local) else os.path.lexists(local)):
            raise CallRefused("INVALID_ARGUMENT", f"[{PATH_NOT_FOUND}] Path does not exist: {path}.",
                              PATH_NOT_FOUND, "42K03")
        return local

    # -- writes ------------------------------------------------------------------------------------------------

    @property
    def production(self) -> bool:
        return self._production_file.exists()

    def check_write(self, principal: Principal, what: str) -> None:
        """The workspace's one rule for data writes (``Roles.check_data_write``), as a Spark error."""
        self.roles.production = self.production
        try:
            self.roles.check_data_write(principal.name, principal.role, what)
        except PermissionDenied as exc:
            code = READ_ONLY_PRINCIPAL if principal.role == READ_ONLY else PRODUCTION_WRITE
            raise CallRefused("PERMISSION_DENIED", f"[{code}] {exc.message}", INSUFFICIENT_PERMISSIONS,
                              "42501") from None
