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

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> WorkspacePaths:
        raw = home or os.environ.get("ODOOLAKE_HOME") or DEFAULT_HOME  # empty is unset (it meant the current folder)
        return cls(Path(raw).expanduser().resolve())

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

    def ensure(self) -> WorkspacePaths:
        for path in (self.home, self.warehouse, self.dbfs_root, self.spill_dir, self.volumes):
            path.mkdir(parents=True, exist_ok=True)
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
