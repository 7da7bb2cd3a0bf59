"""The ``odoolake`` command's entry point: the engine host a command will wait for starts before the CLI's imports.

``odoolake lake sql`` spends most of a cold start waiting for the engine host (about half a second to start), and the
CLI itself takes a few tenths of a second to import (typer, every command group, gRPC, Arrow) before the command runs.
So when the arguments name that command, the host is started first, from the arguments alone, and the command takes
over the lease when it gets there (``take``); the host starts while the CLI imports. A command that never takes it
(an option the CLI refuses) lets it go at exit, which stops a host started for it; a request for help starts
nothing. Besides the standard library, only the workspace's paths and the engine's launcher are imported here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.engine.launcher import EngineLease

EARLY_COMMANDS = (("lake", "sql"),)  # commands that run on the embedded engine host as soon as they start
GLOBAL_FLAGS = ("--debug",)  # the root command's options (no value) that may come before the command
HELP_FLAGS = ("--help", "-h")
_early: dict[str, EngineLease] = {}


def early_home(argv: list[str], environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """The ``--home`` an early command names (``""`` for the default), or None when ``argv`` is not one of
    ``EARLY_COMMANDS`` on the embedded engine (another Spark Connect server, a request for help)."""
    from odoolake.workspace.engine.session import REMOTE_ENV

    words = list(argv)
    while words and words[0] in GLOBAL_FLAGS:
        words.pop(0)
    if tuple(words[:2]) not in EARLY_COMMANDS or environ.get(REMOTE_ENV) or any(w in HELP_FLAGS for w in words):
        return None
    home = ""
    for i, word in enumerate(words):
        if word == "--home" and i + 1 < len(words):
            home = words[i + 1]
        elif word.startswith("--home="):
            home = word.removeprefix("--home=")
    return home


def start(argv: list[str]) -> None:
    """Start the engine host for an early command (nothing otherwise). A failure here is left to the command,
    which meets it again and reports it in its own words."""
    home = early_home(argv)
    if home is None:
        return
    from odoolake.config import WorkspacePaths, local_user
    from odoolake.workspace.engine.launcher import EngineLease

    with contextlib.suppress(Exception):
        _early["lease"] = EngineLease(WorkspacePaths.from_env(home or None), local_user(), wait=False)
        atexit.register(_release)


def take(paths: WorkspacePaths) -> EngineLease | None:
    """The lease started early for ``paths``' root, now the caller's (None when there is none). One started for
    another root is let go first: it holds that root's start lock until its host answers."""
    lease = _early.pop("lease", None)
    if lease is None:
        return None
    if Path(lease.home) == Path(paths.home):
        return lease
    lease.close()
    return None


def _release() -> None:
    lease = _early.pop("lease", None)
    if lease is not None:
        lease.close()  # never taken: the command did not get to run; a host started for it stops


def main() -> None:
    start(sys.argv[1:])
    from odoolake.cli.main import app

    app()


if __name__ == "__main__":
    main()
