"""The ``odoolake`` command's entry point: the engine host a command will wait for starts before the CLI's imports.

``odoolake lake sql`` spends most of a cold start waiting for the engine host (about half a second to start), and the
CLI itself takes a few tenths of a second to import (typer, every command group, gRPC, Arrow) before the command runs.
So when the arguments name that command, the host is started first, from the arguments alone, and the command takes
over the lease when it gets there (``take``); the host starts while the CLI imports. Only a line the CLI will run
starts it, on a root that exists; a command that still never takes it (interrupted, say) lets it go at exit, which
stops a host started for it and leaves one that was running. Besides the standard library, only the workspace's
paths and the engine's launcher are imported here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine.launcher import EngineLease

EARLY_COMMANDS = (("lake", "sql"),)  # commands that run on the embedded engine host as soon as they start
GLOBAL_FLAGS = ("--debug",)  # the root command's options (no value) that may come before the command
SQL_OPTIONS = ("--home", "--limit", "--output", "-o")  # lake sql's options, each with a value (a test holds them to it)
INTERRUPTED, INTERRUPTED_EXIT = "interrupted", 130  # what every command says and exits with at Ctrl-C (128 + SIGINT)
_early: dict[str, EngineLease] = {}


def early_home(argv: list[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """The ``--home`` of a command line that runs ``lake sql`` on the embedded engine (``""`` for the default), or
    None: another command, another Spark Connect server, or a line the CLI would refuse or answer with help (anything
    but one statement and the command's options, or a ``--limit`` that is not a count), which needs no host."""
    words = list(argv)
    while words and words[0] in GLOBAL_FLAGS:
        words.pop(0)
    if tuple(words[:2]) not in EARLY_COMMANDS:
        return None  # before any import: every other command starts as it did
    from odoolake.workspace.engine.session import REMOTE_ENV

    if environ.get(REMOTE_ENV):
        return None
    home, statements, rest = "", 0, words[2:]
    while rest:
        word = rest.pop(0)
        if word == "--":  # the rest are arguments, whatever they look like
            statements += len(rest)
            break
        name, given, value = word.partition("=")
        if name in SQL_OPTIONS:
            if not given:
                if not rest:
                    return None
                value = rest.pop(0)
            if name == "--limit" and not value.isdigit():
                return None
            if name == "--home":
                home = value
        elif word.startswith("-"):
            return None
        else:
            statements += 1
    return home if statements == 1 else None


def start(argv: list[str]) -> None:
    """Start the engine host for ``lake sql`` on a workspace root that exists (one a mistyped ``--home`` names is
    never made here). A failure is left to the command, which meets it again and reports it in its own words."""
    home = early_home(argv)
    if home is None:
        return
    from odoolake.config import WorkspacePaths, local_user
    from odoolake.workspace.engine.launcher import EngineLease

    with contextlib.suppress(Exception):  # a root it cannot use included
        paths = WorkspacePaths.from_env(home or None)
        if not paths.home.is_dir():
            return
        _early["lease"] = EngineLease(paths, local_user(), wait=False)
        atexit.register(_release)


def take(paths: WorkspacePaths) -> EngineLease | None:
    """The lease started early for ``paths``' root, now the caller's (None when there is none). One started for
    another root is let go first: it holds that root's start lock until its host answers."""
    lease = _early.pop("lease", None)
    if lease is None:
        return None
    if lease.home == paths.home:
        return lease
    lease.close()
    return None


def _release() -> None:
    lease = _early.pop("lease", None)
    if lease is not None:
        lease.abandon()  # never taken: the command did not run; a host started for it stops, one running stays


def main() -> None:
    try:
        start(sys.argv[1:])
        from odoolake.cli.main import app
    except KeyboardInterrupt:  # before the CLI could answer it in its own words
        _release()
        print(f"error: {INTERRUPTED}", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT) from None
    app()


if __name__ == "__main__":  # `python -m odoolake.cli.entry`: run as the module the command imports, or its early
    from odoolake.cli import entry  # lease would sit in __main__ where take() never finds it

    entry.main()
