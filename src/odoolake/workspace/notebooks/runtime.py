"""Execute a notebook's cells in one namespace with ``spark``, ``dbutils`` and ``display``.

Python cells run with their real line numbers, so tracebacks point into the notebook file.
``%sql`` cells run each statement with ``spark.sql`` and show the last result; ``%run`` executes
another notebook in the same namespace. ``%pip`` and ``%sh`` are refused with a clear error: packages
come from the project's lock file, and a local run must not depend on a shell.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odoolake.config import WorkspacePaths
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


def resolve_notebook(path: str | Path, relative_to: Path | None = None) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and relative_to is not None:
        candidate = relative_to / candidate
    for option in (candidate, candidate.with_suffix(candidate.suffix + ".py") if candidate.suffix != ".py" else candidate,
                   candidate.with_suffix(".sql")):
        if option.is_file():
            return option.resolve()
    raise FileNotFoundError(f"Notebook {path} not found (looked for {candidate}, .py and .sql)")


def display(obj: Any, *args: Any, **kwargs: Any) -> None:
    """Databricks' ``display``: a table for DataFrames, text for anything else."""
    if hasattr(obj, "show") and hasattr(obj, "schema"):
        obj.show(20, truncate=False)
    elif hasattr(obj, "to_string"):
        print(obj.to_string())
    else:
        print(obj)


def _sql_statements(text: str) -> list[str]:
    statements, current, quote = [], [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
        elif ch == ";":
            statements.append("".join(current))
            current = []
            continue
        current.append(ch)
    statements.append("".join(current))
    lines = ["\n".join(ln for ln in s.split("\n") if not ln.strip().startswith("--")).strip() for s in statements]
    return [s for s in lines if s]


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
) -> NotebookResult:
    """Run a Databricks source notebook; ``dbutils.notebook.exit`` ends it with a value."""
    nb_path = resolve_notebook(path)
    values = task_values if task_values is not None else {}
    result = NotebookResult(str(nb_path), task_values=values)
    buffer = io.StringIO()

    def run_child(child: str, timeout_seconds: int, arguments: dict[str, str]) -> str:
        child_result = run_notebook(resolve_notebook(child, nb_path.parent), spark, paths, arguments, values,
                                    task_key, echo)
        print(child_result.output, end="")
        return child_result.exit_value or ""

    dbutils = DBUtils(paths, {k: str(v) for k, v in (params or {}).items()}, values, task_key, run_child)
    namespace: dict[str, Any] = {"__name__": "__main__", "spark": spark, "dbutils": dbutils, "display": display,
                                 "displayHTML": print}
    stream = _Tee(buffer, sys.stdout) if echo else buffer
    with _workspace_env(paths), contextlib.redirect_stdout(stream):  # type: ignore[type-var]
        try:
            _execute(nb_path, namespace, spark, result)
        except NotebookExit as done:
            result.exit_value = done.value
        finally:
            result.output = buffer.getvalue()
    return result


def _execute(nb_path: Path, namespace: dict[str, Any], spark: Any, result: NotebookResult) -> None:
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
                last = spark.sql(statement)
            if last is not None and last.columns:
                display(last)
        elif cell.kind == "run":
            target = cell.source.strip().split()[0] if cell.source.strip() else ""
            if not target:
                raise NotebookFormatError(str(nb_path), f"line {cell.line}: %run needs a notebook path")
            _execute(resolve_notebook(target, nb_path.parent), namespace, spark, result)
        else:
            raise NotebookFormatError(
                str(nb_path),
                f"line {cell.line}: %{cell.kind} cells are not run locally; "
                + ("add the package to pyproject.toml instead" if cell.kind == "pip" else "use a Python cell"),
            )
