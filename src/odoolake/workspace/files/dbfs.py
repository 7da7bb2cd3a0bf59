"""DBFS 2.0 (``/api/2.0/dbfs/*``) and the Files API (``/api/2.0/fs/*``) over local folders.

DBFS is the same folder the notebooks see as ``dbfs:/``; Volumes (``/Volumes/...``) live beside it.
Uploads are written to a temporary file and renamed on close, so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import ClassVar

from odoolake.config import VOLUMES_LAYOUT_MARK
from odoolake.workspace.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from odoolake.workspace.files.paths import clean_path, inside, under

MAX_BLOCK = 1024 * 1024  # DBFS add-block / put limit (decoded bytes)
MAX_READ = 1024 * 1024  # dbfs/read: a longer length is MAX_READ_SIZE_EXCEEDED
DEFAULT_READ = 512 * 1024  # dbfs/read without a length
MAX_FILE_BYTES = 5 * 1024 * 1024 * 1024


def _b64(data: str | None, field: str) -> bytes:
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue(f"Invalid {field}: not valid base64 ({exc}).") from exc


UPLOAD_SUFFIX = ".odoolake-upload"  # a file being written, renamed into place when complete
LOCK_SUFFIX = ".odoolake-lock"  # a table's write lock, hidden beside it (``engine.locks``): ``.<table>.odoolake-lock``


VOLUMES = "/Volumes"  # the Files API's namespace: ``/Volumes/<catalog>/<schema>/<volume>/…``


def is_internal(name: str) -> bool:
    """Files the workspace keeps beside users' files (an upload in progress, a table's lock, the Volumes layout's
    mark), never listed."""
    return name.endswith(UPLOAD_SUFFIX) or (name.startswith(".") and name.endswith(LOCK_SUFFIX)) or \
        name == VOLUMES_LAYOUT_MARK


def file_info(path: str, local: Path) -> dict:
    st = local.stat()
    return {"path": path, "is_dir": local.is_dir(), "file_size": 0 if local.is_dir() else st.st_size,
            "modification_time": int(st.st_mtime * 1000)}


@dataclass
class Upload:
    path: str
    tmp: Path
    final: Path
    size: int = 0


def check_parents(root: Path, path: str, local: Path) -> None:
    """Refuse a ``path`` (``local`` under ``root``) that would be inside a file, naming the file as the client knows
    it: the file system's error named the server's own path and answered 500."""
    shown = PurePosixPath(path)
    for parent in local.parents:
        if parent == root or root not in parent.parents:
            return
        shown = shown.parent
        if parent.exists() and not parent.is_dir():
            raise ResourceAlreadyExists(f"A file already exists at {shown}: {path} cannot be made inside it.")


class Dbfs:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._uploads: dict[int, Upload] = {}
        self._lock = threading.Lock()

    def _path(self, raw: str | None, field: str = "path", follow_last: bool = True) -> tuple[str, Path]:
        text = raw[len("dbfs:"):] if isinstance(raw, str) and raw.startswith("dbfs:") else raw
        path = clean_path(text, field)
        if path == VOLUMES or path.startswith(VOLUMES + "/"):
            raise InvalidParameterValue(f"{path} is in a Unity Catalog volume, which the DBFS API does not reach: use "
                                        "the Files API (/api/2.0/fs/files…, w.files), as dbutils.fs and Spark do.")
        return path, under(self.root, path, follow_last)

    def local(self, raw: str | None) -> tuple[str, Path]:
        """The DBFS path and its local file, checked to stay under the root."""
        return self._path(raw)

    def get_status(self, raw: str | None) -> dict:
        path, local = self._path(raw)
        if not local.exists():
            raise ResourceDoesNotExist(f"No file or directory exists on path {path}.")
        return file_info(path, local)

    def list(self, raw: str | None) -> list[dict]:
        path, local = self._path(raw)
        if not local.exists():
            raise ResourceDoesNotExist(f"No file or directory exists on path {path}.")
        if local.is_file():
            return [file_info(path, local)]
        return [file_info(f"{path.rstrip('/')}/{child.name}", child) for child in sorted(local.iterdir())
                if not is_internal(child.name) and inside(self.root, child)]

    def mkdirs(self, raw: str | None) -> None:
        path, local = self._path(raw)
        check_parents(self.root, path, local)
        if local.exists() and not local.is_dir():
            raise ResourceAlreadyExists(f"A file or directory already exists at the input path {path}.")
        local.mkdir(parents=True, exist_ok=True)

    def delete(self, raw: str | None, recursive: bool = False) -> None:
        path, local = self._path(raw, follow_last=False)
        if path == "/":
            raise InvalidParameterValue("Cannot delete the DBFS root.")
        if local.is_symlink():
            local.unlink()  # the link, never what it points to
            return
        if not local.exists():
            return  # Databricks: deleting a missing path succeeds
        if local.is_dir():
            if any(local.iterdir()) and not recursive:
                raise InvalidParameterValue(f"{path} is a non-empty directory; pass recursive=true.",
                                            error_code="IO_ERROR")
            shutil.rmtree(local)
        else:
            local.unlink()

    def move(self, source: str | None, destination: str | None) -> None:
        src_path, src = self._path(source, "source_path")
        dst_path, dst = self._path(destination, "destination_path")
        if not src.exists():
            raise ResourceDoesNotExist(f"No file or directory exists on path {src_path}.")
        if dst.exists():
            raise ResourceAlreadyExists(f"A file or directory already exists at the input path {dst_path}.")
        if src in dst.parents:
            raise InvalidParameterValue(f"Cannot move {src_path} into itself ({dst_path}).")
        check_parents(self.root, dst_path, dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)

    def put(self, raw: str | None, contents: str | None, overwrite: bool = False) -> None:
        data = _b64(contents, "contents")
        if len(data) > MAX_BLOCK:
            raise InvalidParameterValue(
                f"contents is {len(data)} bytes; dbfs/put accepts at most {MAX_BLOCK}. Use create/add-block/close.",
                error_code="MAX_BLOCK_SIZE_EXCEEDED")
        path, local = self._path(raw)
        self._check_target(path, local, overwrite)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + f".{secrets.token_hex(4)}{UPLOAD_SUFFIX}")
        tmp.write_bytes(data)
        os.replace(tmp, local)

    def _check_target(self, path: str, local: Path, overwrite: bool) -> None:
        check_parents(self.root, path, local)
        if local.is_dir():
            raise ResourceAlreadyExists(f"A directory already exists at the input path {path}.")
        if local.exists() and not overwrite:
            raise ResourceAlreadyExists(f"A file or directory already exists at the input path {path}.")

    def create(self, raw: str | None, overwrite: bool = False) -> int:
        path, local = self._path(raw)
        self._check_target(path, local, overwrite)
        local.parent.mkdir(parents=True, exist_ok=True)
        handle = secrets.randbits(48)
        tmp = local.with_name(local.name + f".{handle}{UPLOAD_SUFFIX}")
        tmp.write_bytes(b"")
        with self._lock:
            self._uploads[handle] = Upload(path, tmp, local)
        return handle

    def _upload(self, handle: object) -> Upload:
        if not isinstance(handle, int):
            raise InvalidParameterValue(f"Invalid handle: expected an integer, got {handle!r}.")
        with self._lock:
            upload = self._uploads.get(handle)
        if upload is None:
            raise ResourceDoesNotExist(f"Handle {handle} does not exist (closed, or never created).")
        return upload

    def add_block(self, handle: object, data: str | None) -> None:
        upload = self._upload(handle)
        block = _b64(data, "data")
        if len(block) > MAX_BLOCK:
            raise InvalidParameterValue(f"data is {len(block)} bytes; a block is at most {MAX_BLOCK}.",
                                        error_code="MAX_BLOCK_SIZE_EXCEEDED")
        if upload.size + len(block) > MAX_FILE_BYTES:
            raise InvalidParameterValue(f"The file would exceed {MAX_FILE_BYTES} bytes.")
        with upload.tmp.open("ab") as fh:
            fh.write(block)
        upload.size += len(block)

    def close(self, handle: object) -> None:
        upload = self._upload(handle)
        assert isinstance(handle, int)  # _upload refused anything else
        with self._lock:
            self._uploads.pop(handle, None)
        os.replace(upload.tmp, upload.final)

    def read(self, raw: str | None, offset: int = 0, length: int = DEFAULT_READ) -> dict:
        path, local = self._path(raw)
        if not local.exists():
            raise ResourceDoesNotExist(f"No file or directory exists on path {path}.")
        if local.is_dir():
            raise InvalidParameterValue(f"Cannot read a directory: {path}.", error_code="INVALID_PARAMETER_VALUE")
        if offset < 0 or length < 0:
            raise InvalidParameterValue("offset and length must not be negative.")
        if length > MAX_READ:
            raise InvalidParameterValue(f"length is {length} bytes; dbfs/read reads at most {MAX_READ} at a time: read "
                                        "the file in pieces with offset.", error_code="MAX_READ_SIZE_EXCEEDED")
        with local.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}


class Volumes:
    """The Files API on ``/Volumes/<catalog>/<schema>/<volume>/...`` (and ``/dbfs`` style paths refused), over the
    same folder Spark and dbutils read a ``/Volumes`` path from (``WorkspacePaths.volumes``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, raw: str) -> tuple[str, Path]:
        path = clean_path(raw, "file_path")
        if not path.startswith(VOLUMES + "/") or len(path.split("/")) < 5:
            raise InvalidParameterValue(
                f"Invalid file_path {raw!r}: the Files API works on /Volumes/<catalog>/<schema>/<volume>/…")
        return path, under(self.root, path[len(VOLUMES):])

    def begin_upload(self, raw: str, overwrite: bool) -> Upload:
        """Check the target and open a temporary file beside it; ``finish_upload`` renames it into place."""
        path, local = self.path(raw)
        check_parents(self.root, path, local)
        if local.is_dir():
            raise ResourceAlreadyExists(f"A directory already exists at {path}.")
        if local.exists() and not overwrite:
            raise ResourceAlreadyExists(f"The file {path} already exists; pass overwrite=true.",
                                        error_code="ALREADY_EXISTS")
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(local.name + f".{secrets.token_hex(4)}{UPLOAD_SUFFIX}")
        tmp.write_bytes(b"")
        return Upload(path, tmp, local)

    @staticmethod
    def finish_upload(upload: Upload) -> None:
        os.replace(upload.tmp, upload.final)

    def upload(self, raw: str, data: bytes, overwrite: bool) -> None:
        upload = self.begin_upload(raw, overwrite)
        upload.tmp.write_bytes(data)
        self.finish_upload(upload)

    def file(self, raw: str) -> Path:
        path, local = self.path(raw)
        if not local.is_file():
            raise ResourceDoesNotExist(f"The file {path} does not exist.", error_code="NOT_FOUND")
        return local

    def delete(self, raw: str) -> None:
        self.file(raw).unlink()

    def directory(self, raw: str) -> tuple[str, Path]:
        if isinstance(raw, str) and raw.count("/") >= 4:
            return self.path(raw)
        path = clean_path(raw)
        if path != VOLUMES and not path.startswith(VOLUMES + "/"):
            raise InvalidParameterValue(f"Invalid directory_path {raw!r}: the Files API works on /Volumes/….")
        return path, under(self.root, path[len(VOLUMES):] or "/")

    def list_directory(self, raw: str) -> list[dict]:
        path, local = self.directory(raw)
        if not local.is_dir():
            raise ResourceDoesNotExist(f"The directory {path} does not exist.", error_code="NOT_FOUND")
        out = []
        for child in sorted(local.iterdir()):
            if is_internal(child.name) or not inside(self.root, child):
                continue
            st = child.stat()
            entry = {"path": f"{path.rstrip('/')}/{child.name}", "name": child.name, "is_directory": child.is_dir()}
            if child.is_file():
                entry |= {"file_size": st.st_size, "last_modified": int(st.st_mtime * 1000)}
            out.append(entry)
        return out

    def create_directory(self, raw: str) -> None:
        path, local = self.directory(raw)
        check_parents(self.root, path, local)
        if local.is_file():
            raise ResourceAlreadyExists(f"A file already exists at {path}.")
        local.mkdir(parents=True, exist_ok=True)

    def delete_directory(self, raw: str) -> None:
        path, local = self.directory(raw)
        if not local.is_dir():
            raise ResourceDoesNotExist(f"The directory {path} does not exist.", error_code="NOT_FOUND")
        if any(local.iterdir()):
            raise InvalidParameterValue(f"The directory {path} is not empty.", error_code="DIRECTORY_NOT_EMPTY")
        local.rmdir()



class RunArtifactFiles(Volumes):
    """The Files API paths where MLflow's client keeps a run's (and a logged model's) artifacts when the experiment's
    location is ``dbfs:/databricks/mlflow-tracking/<experiment>`` (Databricks' default: MLflow then writes through
    the SDK's Files API, which escapes every file name, not through ``/dbfs/<path>`` URLs, which cut a name at ``#``
    or ``?``). ``/WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/…`` is kept at
    ``dbfs:/databricks/mlflow-tracking/<exp>/<run>/…`` and ``…/<exp>/LoggedModels/<id>/…`` at
    ``…/<exp>/logged_models/<id>/…``: the run's ``artifact_uri``, where the run page and serving read it."""

    PREFIX = "/WorkspaceInternal/Mlflow/Artifacts"
    # the Files path's kind -> the folder under the experiment
    KINDS: ClassVar[dict[str, str]] = {"Runs": "", "LoggedModels": "logged_models"}

    def path(self, raw: str) -> tuple[str, Path]:
        path = clean_path(raw, "file_path")
        parts = path[len(self.PREFIX):].strip("/").split("/") if path.startswith(self.PREFIX + "/") else []
        if len(parts) < 3 or parts[1] not in self.KINDS:
            raise InvalidParameterValue(f"Invalid path {raw!r}: MLflow's artifact paths are {self.PREFIX}/<experiment>"
                                        "/Runs/<run>/… or …/LoggedModels/<model>/….")
        experiment, kind, rest = parts[0], self.KINDS[parts[1]], parts[2:]
        return path, under(self.root, "/".join(part for part in (experiment, kind, *rest) if part))

    def directory(self, raw: str) -> tuple[str, Path]:
        return self.path(raw)
