"""The mutation checks (scripts/mutation/run.py) still apply: each mutation's text is in its file exactly once, so a
refactoring that moves the code cannot silently turn a mutation into a no-op ("stale")."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _mutations():
    spec = importlib.util.spec_from_file_location("mutation_run", ROOT / "scripts" / "mutation" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.MUTATIONS


def test_every_mutation_still_finds_its_code_once():
    stale = []
    for mutation in _mutations():
        text = (ROOT / "src" / "odoolake" / mutation.file).read_text()
        edits = [(mutation.old, mutation.new), *mutation.also]
        stale += [f"{mutation.name}: {old!r}" for old, _ in edits if text.count(old) != 1]
        stale += [f"{mutation.name}: test {t} missing" for t in mutation.tests if not (ROOT / t.split("::")[0]).exists()]
    assert not stale, "update scripts/mutation/run.py: " + "; ".join(stale)
