"""Where the local workspace keeps its files.

Everything lives under one root, ``ODOOLAKE_HOME`` (default ``./.odoolake``), always made absolute:
Sail rejects relative warehouse paths, and absolute paths keep tables valid whatever the cwd.
"""

from __future__ import annotations

import getpass
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".odoolake"


@dataclass(frozen=True)
class WorkspacePaths:
    home: Path

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> WorkspacePaths:
        raw = home if home is not None else os.environ.get("ODOOLAKE_HOME", DEFAULT_HOME)
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
        for path in (self.home, self.warehouse, self.dbfs_root, self.spill_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def dbfs_to_local(self, uri: str) -> Path:
        """Map ``dbfs:/a/b`` or ``/dbfs/a/b`` to the local file; refuse paths that escape the root."""
        rel = uri
        for prefix in ("dbfs:/", "/dbfs/"):
            if rel.startswith(prefix):
                rel = rel[len(prefix):]
                break
        else:
            raise ValueError(f"not a DBFS path: {uri!r} (expected dbfs:/…)")
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
