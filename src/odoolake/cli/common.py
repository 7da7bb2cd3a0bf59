"""Shared CLI helpers: one error handler, the console, and the local file lister."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
DEBUG = False


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from databricks.sdk.errors import DatabricksError

        try:
            return func(*args, **kwargs)
        except (OdoolakeError, DatabricksError) as exc:  # ours, and what a workspace (local or real) answered
            if DEBUG:
                raise
            message = str(exc).split(". Config: ")[0]  # the SDK appends its whole config; the cause comes first
            err_console.print(f"[bold red]error:[/] {escape(message)}")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@contextmanager
def lake_session(paths: WorkspacePaths) -> Iterator[Any]:
    """A Spark session for one command, closed after it: the embedded engine, or ``ODOOLAKE_SPARK_REMOTE`` if set."""
    from odoolake.workspace.engine import LocalEngine

    with LocalEngine.start(paths.home) as engine:
        yield engine.session()


def dbfs_lister(paths: WorkspacePaths) -> Callable[[str], list[str]]:
    """``dbutils.fs.ls`` for the local DBFS root: file URIs under a ``dbfs:/`` folder."""

    def ls(uri: str) -> list[str]:
        folder: Path = paths.dbfs_to_local(uri)
        if not folder.is_dir():
            return []
        return [f"{uri.rstrip('/')}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file()]

    return ls


# Every command that works on a local workspace takes the same --home.
HomeOpt = typer.Option(None, "--home", envvar="ODOOLAKE_HOME", help="Workspace root (default ./.odoolake).")
