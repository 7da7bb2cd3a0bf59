"""Path checks shared by the workspace, DBFS and Files APIs: absolute, no ``..``, no NUL, bounded."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from odoolake.workspace.errors import InvalidParameterValue

MAX_PATH = 4096


def clean_path(raw: str | None, field: str = "path", strip_prefixes: tuple[str, ...] = ()) -> str:
    """A canonical absolute POSIX path, or 400 naming ``field``."""
    if raw is None or raw == "":
        raise InvalidParameterValue(f"Missing required field: {field}")
    if not isinstance(raw, str):
        raise InvalidParameterValue(f"Invalid {field}: expected a string, got {type(raw).__name__}.")
    if len(raw) > MAX_PATH or "\x00" in raw:
        raise InvalidParameterValue(f"Invalid {field}: too long or contains NUL.")
    path = raw
    for prefix in strip_prefixes:
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix):] or "/"
            break
    if not path.startswith("/"):
        raise InvalidParameterValue(f"Invalid {field} {raw!r}: the path must be absolute (start with /).")
    parts = PurePosixPath(path).parts
    if any(part in ("..", ".") for part in parts) or "//" in path:
        raise InvalidParameterValue(f"Invalid {field} {raw!r}: '.', '..' and empty segments are not allowed.")
    return str(PurePosixPath(path))


def under(root: Path, path: str) -> Path:
    """The local file for a cleaned path; double-checks it stays inside ``root``."""
    local = root / path.lstrip("/")
    if local != root and root not in local.parents:
        raise InvalidParameterValue(f"Invalid path {path!r}: outside the storage root.")
    return local
