"""One error root for the whole project.

Errors keep their structured arguments as attributes and build their message themselves, so logs,
the CLI and tests can all read what went wrong without parsing text.
"""

from __future__ import annotations


class OdoolakeError(Exception):
    """Root of every error odoolake raises on purpose."""


class WorkspaceRootError(OdoolakeError, ValueError):
    """A workspace root the local workspace cannot use: ``problem`` says why; ``given`` is how the user wrote it when
    that differs from the absolute ``root`` (a relative path, a symlink)."""

    def __init__(self, root: str, problem: str, given: str | None = None) -> None:
        self.root, self.problem, self.given = root, problem, given
        shown = " ".join(_shown(p) for p in (root, *([f"({given})"] if given and given != root else [])))
        super().__init__(f"workspace root {shown}: {problem}; choose another folder (--home or ODOOLAKE_HOME)")


def _shown(text: str) -> str:
    """``text`` as it is, or escaped (``repr``) when it holds a character that would not print on one line."""
    return text if text.isprintable() else repr(text)


class EngineError(OdoolakeError):
    """The embedded engine could not start, or refused an operation."""


class DeltaCommandError(EngineError):
    """A Delta maintenance statement (OPTIMIZE, VACUUM, RESTORE …) was refused or failed."""


class PipelineError(OdoolakeError):
    """The month-end pipeline stopped; nothing it was writing has been committed."""


class RawDataError(PipelineError):
    """A raw drop cannot be ingested (not JSON lines, or a required field is missing)."""

    def __init__(self, path: str, problem: str, lines: list[int] | None = None) -> None:
        self.path = path
        self.problem = problem
        self.lines = lines or []
        where = f" (line {', '.join(str(n) for n in self.lines[:5])})" if self.lines else ""
        super().__init__(f"{path}{where}: {problem}")


class DropConflictError(OdoolakeError):
    """Generated drops would replace drops of the same month made with other settings (which the lake may have
    ingested already: its bronze would no longer match its raw files)."""


class BirRuleError(OdoolakeError):
    """A BIR rule was broken by the input (unknown ATC, malformed TIN, …)."""
