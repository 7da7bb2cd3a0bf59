"""Which files a bundle deploy uploads (``bundles/sync.py``), worked out by hand from git's ignore rules and the
Databricks CLI's ``sync.include`` / ``sync.exclude``."""

from __future__ import annotations

from pathlib import Path

from odoolake.bundles.sync import selected_files


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_repositorys_gitignore_files_and_the_bundles_sync_rules_choose_the_files(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    _tree(repo, {
        ".gitignore": "__pycache__/\n*.pyc\ndata/\n*.log\n",  # the repository's, above the bundle
        "other/x.py": "not in the bundle",
        "bundle/databricks.yml": "bundle: {name: b}\n",
        "bundle/src/a.py": "# Databricks notebook source\n",
        "bundle/src/.gitignore": "scratch.py\n!keep.log\n",  # deeper rules win
        "bundle/src/scratch.py": "ignored by src/.gitignore",
        "bundle/src/keep.log": "re-included by src/.gitignore",
        "bundle/src/run.log": "ignored by the repository's *.log",
        "bundle/src/__pycache__/a.cpython-311.pyc": "",
        "bundle/data/big.csv": "ignored folder",
        "bundle/data/keep.csv": "named by sync.include",
        "bundle/dist/pkg-1.0-py3-none-any.whl": "any file type is uploaded",
        "bundle/src/tmp/x.sql": "named by sync.exclude",
        "bundle/.env": "SECRET=1",  # hidden: left out
        "bundle/.venv/lib/site.py": "",
        "bundle/.databricks/bundle/state.json": "",
        "bundle/resources/jobs.yml": "resources: {}\n",
    })
    sync = {"include": ["data/keep.csv"], "exclude": ["src/tmp/**"]}
    assert selected_files(repo / "bundle", sync) == [
        "data/keep.csv", "databricks.yml", "dist/pkg-1.0-py3-none-any.whl", "resources/jobs.yml", "src/a.py",
        "src/keep.log"]  # src/.gitignore is hidden
    assert "data/keep.csv" not in selected_files(repo / "bundle", None)  # without the include: ignored with data/
    assert "src/tmp/x.sql" in selected_files(repo / "bundle", None)


def test_a_bundle_outside_any_repository_reads_only_its_own_gitignore(tmp_path):
    _tree(tmp_path, {".gitignore": "out/\n", "databricks.yml": "", "out/x.py": "", "in/y.py": "",
                     "in/.hidden/z.py": ""})
    assert selected_files(tmp_path, None) == ["databricks.yml", "in/y.py"]
    assert selected_files(tmp_path, {"include": [".gitignore", "in/.hidden/z.py"]}) == [
        ".gitignore", "databricks.yml", "in/.hidden/z.py", "in/y.py"]
