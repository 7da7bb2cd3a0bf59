"""Which files a bundle deploy uploads, as the Databricks CLI's sync chooses them, and which changed since.

Every file under the bundle root, except those the repository's ``.gitignore`` files ignore (from the repository's
root down to the file's folder, deeper files winning, as git reads them), plus what ``sync.include`` names, minus what
``sync.exclude`` names (both gitignore patterns relative to the bundle root). ``.git`` and ``.databricks`` are never
uploaded. One rule beyond the CLI's: hidden files and folders (``.venv``, ``.env``) are left out unless
``sync.include`` names them, so a local secret or virtualenv never reaches the workspace by accident.

A deploy uploads only the files whose content changed since the last one (their SHA-256 is kept in the deploy's
sync snapshot), as the CLI's incremental sync does, and deletes the ones no longer selected.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Any

from pathspec import GitIgnoreSpec

NEVER_SYNCED = frozenset({".git", ".databricks"})  # folder names, wherever they are


def _repository_root(root: Path) -> Path:
    """The nearest folder at or above ``root`` holding ``.git`` (the bundle root when there is none)."""
    for folder in (root, *root.parents):
        if (folder / ".git").exists():
            return folder
    return root


def _spec(lines: Any) -> GitIgnoreSpec | None:
    if lines is not None and not isinstance(lines, list):  # a string would be read a character at a time
        raise TypeError(f"sync patterns must be a list, not {type(lines).__name__}")
    patterns = [str(p) for p in lines or [] if str(p).strip()]
    return GitIgnoreSpec.from_lines(patterns) if patterns else None


class Selection:
    """The sync rules of one bundle: ``chosen(rel)`` for a file, ``enter(rel)`` for a folder (both relative to the
    bundle root, POSIX)."""

    def __init__(self, root: Path, sync: dict | None) -> None:
        self.root = root
        sync = sync or {}
        self.include = _spec(sync.get("include"))
        self.exclude = _spec(sync.get("exclude"))
        repo = _repository_root(root)
        above = [repo, *reversed([p for p in root.parents if p.is_relative_to(repo) and p != repo])] \
            if repo != root else []
        self._ignores: list[tuple[Path, GitIgnoreSpec]] = []
        for folder in above:
            self.read_ignore_file(folder)

    def read_ignore_file(self, folder: Path) -> None:
        """Take ``folder``'s ``.gitignore`` into account (folders are read outermost first)."""
        ignore = folder / ".gitignore"
        if ignore.is_file():
            spec = _spec(ignore.read_text(errors="replace").splitlines())
            if spec is not None:
                self._ignores.append((folder, spec))

    def _ignored(self, path: Path, folder: bool) -> bool:
        ignored = False
        for base, spec in self._ignores:  # outermost first: a deeper file's rule wins
            if base == path or not path.is_relative_to(base):
                continue
            rel = path.relative_to(base).as_posix() + ("/" if folder else "")
            verdict = spec.check_file(rel).include
            if verdict is not None:
                ignored = verdict
        return ignored

    def _named(self, spec: GitIgnoreSpec | None, rel: str) -> bool:
        return spec is not None and bool(spec.check_file(rel).include)

    def enter(self, rel: str) -> bool:
        """Whether a folder's files can be chosen (an ignored or hidden folder only when ``sync.include`` may name
        something inside it)."""
        name = rel.rsplit("/", 1)[-1]
        if name in NEVER_SYNCED:
            return False
        if self.include is not None:
            return True
        return not name.startswith(".") and not self._ignored(self.root / rel, folder=True)

    def chosen(self, rel: str) -> bool:
        if self._named(self.exclude, rel):
            return False
        if self._named(self.include, rel):
            return True
        hidden = any(part.startswith(".") for part in rel.split("/"))
        # an ignored folder was not entered (``enter``) unless sync.include may name something inside it
        in_ignored = self.include is not None and any(self._ignored(self.root / p, folder=True) for p in _folders(rel))
        return not hidden and not in_ignored and not self._ignored(self.root / rel, folder=False)


def _folders(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def selected_files(root: Path, sync: dict | None) -> list[str]:
    """The bundle's files to upload, relative to ``root`` (POSIX), sorted."""
    root = root.resolve()
    rules = Selection(root, sync)
    chosen: list[str] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        rules.read_ignore_file(here)  # os.walk goes top-down: a folder's rules come after its parents'
        rel_here = here.relative_to(root).as_posix()
        prefix = "" if rel_here == "." else rel_here + "/"
        dirs[:] = sorted(d for d in dirs if rules.enter(prefix + d))
        chosen += [prefix + f for f in sorted(files) if (here / f).is_file() and rules.chosen(prefix + f)]
    return sorted(chosen)


def remote_name(rel: str, content: bytes) -> str:
    """Where a file lands under the bundle's file path: a notebook (``.py``, ``.sql``, ``.scala``, ``.r`` with the
    notebook header, or a Jupyter ``.ipynb``) without its extension, as the workspace imports it; any other file as
    it is named."""
    from odoolake.workspace.files.workspace_tree import is_jupyter_notebook, notebook_language

    notebook = notebook_language(rel, content) or is_jupyter_notebook(rel, content)
    return str(PurePosixPath(rel).with_suffix("")) if notebook else rel


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
