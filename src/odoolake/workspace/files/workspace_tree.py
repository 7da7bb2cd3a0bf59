"""The workspace tree: notebooks, files and directories (``/api/2.0/workspace/*``, ``workspace-files``).

Metadata (type, language, ids, times) is in SQLite; content is a file under ``<home>/workspace``, so the job
runner reads notebooks straight from disk. Notebooks are stored without extension, as Databricks does; a
``.py``/``.sql`` upload that starts with the notebook header becomes a notebook.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from odoolake.workspace.db import Database
from odoolake.workspace.errors import (
    InvalidParameterValue,
    NotImplementedLocally,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
)
from odoolake.workspace.files.paths import clean_path, under

LANGUAGES = {"PYTHON": ".py", "SQL": ".sql", "SCALA": ".scala", "R": ".r"}
EXT_LANG = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R"}
HEADERS = {"PYTHON": "# Databricks notebook source", "SQL": "-- Databricks notebook source",
           "SCALA": "// Databricks notebook source", "R": "# Databricks notebook source"}
FORMATS = {"SOURCE", "HTML", "JUPYTER", "DBC", "RAW", "AUTO", "R_MARKDOWN"}
MAX_IMPORT_BYTES = 10 * 1024 * 1024


def _now() -> int:
    return int(time.time() * 1000)


def notebook_language(name: str, content: bytes) -> str | None:
    """The notebook language of a file named ``name`` with ``content``: its extension's, when it starts with that
    language's notebook header; None for a plain file."""
    ext = PurePosixPath(name).suffix.lower()
    lang = EXT_LANG.get(ext)
    if lang and content.lstrip(b"\xef\xbb\xbf").startswith(HEADERS[lang].encode()):
        return lang
    return None


def is_jupyter_notebook(name: str, content: bytes) -> bool:
    """A ``.ipynb`` file holding a Jupyter notebook (JSON with its cells): imported as a notebook, as Databricks
    imports one."""
    if PurePosixPath(name).suffix.lower() != ".ipynb":
        return False
    try:
        return isinstance(json.loads(content).get("cells"), list)
    except (ValueError, AttributeError, UnicodeDecodeError):
        return False


def ipynb_to_source(content: bytes, path: str) -> tuple[str, str]:
    try:
        nb = json.loads(content)
        cells = nb["cells"]
        lang = (nb.get("metadata", {}).get("language_info", {}).get("name") or "python").upper()
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidParameterValue(f"Invalid JUPYTER content for {path}: {exc}") from exc
    lang = lang if lang in LANGUAGES else "PYTHON"
    parts = []
    for cell in cells:
        source = "".join(cell.get("source", [])) if isinstance(cell.get("source"), list) else cell.get("source", "")
        if cell.get("cell_type") == "markdown":
            source = "\n".join("# MAGIC " + ("%md " if i == 0 else "") + line for i, line in enumerate(source.split("\n")))
        parts.append(source)
    return lang, HEADERS[lang] + "\n" + "\n\n# COMMAND ----------\n\n".join(parts) + "\n"


def source_to_ipynb(text: str, language: str) -> bytes:
    from odoolake.workspace.notebooks.source import parse_notebook

    cells: list[dict[str, Any]] = []
    for cell in parse_notebook(text):
        kind = "markdown" if cell.kind == "md" else "code"
        source = cell.source if cell.kind in ("python", "md") else f"%{cell.kind}\n{cell.source}"
        cells.append({"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                      **({"outputs": [], "execution_count": None} if kind == "code" else {})})
    nb = {"cells": cells, "metadata": {"language_info": {"name": language.lower()}}, "nbformat": 4,
          "nbformat_minor": 5}
    return json.dumps(nb, indent=1).encode()


SHARED, USERS = "/Shared", "/Users"
EXPERIMENT = "MLFLOW_EXPERIMENT"


@dataclass(frozen=True)
class Experiment:
    """An MLflow experiment as the tree shows it: Databricks keeps experiments in the workspace tree, by name."""

    experiment_id: str
    name: str
    created: int
    modified: int


class Experiments(Protocol):
    """The workspace's MLflow experiments, for the tree (``mlflow_server.WorkspaceExperiments``)."""

    def named(self, path: str) -> Experiment | None: ...
    def under(self, folder: str) -> list[Experiment]: ...
    def delete(self, experiment_id: str) -> None: ...


class WorkspaceTree:
    """Notebooks, files and folders, and (read from MLflow's store) experiments, as Databricks' workspace tree holds
    them: ``/Shared`` and each user's ``/Users/<name>`` exist; an experiment is an object at its name's path."""

    def __init__(self, db: Database, root: Path) -> None:
        self.db = db
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.experiments: Experiments | None = None
        self.users: Callable[[], list[str]] = list  # the workspace's users: each has a /Users/<name> folder
        # Held while an experiment is named (created, renamed, restored) and while a path is deleted, so that an
        # experiment is never made in a folder being deleted (the two are checked and written apart).
        self.naming = threading.RLock()

    def object_type_at(self, raw: str) -> str | None:
        """The type of the object at ``raw`` (a folder, notebook, file or experiment), or None."""
        try:
            return str(self.get_status(raw)["object_type"])
        except ResourceDoesNotExist:
            return None

    def check_writable(self, raw: str, user: str, admin: bool, home_itself: bool = False) -> None:
        """Databricks' default workspace permissions: every user changes what is under ``/Shared`` and under their own
        ``/Users/<name>`` (that folder itself too when ``home_itself``: making it again is a no-op); the workspace
        root, other users' folders and folders of users that do not exist are for admins."""
        if admin:
            return
        path = self._path(raw)
        home = f"{USERS}/{user}"
        if path.startswith(SHARED + "/") or path.startswith(home + "/") or (home_itself and path == home):
            return
        raise PermissionDenied(f"{user} may not change {path}: users change what is under {SHARED} and their own "
                               f"{home}; the workspace root and other users' folders are for admins.")

    def _experiment(self, path: str) -> Experiment | None:
        return self.experiments.named(path) if self.experiments is not None else None

    def _made_on_demand(self, path: str) -> bool:
        """Make ``path`` a folder if it is one Databricks always has (``/Shared``, a known user's ``/Users/<name>``)
        or one an experiment made outside the REST API lives in (``odoolake ml train`` writes MLflow's store
        directly); whether it was made."""
        parts = PurePosixPath(path).parts
        standing = path in (SHARED, USERS) or (len(parts) == 3 and parts[1] == USERS.strip("/")
                                               and parts[2] in self.users())
        if not standing and not (self.experiments is not None and self.experiments.under(path)):
            return False
        if self._experiment(path) is not None:
            return False
        self.mkdirs(path)
        return True

    def folder_exists(self, raw: str) -> bool:
        """Whether ``raw`` is a folder (an experiment's parent must be one)."""
        try:
            return self.get_status(raw)["object_type"] == "DIRECTORY"
        except ResourceDoesNotExist:
            return False

    def _experiment_info(self, experiment: Experiment) -> dict:
        return {"path": experiment.name, "object_type": EXPERIMENT, "object_id": int(experiment.experiment_id),
                "resource_id": experiment.experiment_id, "created_at": experiment.created,
                "modified_at": experiment.modified}

    def _path(self, raw: str | None) -> str:
        return clean_path(raw, strip_prefixes=("/Workspace",))

    def _row(self, path: str):
        return self.db.connect().execute("SELECT * FROM objects WHERE path = ?", (path,)).fetchone()

    def _info(self, row) -> dict:
        info = {"path": row["path"], "object_type": row["object_type"], "object_id": row["object_id"],
                "created_at": row["created_at"], "modified_at": row["modified_at"],
                "resource_id": str(row["object_id"])}
        if row["language"]:
            info["language"] = row["language"]
        if row["object_type"] != "DIRECTORY":
            info["size"] = row["size"] or 0
        return info

    def local_file(self, raw: str) -> Path:
        """Where a notebook's or file's content is on disk (for the job runner)."""
        path = self._path(raw)
        row = self._row(path)
        if row is None or row["object_type"] == "DIRECTORY":
            raise ResourceDoesNotExist(f"Path ({raw}) doesn't exist.")
        return under(self.root, path)

    def get_status(self, raw: str | None) -> dict:
        path = self._path(raw)
        if path == "/":
            return {"path": "/", "object_type": "DIRECTORY", "object_id": 0}
        row = self._row(path)
        if row is None:
            experiment = self._experiment(path)
            if experiment is not None:
                return self._experiment_info(experiment)
            if not self._made_on_demand(path):
                raise ResourceDoesNotExist(f"Path ({raw}) doesn't exist.")
            row = self._row(path)
        return self._info(row)

    def mkdirs(self, raw: str | None) -> None:
        path = self._path(raw)
        with self.db.transaction() as conn:
            self._mkdirs(conn, path)

    def _mkdirs(self, conn, path: str) -> None:
        current = PurePosixPath("/")
        for part in PurePosixPath(path).parts[1:]:
            current = current / part
            row = conn.execute("SELECT object_type FROM objects WHERE path = ?", (str(current),)).fetchone()
            if row is not None and row["object_type"] != "DIRECTORY":
                raise ResourceAlreadyExists(f"{current} already exists and is not a directory.")
            if row is None and self._experiment(str(current)) is not None:
                raise ResourceAlreadyExists(f"{current} already exists and is not a directory (an MLflow experiment).")
            if row is None:
                now = _now()
                conn.execute("INSERT INTO objects(path, parent, object_type, object_id, created_at, modified_at) "
                             "VALUES (?, ?, 'DIRECTORY', ?, ?, ?)",
                             (str(current), str(current.parent), self._next_id(conn), now, now))
                under(self.root, str(current)).mkdir(parents=True, exist_ok=True)

    def _next_id(self, conn) -> int:
        row = conn.execute("SELECT value FROM ids WHERE name = 'object'").fetchone()
        value = (row["value"] + 1) if row else 1_000_000_000
        conn.execute("INSERT INTO ids(name, value) VALUES('object', ?) ON CONFLICT(name) DO UPDATE SET value = ?",
                     (value, value))
        return value

    def list(self, raw: str | None) -> list[dict]:
        path = self._path(raw)
        if path == USERS:  # every user's folder, as Databricks lists them
            for user in self.users():
                self.mkdirs(f"{USERS}/{user}")
        if path != "/":
            status = self.get_status(path)
            if status["object_type"] != "DIRECTORY":
                return [status]
        rows = self.db.connect().execute("SELECT * FROM objects WHERE parent = ? ORDER BY path", (path,))
        listed = [self._info(r) for r in rows]
        taken = {item["path"] for item in listed}
        inside = self.experiments.under(path) if self.experiments is not None else []
        listed += [self._experiment_info(e) for e in inside
                   if str(PurePosixPath(e.name).parent) == path and e.name not in taken]
        return sorted(listed, key=lambda item: item["path"])

    def delete(self, raw: str | None, recursive: bool = False) -> None:
        with self.naming:
            self._delete(raw, recursive)

    def _delete(self, raw: str | None, recursive: bool) -> None:
        path = self._path(raw)
        if path == "/":
            raise InvalidParameterValue("Cannot delete the workspace root.")
        experiment = self._experiment(path) if self._row(path) is None else None
        if experiment is not None and self.experiments is not None:  # deleted as Databricks does: into MLflow's trash
            self.experiments.delete(experiment.experiment_id)
            return
        inside = self.experiments.under(path) if self.experiments is not None else []
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM objects WHERE path = ?", (path,)).fetchone()
            if row is None:
                raise ResourceDoesNotExist(f"Path ({raw}) doesn't exist.")
            children = conn.execute("SELECT COUNT(*) FROM objects WHERE parent = ?", (path,)).fetchone()[0]
            if row["object_type"] == "DIRECTORY" and (children or inside) and not recursive:
                raise InvalidParameterValue(f"Folder {path} is not empty; pass recursive=true to delete it.",
                                            error_code="DIRECTORY_NOT_EMPTY")
            conn.execute("DELETE FROM objects WHERE path = ? OR path LIKE ? ESCAPE '\\'",
                         (path, _like_prefix(path)))
        for gone in inside if row["object_type"] == "DIRECTORY" else []:
            self.experiments.delete(gone.experiment_id)  # type: ignore[union-attr]  # inside is empty without them
        local = under(self.root, path)
        if local.is_dir():
            shutil.rmtree(local, ignore_errors=True)
        elif local.exists():
            local.unlink()

    def import_(self, raw: str | None, content: bytes, fmt: str | None = "SOURCE", language: str | None = None,
                overwrite: bool = False) -> dict:
        fmt = (fmt or "SOURCE").upper()
        if fmt not in FORMATS:
            raise InvalidParameterValue(f"Invalid format {fmt!r}: expected one of {', '.join(sorted(FORMATS))}.")
        if language is not None and language.upper() not in LANGUAGES:
            raise InvalidParameterValue(f"Invalid language {language!r}: expected one of {', '.join(LANGUAGES)}.")
        if len(content) > MAX_IMPORT_BYTES:
            raise InvalidParameterValue(f"content is {len(content)} bytes; the import limit is {MAX_IMPORT_BYTES}.",
                                        error_code="MAX_NOTEBOOK_SIZE_EXCEEDED")
        path = self._path(raw)
        lang = language.upper() if language else None
        if fmt in ("HTML", "DBC", "R_MARKDOWN"):
            raise NotImplementedLocally(f"Importing format {fmt} is not supported locally; use SOURCE or JUPYTER.")
        if fmt == "JUPYTER":
            lang, text = ipynb_to_source(content, path)
            content, kind = text.encode(), "NOTEBOOK"
        elif fmt == "RAW":
            kind = "FILE"
        elif fmt == "AUTO":
            detected = notebook_language(path, content)
            if detected:
                kind, lang, path = "NOTEBOOK", detected, str(PurePosixPath(path).with_suffix(""))
            elif path.endswith(".ipynb"):
                lang, text = ipynb_to_source(content, path)
                content, kind, path = text.encode(), "NOTEBOOK", path[: -len(".ipynb")]
            else:
                kind = "FILE"
        else:  # SOURCE
            if lang is None:
                lang = EXT_LANG.get(PurePosixPath(path).suffix.lower())
                if lang is None:
                    raise InvalidParameterValue(
                        "language is required when importing format SOURCE (PYTHON, SQL, SCALA or R)")
                path = str(PurePosixPath(path).with_suffix(""))
            kind = "NOTEBOOK"
            if not content.lstrip(b"\xef\xbb\xbf").startswith(HEADERS[lang].encode()):
                content = (HEADERS[lang] + "\n").encode() + content
        return self._write(path, content, kind, lang, overwrite)

    def import_file(self, raw: str | None, content: bytes, overwrite: bool = False) -> dict:
        """``workspace-files/import-file``: a file, or a notebook when it carries the notebook header or is a Jupyter
        notebook (``.ipynb``)."""
        if len(content) > MAX_IMPORT_BYTES:
            raise InvalidParameterValue(f"content is {len(content)} bytes; the import limit is {MAX_IMPORT_BYTES}.",
                                        error_code="MAX_NOTEBOOK_SIZE_EXCEEDED")
        path = self._path(raw)
        lang = notebook_language(path, content)
        if lang:
            return self._write(str(PurePosixPath(path).with_suffix("")), content, "NOTEBOOK", lang, overwrite)
        if is_jupyter_notebook(path, content):
            lang, text = ipynb_to_source(content, path)
            return self._write(str(PurePosixPath(path).with_suffix("")), text.encode(), "NOTEBOOK", lang, overwrite)
        return self._write(path, content, "FILE", None, overwrite)

    def _write(self, path: str, content: bytes, kind: str, lang: str | None, overwrite: bool) -> dict:
        local = under(self.root, path)
        if self._experiment(path) is not None:
            raise ResourceAlreadyExists(f"{path} already exists (an MLflow experiment).")
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM objects WHERE path = ?", (path,)).fetchone()
            if row is not None and (not overwrite or row["object_type"] == "DIRECTORY"):
                raise ResourceAlreadyExists(f"{path} already exists." + ("" if overwrite else
                                            " Pass overwrite=true to replace it."))
            self._mkdirs(conn, str(PurePosixPath(path).parent))
            now = _now()
            object_id = row["object_id"] if row is not None else self._next_id(conn)
            created = row["created_at"] if row is not None else now
            conn.execute(
                "INSERT OR REPLACE INTO objects(path, parent, object_type, language, object_id, created_at, modified_at,"
                " size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (path, str(PurePosixPath(path).parent), kind, lang, object_id, created, now, len(content)))
            tmp = local.with_name(local.name + ".tmp-upload")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(content)
            os.replace(tmp, local)
        return self.get_status(path)

    def export(self, raw: str | None, fmt: str | None = "SOURCE") -> tuple[bytes, str]:
        """(content, file_type) of a notebook or file."""
        fmt = (fmt or "SOURCE").upper()
        if fmt not in FORMATS:
            raise InvalidParameterValue(f"Invalid format {fmt!r}: expected one of {', '.join(sorted(FORMATS))}.")
        path = self._path(raw)
        row = self._row(path)
        if row is None and self._experiment(path) is not None:
            raise InvalidParameterValue(f"{path} is an MLflow experiment, not a notebook or file: its runs and "
                                        "artifacts are read through MLflow.")
        if row is None:
            raise ResourceDoesNotExist(f"Path ({raw}) doesn't exist.")
        if row["object_type"] == "DIRECTORY":
            if fmt not in ("SOURCE", "AUTO"):
                raise InvalidParameterValue(f"{path} is a directory: a directory is exported in SOURCE or AUTO format "
                                            f"(a zip of its notebooks and files), not {fmt}.")
            return self._zip(path), "zip"
        content = under(self.root, path).read_bytes()
        if row["object_type"] == "FILE":
            return content, PurePosixPath(path).suffix.lstrip(".")
        if fmt in ("SOURCE", "AUTO", "RAW"):
            return content, LANGUAGES[row["language"]].lstrip(".")
        if fmt == "JUPYTER":
            return source_to_ipynb(content.decode(), row["language"]), "ipynb"
        raise NotImplementedLocally(f"Exporting format {fmt} is not supported locally; use SOURCE or JUPYTER.")

    def _zip(self, path: str) -> bytes:
        """Every notebook (as source, with its language's extension) and file under ``path``, in a zip whose entries
        start with the directory's own name, as Databricks exports a directory in SOURCE format."""
        import io
        import zipfile

        top = PurePosixPath(path)
        rows = self.db.connect().execute("SELECT * FROM objects WHERE path LIKE ? ESCAPE '\\' AND object_type <> "
                                         "'DIRECTORY' ORDER BY path", (_like_prefix(path),)).fetchall()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for row in rows:
                name = str(PurePosixPath(top.name) / PurePosixPath(row["path"]).relative_to(top))
                if row["object_type"] == "NOTEBOOK":
                    name += LANGUAGES[row["language"]]
                archive.writestr(name, under(self.root, row["path"]).read_bytes())
        return out.getvalue()

    def export_b64(self, raw: str | None, fmt: str | None) -> dict:
        content, file_type = self.export(raw, fmt)
        return {"content": base64.b64encode(content).decode(), "file_type": file_type}


def _like_prefix(path: str) -> str:
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.rstrip("/") + "/%"
