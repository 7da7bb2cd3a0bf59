"""A local ``dbutils`` with the parts notebooks use: widgets, fs, notebook, jobs.taskValues, secrets.

``dbutils.fs`` works on the local DBFS root (``dbfs:/`` and ``/dbfs/`` paths) and on Volumes (``/Volumes/…``).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError
from odoolake.workspace.files.dbfs import is_internal


class NotebookExit(Exception):
    def __init__(self, value: str) -> None:
        self.value = value
        super().__init__(value)


class WidgetError(OdoolakeError):
    pass


class FileInfo(NamedTuple):
    """``dbutils.fs.ls``' rows: a named tuple, as Databricks' (``for path, name, size, mtime in ls(…)``)."""

    path: str
    name: str
    size: int
    modificationTime: int

    def isDir(self) -> bool:
        return self.name.endswith("/")

    def isFile(self) -> bool:
        return not self.isDir()


class Widgets:
    def __init__(self, params: dict[str, str]) -> None:
        self._params = dict(params)
        self._defaults: dict[str, str] = {}

    def _define(self, name: str, default: str) -> None:
        self._defaults[name] = "" if default is None else str(default)

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._define(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        if str(defaultValue) not in [str(c) for c in choices]:
            raise WidgetError(f"widget {name!r}: default {defaultValue!r} is not one of {choices}")
        value = self._params.get(name)
        if value is not None and value not in [str(c) for c in choices]:
            raise WidgetError(f"widget {name!r}: value {value!r} is not one of {choices}")
        self._define(name, defaultValue)

    def combobox(self, name: str, defaultValue: str, choices: list[str] | None = None,
                 label: str | None = None) -> None:
        self._define(name, defaultValue)  # a combobox takes any value, its choices are suggestions

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._define(name, defaultValue)

    def get(self, name: str) -> str:
        if name in self._params:
            return self._params[name]
        if name in self._defaults:
            return self._defaults[name]
        raise WidgetError(f"No input widget named {name} is defined, and no parameter {name!r} was passed.")

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        """The deprecated form of ``get``: ``defaultValue`` when no widget or parameter of that name exists."""
        try:
            return self.get(name)
        except WidgetError:
            if defaultValue is None:
                raise
            return defaultValue

    @contextlib.contextmanager
    def passed(self, values: dict[str, str]) -> Iterator[None]:
        """Widget values given with ``%run ./child $name="value"`` while the child runs."""
        saved = dict(self._params)
        self._params.update(values)
        try:
            yield
        finally:
            self._params = saved

    def getAll(self) -> dict[str, str]:
        return {**self._defaults, **self._params}

    def remove(self, name: str) -> None:
        self._defaults.pop(name, None)

    def removeAll(self) -> None:
        self._defaults.clear()


class Fs:
    def __init__(self, paths: WorkspacePaths) -> None:
        self._paths = paths

    def _local(self, path: str) -> Path:
        if path.startswith("file:"):
            return Path(path[len("file:"):])
        lake = self._paths.lake_to_local(path)  # as the Files API and Spark read them
        if lake is not None:
            return lake
        return self._paths.dbfs_to_local("dbfs:" + ("" if path.startswith("/") else "/") + path)

    def _existing(self, path: str) -> Path:
        """The local file of ``path``; FileNotFoundError naming the path as the notebook wrote it."""
        local = self._local(path)
        if not local.exists():
            raise FileNotFoundError(f"{path} does not exist")
        return local

    def ls(self, path: str) -> list[FileInfo]:
        local = self._existing(path)
        base = path.rstrip("/") if path.startswith(("dbfs:", "file:")) else "dbfs:" + path.rstrip("/")
        if local.is_file():
            st = local.stat()
            return [FileInfo(base, local.name, st.st_size, int(st.st_mtime * 1000))]
        out = []
        for child in sorted(local.iterdir()):
            if is_internal(child.name):
                continue
            st = child.stat()
            name = child.name + ("/" if child.is_dir() else "")
            out.append(FileInfo(f"{base}/{name}", name, 0 if child.is_dir() else st.st_size, int(st.st_mtime * 1000)))
        return out

    def mkdirs(self, path: str) -> bool:
        self._local(path).mkdir(parents=True, exist_ok=True)
        return True

    def put(self, path: str, contents: str, overwrite: bool = False) -> bool:
        local = self._local(path)
        if local.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(contents)
        return True

    def head(self, path: str, maxBytes: int = 65536) -> str:
        local = self._existing(path)
        if local.is_dir():
            raise IsADirectoryError(f"{path} is a directory; head reads a file")
        with local.open("rb") as fh:
            return fh.read(maxBytes).decode("utf-8", errors="replace")

    def cp(self, source: str, dest: str, recurse: bool = False) -> bool:
        src, dst = self._existing(source), self._local(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{source} is a directory; pass recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        return True

    def mv(self, source: str, dest: str, recurse: bool = False) -> bool:
        src, dst = self._existing(source), self._local(dest)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)
        return True

    def rm(self, path: str, recurse: bool = False) -> bool:
        local = self._local(path)
        if not local.exists():
            return False
        if local.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{path} is a directory; pass recurse=True")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True


MAX_TASK_VALUE_BYTES = 48 * 1024  # "The size of the JSON representation of the value cannot exceed 48 KiB"


class TaskValues:
    """``dbutils.jobs.taskValues``: values a task sets for the tasks after it in the same run. Outside a job (``in_job``
    False: a notebook run by hand) ``get`` answers its ``debugValue``, as Databricks does."""

    def __init__(self, store: dict[str, dict[str, Any]], task_key: str, in_job: bool = True) -> None:
        self._store = store
        self._task = task_key
        self._in_job = in_job

    def set(self, key: str, value: Any) -> None:
        """Only a value JSON can express, of at most 48 KiB as JSON (a date, a Decimal or a set came back to the next
        task as a string)."""
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Task value {key!r} cannot be set: only values that can be expressed as JSON are "
                            f"permitted ({exc}). Convert it first, e.g. str(value) or float(value).") from None
        if len(text.encode()) > MAX_TASK_VALUE_BYTES:
            raise ValueError(f"Task value {key!r} cannot be set: its JSON is {len(text.encode()):,} bytes; the limit "
                             f"is {MAX_TASK_VALUE_BYTES:,} (48 KiB). Write large values to a table or a file and pass "
                             "its name.")
        self._store.setdefault(self._task, {})[key] = json.loads(text)

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:
        if not self._in_job:
            if debugValue is None:
                raise TypeError(f"Task value {key!r} of task {taskKey!r}: outside a job, get() answers its "
                                "debugValue, and none was given.")
            return debugValue
        values = self._store.get(taskKey, {})
        if key in values:
            return values[key]
        if default is not None:
            return default
        raise ValueError(f"Task value {key!r} of task {taskKey!r} was not set and no default was given.")


class Jobs:
    def __init__(self, task_values: TaskValues) -> None:
        self.taskValues = task_values


class Notebook:
    def __init__(self, run_child: Callable[[str, int, dict[str, str]], str]) -> None:
        self._run_child = run_child

    def exit(self, value: Any) -> None:
        raise NotebookExit(str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: dict[str, str] | None = None) -> str:
        return self._run_child(path, timeout_seconds, arguments or {})


class Secrets:
    """``dbutils.secrets``: in a job task from the workspace's Secrets API (as the run's principal), in a local run
    from this workspace's store or ``ODOOLAKE_SECRET_<SCOPE>_<KEY>`` (see secrets/reader.py). Every value read is
    redacted from the task's output."""

    def __init__(self, paths: WorkspacePaths) -> None:
        self._paths = paths

    def get(self, scope: str, key: str) -> str:
        from odoolake.workspace.secrets.reader import get_secret

        return get_secret(scope, key, self._paths)

    def getBytes(self, scope: str, key: str) -> bytes:
        from odoolake.workspace.secrets.reader import get_bytes

        return get_bytes(scope, key, self._paths)

    def list(self, scope: str) -> builtins.list[SecretMetadata]:
        from odoolake.workspace.secrets.reader import list_keys

        return [SecretMetadata(key) for key in list_keys(scope, self._paths)]

    def listScopes(self) -> builtins.list[SecretScope]:
        from odoolake.workspace.secrets.reader import list_scopes

        return [SecretScope(name) for name in list_scopes(self._paths)]


class SecretMetadata(NamedTuple):
    key: str


class SecretScope(NamedTuple):
    name: str


class DBUtils:
    def __init__(self, paths: WorkspacePaths, params: dict[str, str], task_values: dict[str, dict[str, Any]],
                 task_key: str, run_child: Callable[[str, int, dict[str, str]], str], in_job: bool = True) -> None:
        self.widgets = Widgets(params)
        self.fs = Fs(paths)
        self.jobs = Jobs(TaskValues(task_values, task_key, in_job))
        self.notebook = Notebook(run_child)
        self.secrets = Secrets(paths)

    @staticmethod
    def help() -> str:
        return "local dbutils: widgets, fs, notebook, jobs.taskValues, secrets"
