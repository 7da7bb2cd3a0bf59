"""Execute a notebook's cells in one namespace with ``spark``, ``dbutils`` and ``display``.

Python cells run with their real line numbers, so tracebacks point into the notebook file.
``%sql`` cells run each statement with ``spark.sql`` (named markers bound to the widgets' values) and show the last
result, kept as ``_sqldf``; ``%run`` executes another notebook in the same namespace, with the widget values its
``$name="value"`` arguments give. ``%pip`` and ``%sh`` are refused with a clear error: packages
come from the project's lock file, and a local run must not depend on a shell.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError
from odoolake.workspace.files.paths import inside
from odoolake.workspace.notebooks.dbutils import DBUtils, NotebookExit
from odoolake.workspace.notebooks.source import NotebookFormatError, parse_notebook


@dataclass
class NotebookResult:
    path: str
    exit_value: str | None = None
    output: str = ""
    cells_run: int = 0
    task_values: dict[str, Any] = field(default_factory=dict)


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


class NotebookNotFound(OdoolakeError):
    pass


def _with_extensions(candidate: Path) -> list[Path]:
    return [candidate, *(candidate.with_name(candidate.name + ext) for ext in (".py", ".sql")
                         if candidate.suffix != ext)]


def resolve_notebook(path: str | Path, relative_to: Path | None = None) -> Path:
    """The notebook file a local run starts from (a file the user named: ``.py``/``.sql`` may be left off)."""
    candidate = Path(path)
    if not candidate.is_absolute() and relative_to is not None:
        candidate = relative_to / candidate
    for option in _with_extensions(candidate):
        if option.is_file():
            return option.resolve()
    raise NotebookNotFound(f"Notebook {path} not found (looked for {candidate}, .py and .sql)")


def resolve_target(target: str, current: Path, paths: WorkspacePaths) -> Path:
    """What ``%run`` and ``dbutils.notebook.run`` name, from the notebook ``current``; never a file outside the tree.

    - ``/Shared/lib/helper`` or ``/Workspace/Shared/lib/helper``: a path in the workspace tree
      (``$ODOOLAKE_HOME/workspace``), as on Databricks. An absolute path never names a file elsewhere on disk.
    - ``./helper``, ``../lib/helper``: relative to ``current``'s folder. Inside the workspace tree (a job task) it
      must stay inside the tree; in a local run of a repository file it is the user's own folder.
    """
    root = paths.home / "workspace"
    in_tree = inside(root, current)
    if target.startswith("/"):
        rel = target[len("/Workspace"):] if target == "/Workspace" or target.startswith("/Workspace/") else target
        candidate = root / posixpath.normpath("/" + rel).lstrip("/")
        where = f"the workspace tree ({root})"
    else:
        candidate = Path(os.path.normpath(current.parent / target))
        where = f"the workspace tree ({root})" if in_tree else str(current.parent)
        if in_tree and not inside(root, candidate):
            raise NotebookNotFound(f"{target!r} leads outside the workspace tree; %run and dbutils.notebook.run only "
                                   "reach notebooks in the workspace.")
    for option in _with_extensions(candidate):
        if option.is_file() and (inside(root, option) or not (in_tree or target.startswith("/"))):
            return option.resolve()
    raise NotebookNotFound(f"Notebook {target} not found in {where}: import it there first (workspace import or "
                           "bundle deploy).")


def display(obj: Any, *args: Any, **kwargs: Any) -> None:
    """Databricks' ``display``: a table for DataFrames, text for anything else."""
    if hasattr(obj, "show") and hasattr(obj, "schema"):
        obj.show(20, truncate=False)
    elif hasattr(obj, "to_string"):
        print(obj.to_string())
    else:
        print(obj)


_QUOTES = "'\"`"
_MARKER = re.compile(r"(?<![\w:)\]`.]):([A-Za-z_]\w*)")


def _code_spans(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) spans of ``text`` that are SQL code: not inside a string, a quoted name or a comment. Plain
    Python, so a notebook runs where only PySpark is installed (the JVM parity run)."""
    i, start, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _QUOTES or text.startswith(("--", "/*"), i):
            yield start, i
            if ch in _QUOTES:
                i += 1
                while i < n and text[i] != ch:
                    i += 2 if text[i] == "\\" and ch != "`" else 1
                i += 1
            else:
                close = "\n" if text.startswith("--", i) else "*/"
                found = text.find(close, i + 2)
                i = n if found < 0 else found + len(close)
            start = i
        else:
            i += 1
    yield start, n


def _sql_statements(text: str) -> list[str]:
    """The statements of a SQL cell or file, split at semicolons outside strings, quoted names and comments (an
    apostrophe in a ``--`` comment opened a string that swallowed the rest of the cell)."""
    cuts = [start + offset for start, end in _code_spans(text) for offset, ch in enumerate(text[start:end])
            if ch == ";"]
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(text[last:cut])
        last = cut + 1
    pieces.append(text[last:])
    return [piece.strip() for piece in pieces
            if any(piece[a:b].strip() for a, b in _code_spans(piece))]  # comments only: no statement


def _named_markers(statement: str) -> set[str]:
    """The names of ``:name`` parameter markers in a statement's code (not ``::`` casts, nor ``raw:field`` paths)."""
    return {m.group(1) for a, b in _code_spans(statement) for m in _MARKER.finditer(statement[a:b])}


class NotebookTimeout(OdoolakeError):
    """A notebook started by ``dbutils.notebook.run`` ran past its ``timeout_seconds``."""


@contextlib.contextmanager
def _time_limit(seconds: float, what: str) -> Iterator[None]:
    """Raise ``NotebookTimeout`` in the code running inside once ``seconds`` pass (a real-time alarm: only the main
    thread, where task processes and local runs execute notebooks, can be interrupted; elsewhere no limit). An
    outer limit keeps running, less the time spent inside."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise NotebookTimeout(f"Notebook {what} did not finish within its timeout of {seconds:g} s "
                              "(dbutils.notebook.run's timeout_seconds); it was stopped.")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


def _run_arguments(source: str, where: str) -> tuple[str, dict[str, str]]:
    """``%run ./path $name="value" …``: the notebook and the values it gets for its widgets."""
    try:
        words = shlex.split(source)
    except ValueError as exc:
        raise NotebookFormatError(where, f"%run {source.strip()}: {exc}") from None
    if not words:
        raise NotebookFormatError(where, "%run needs a notebook path")
    arguments = {}
    for word in words[1:]:
        name, equals, value = word.partition("=")
        if not name.startswith("$") or not equals or len(name) < 2:
            raise NotebookFormatError(where, f"%run {source.strip()}: arguments are written $name=\"value\", got "
                                             f"{word!r}")
        arguments[name[1:]] = value
    return words[0], arguments


@contextlib.contextmanager
def _workspace_env(paths: WorkspacePaths) -> Iterator[None]:
    """``ODOOLAKE_HOME`` for the length of a run, then as it was.

    Library code a notebook calls (``odoolake.ml``, ``dbfs_file``) finds the workspace the way a script would,
    without the run leaving its workspace behind in the calling process.
    """
    before = os.environ.get("ODOOLAKE_HOME")
    os.environ["ODOOLAKE_HOME"] = str(paths.home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ODOOLAKE_HOME", None)
        else:
            os.environ["ODOOLAKE_HOME"] = before


def run_notebook(
    path: str | Path,
    spark: Any,
    paths: WorkspacePaths,
    params: dict[str, str] | None = None,
    task_values: dict[str, dict[str, Any]] | None = None,
    task_key: str = "notebook",
    echo: bool = False,
    in_job: bool | None = None,
) -> NotebookResult:
    """Run a Databricks source notebook; ``dbutils.notebook.exit`` ends it with a value. ``in_job`` (default: when
    ``task_values`` are given) is whether it runs as a job's task: outside one, task values answer their debugValue."""
    nb_path = resolve_notebook(path)
    values = task_values if task_values is not None else {}
    as_task = task_values is not None if in_job is None else in_job
    result = NotebookResult(str(nb_path), task_values=values)
    buffer = io.StringIO()

    def run_child(child: str, timeout_seconds: int, arguments: dict[str, str]) -> str:
        target = resolve_target(child, nb_path, paths)
        with _time_limit(timeout_seconds, child):
            child_result = run_notebook(target, spark, paths, arguments, values, task_key, echo, as_task)
        print(child_result.output, end="")
        return child_result.exit_value or ""

    dbutils = DBUtils(paths, {k: str(v) for k, v in (params or {}).items()}, values, task_key, run_child, as_task)
    namespace: dict[str, Any] = {"__name__": "__main__", "spark": spark, "dbutils": dbutils, "display": display,
                                 "displayHTML": print}
    stream = _Tee(buffer, sys.stdout) if echo else buffer
    with _workspace_env(paths), contextlib.redirect_stdout(stream):
        try:
            _execute(nb_path, namespace, spark, result, paths, dbutils)
        except NotebookExit as done:
            result.exit_value = done.value
        finally:
            result.output = buffer.getvalue()
    return result


def _execute(nb_path: Path, namespace: dict[str, Any], spark: Any, result: NotebookResult,
             paths: WorkspacePaths, dbutils: DBUtils) -> None:
    cells = parse_notebook(nb_path.read_text(), str(nb_path))
    for cell in cells:
        result.cells_run += 1
        if cell.kind == "md":
            continue
        if cell.kind == "python":
            code = compile("\n" * (cell.line - 1) + cell.source, str(nb_path), "exec")
            exec(code, namespace)
        elif cell.kind == "sql":
            last = None
            for statement in _sql_statements(cell.source):
                # named markers take the widgets' values, as %sql cells do on Databricks Runtime 15.2 and later
                named = _named_markers(statement)
                last = spark.sql(statement, args={name: dbutils.widgets.get(name) for name in named}) if named \
                    else spark.sql(statement)
            if last is not None:
                namespace["_sqldf"] = last  # the last %sql result, as Databricks notebooks name it
                if last.columns:
                    display(last)
        elif cell.kind == "run":
            target, arguments = _run_arguments(cell.source, f"{nb_path}: line {cell.line}")
            with dbutils.widgets.passed(arguments):
                _execute(resolve_target(target, nb_path, paths), namespace, spark, result, paths, dbutils)
        else:
            raise NotebookFormatError(
                str(nb_path),
                f"line {cell.line}: %{cell.kind} cells are not run locally; "
                + ("add the package to pyproject.toml instead" if cell.kind == "pip" else "use a Python cell"),
            )
