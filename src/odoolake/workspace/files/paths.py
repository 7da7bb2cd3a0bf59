"""Path checks shared by the workspace, DBFS and Files APIs: absolute, no ``..``, no NUL, bounded, and no symbolic
link that leads out of the storage root."""

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


def inside(root: Path, local: Path) -> bool:
    """Whether ``local``, with every symbolic link on its way followed, is ``root`` or below it."""
    real_root, real = root.resolve(), local.resolve()
    return real == real_root or real_root in real.parents


def under(root: Path, path: str, follow_last: bool = True) -> Path:
    """The local file for a cleaned path; it must stay inside ``root`` lexically and after following symlinks.

    The path itself is returned (not its resolution), so deleting a link deletes the link, not its target.
    With ``follow_last=False`` (deleting) only the folders on the way are checked: a link itself may be removed.
    """
    local = root / path.lstrip("/")
    if local != root and root not in local.parents:
        raise InvalidParameterValue(f"Invalid path {path!r}: outside the storage root.")
    if not inside(root, local if follow_last or local == root else local.parent):
        raise InvalidParameterValue(f"Invalid path {path!r}: a symbolic link on it leads outside the storage root.")
    return local
