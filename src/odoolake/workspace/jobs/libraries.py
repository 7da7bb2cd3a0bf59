"""A task's ``libraries``, checked against the local workspace's Python environment before the task starts.

On Databricks a task's libraries are installed on its cluster first, and an install that fails fails the task.
The local workspace runs every task in its own environment and installs nothing into it (that environment is the
workspace's too): a library it already holds is used, and one it does not hold fails the task naming the library
and the command that installs it, instead of a ModuleNotFoundError deep in the task's code.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import PurePosixPath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# Library kinds Databricks installs that name no Python distribution the local environment could hold.
NOT_LOCAL = ("jar", "maven", "egg", "cran")
_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(canonicalize_name(name))
    except importlib.metadata.PackageNotFoundError:
        return None


def missing(libraries: Any) -> str | None:
    """Why ``libraries`` cannot be used locally (the first problem, as one line), or None when all are at hand."""
    for library in libraries or []:
        if not isinstance(library, dict):
            continue
        kind = next((k for k in library if k in (*NOT_LOCAL, "pypi", "whl", "requirements")), None)
        if kind in NOT_LOCAL:
            return f"The task's {kind} library {library[kind]!r} cannot be used by the local workspace (Python only)."
        if kind == "pypi":
            spec = (library["pypi"] or {}).get("package", "") if isinstance(library["pypi"], dict) else ""
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                return f"The task's pypi library {spec!r} is not a package requirement."
            version = _installed(requirement.name)
            if version is None or (requirement.specifier and version not in requirement.specifier):
                held = f"{version} is installed" if version else "it is not installed"
                return (f"The task's library {spec} is not in the local workspace's Python environment ({held}); "
                        f"install it there: {sys.executable} -m pip install '{spec}'.")
        if kind == "whl":
            match = _WHEEL_NAME.match(PurePosixPath(str(library["whl"])).name)
            if match and _installed(match.group("name")) is None:
                return (f"The task's wheel {library['whl']} ({match.group('name')}) is not installed in the local "
                        f"workspace's Python environment; install it there ({sys.executable} -m pip install "
                        f"<the wheel file>), then run again.")
        if kind == "requirements":
            return (f"The task's requirements file {library['requirements']!r} is not installed by the local "
                    f"workspace; install its packages into {sys.prefix} and list them as pypi libraries.")
    return None
