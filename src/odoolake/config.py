"""Where the local workspace keeps its files.

Everything lives under one root, ``ODOOLAKE_HOME`` (default ``./.odoolake``), always made absolute:
Sail rejects relative warehouse paths, and absolute paths keep tables valid whatever the cwd.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from odoolake.errors import WorkspaceRootError

# Sail 0.7 writes a table under the path of its file URL as it is, escapes included: under /home/my lake, into
# /home/my%20lake (then reads it back from there, so nothing fails but the files sit outside the root, where
# delta-rs and the catalog do not find them); its Parquet writer escapes '~', '^' and '|' too
URL_ESCAPED = "the engine would keep tables' files beside it, in a folder named with URL escapes (%XX)"
# Characters a workspace root cannot hold, and why. Checked when a WorkspacePaths is made, so a command says so at once
# rather than failing inside the engine (or, for a glob, reading another table's files).
ROOT_CHARACTERS_REFUSED = {
    "*?[]{}": "the engine reads a table's path as a glob pattern",
    "#,%": "the engine's socket address would be cut or decoded there",
    "\\": "a file URL reads it as a folder separator",
    ' "<>`~^|': URL_ESCAPED,
}
SOCKET_IN_ROOT = Path("run", "engine.sock")  # the longest socket path under a root (the engine host's sockets)
SOCKET_PATH_LIMIT = 107  # bytes in an AF_UNIX socket's path (sun_path holds 108 with its NUL)


def root_problem(home: Path) -> str | None:
    """Why ``home`` (absolute) cannot be a workspace root, or None."""
    text = str(home)
    for refused, why in ROOT_CHARACTERS_REFUSED.items():
        found = sorted({c for c in text if c in refused})
        if found:
            return f"its path holds {' '.join(repr(c) for c in found)}, and {why}"
    controls = sorted({c for c in text if ord(c) < 32 or ord(c) == 127})
    if controls:
        return f"its path holds a control character ({', '.join(repr(c) for c in controls)})"
    wide = sorted({c for c in text if ord(c) > 127})
    if wide:
        return f"its path holds {' '.join(repr(c) for c in wide)} (not ASCII), and {URL_ESCAPED}"
    if len(os.fsencode(home / SOCKET_IN_ROOT)) > SOCKET_PATH_LIMIT:
        return (f"its path is too long for the engine's socket {SOCKET_IN_ROOT} under it (at most "
                f"{SOCKET_PATH_LIMIT - len(os.fsencode(Path('/') / SOCKET_IN_ROOT))} bytes)")
    if home.exists() and not home.is_dir():
        return "it is a file, not a folder"
    return None


DEFAULT_PORT = 8765  # the workspace's one port (REST, Spark Connect, SQL) unless --port says otherwise
DEFAULT_HOME = ".odoolake"
LOG = logging.getLogger(__name__)
# Until 2026-12-04 the Files API kept ``/Volumes/x`` in ``<volumes>/Volumes/x`` and ``dbfs:/Volumes/x`` was a DBFS
# folder, while Spark read ``/Volumes/x`` from ``<volumes>/x``: ``ensure`` moves such files once to where every reader
# now looks, and leaves this mark in ``<volumes>``.
VOLUMES_LAYOUT_MARK = ".odoolake-volumes-layout-2"


@dataclass(frozen=True)
class WorkspacePaths:
    home: Path

    def __post_init__(self) -> None:
        problem = root_problem(self.home)
        if problem:
            raise WorkspaceRootError(str(self.home), problem)

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> WorkspacePaths:
        raw = home or os.environ.get("ODOOLAKE_HOME") or DEFAULT_HOME  # empty is unset (it meant the current folder)
        try:
            return cls(Path(raw).expanduser().resolve())
        except WorkspaceRootError as exc:  # named as the user wrote it too
            raise WorkspaceRootError(exc.root, exc.problem, os.fspath(raw)) from None

    @property
    def workspace_id(self) -> str:
        """The workspace's numeric id (``.well-known``, ``X-Databricks-Org-Id``), derived from its root."""
        return str(zlib.crc32(str(self.home).encode()) % 10**15 + 10**15)

    @property
    def warehouse(self) -> Path:
        """Delta tables: ``<warehouse>/<schema>/<table>``."""
        return self.home / "warehouse"

    @property
    def volumes(self) -> Path:
        """Unity Catalog Volumes: ``/Volumes/<catalog>/<schema>/<volume>/x`` is ``<volumes>/<catalog>/…/x``."""
        return self.home / "volumes"

    @property
    def dbfs_root(self) -> Path:
        """The local DBFS root: ``dbfs:/x`` is ``<dbfs_root>/x``."""
        return self.home / "dbfs"

    @property
    def registry_file(self) -> Path:
        return self.home / "tables.json"

    @property
    def mlflow_db(self) -> Path:
        """The workspace's MLflow tracking and registry store (SQLite)."""
        return self.home / "mlflow" / "mlflow.db"

    @property
    def spill_dir(self) -> Path:
        return self.home / "tmp"

    def make(self, path: Path) -> Path:
        """Make ``path`` (a folder of this root) if it is missing; a WorkspaceRootError naming it if it cannot be."""
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceRootError(str(self.home), f"cannot make {path}: {exc.strerror or exc}") from None
        return path

    def ensure(self) -> WorkspacePaths:
        for path in (self.home, self.warehouse, self.dbfs_root, self.spill_dir, self.volumes):
            self.make(path)
        mark = self.volumes / VOLUMES_LAYOUT_MARK
        if not mark.exists():
            for old in (self.volumes / "Volumes", self.dbfs_root / "Volumes"):
                _move_into(old, self.volumes)
            mark.write_text("/Volumes/x and dbfs:/Volumes/x are <this folder>/x\n")
        return self

    def lake_to_local(self, path: str) -> Path | None:
        """A path of the lake (``dbfs:/…``, ``/dbfs/…``, ``/Volumes/…``) as its local file; None for any other path.
        ValueError for a lake path that escapes its root."""
        if path == "/Volumes" or path.startswith("/Volumes/"):
            return self.volume_to_local(path)
        if path.startswith(("dbfs:/", "/dbfs/")):
            return self.dbfs_to_local(path)
        return None

    def volume_to_local(self, path: str) -> Path:
        """Map ``/Volumes/<catalog>/<schema>/<volume>/x`` to the local file; refuse paths that escape the root."""
        if path != "/Volumes" and not path.startswith("/Volumes/"):
            raise ValueError(f"not a Volumes path: {path!r} (expected /Volumes/…)")
        local = Path(os.path.normpath(self.volumes / path[len("/Volumes"):].lstrip("/")))
        if local != self.volumes and self.volumes not in local.parents:
            raise ValueError(f"Volumes path escapes the Volumes root: {path!r}")
        return local

    def dbfs_to_local(self, uri: str) -> Path:
        """Map ``dbfs:/a/b`` or ``/dbfs/a/b`` to the local file; refuse paths that escape the root.
        ``dbfs:/Volumes/…`` is a Volumes path, as on Databricks (``dbutils.fs.ls`` of a volume names its files so)."""
        rel = uri
        for prefix in ("dbfs:/", "/dbfs/"):
            if rel.startswith(prefix):
                rel = rel[len(prefix):]
                break
        else:
            raise ValueError(f"not a DBFS path: {uri!r} (expected dbfs:/…)")
        if uri.startswith("dbfs:/") and (rel.lstrip("/") == "Volumes" or rel.lstrip("/").startswith("Volumes/")):
            return self.volume_to_local("/" + rel.lstrip("/"))
        # Lexical check: `..` may not climb out, but symlinks the owner placed inside the root are followed.
        local = Path(os.path.normpath(self.dbfs_root / rel.lstrip("/")))
        if local != self.dbfs_root and self.dbfs_root not in local.parents:
            raise ValueError(f"DBFS path escapes the DBFS root: {uri!r}")
        return local


def dbfs_file(uri: str, paths: WorkspacePaths | None = None) -> Path:
    """A ``dbfs:/`` path as a file path Python can open: the FUSE mount on Databricks, the local root here."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        if not uri.startswith("dbfs:/"):
            raise ValueError(f"not a DBFS path: {uri!r} (expected dbfs:/…)")
        return Path("/dbfs") / uri[len("dbfs:/"):].lstrip("/")
    return (paths or WorkspacePaths.from_env()).dbfs_to_local(uri)


def local_user() -> str:
    """The workspace user this OS account is (``<login>@localhost``): the engine's and the workspace's owner."""
    try:
        name = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        name = "local"
    return f"{name}@localhost"


def _move_into(old: Path, root: Path) -> None:
    """Move the files under ``old`` to the same relative places under ``root``. A file whose place is taken stays
    where it was, named in a warning; folders left empty are removed. Safe to run by two processes at once."""
    if not old.is_dir() or old.is_symlink():
        return
    left = []
    for folder, dirs, files in os.walk(old, topdown=False):
        for name in files:
            source = Path(folder) / name
            target = root / source.relative_to(old)
            if target.exists() or target.is_symlink():
                left.append(str(source))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # another process moved it first
                os.replace(source, target)
        for name in dirs:
            with contextlib.suppress(OSError):  # not empty (something stayed), or a link
                (Path(folder) / name).rmdir()
    with contextlib.suppress(OSError):
        old.rmdir()
    if left:
        LOG.warning("%d file(s) under %s were not moved to %s, their place being taken (first: %s)",
                    len(left), old, root, left[0])
