"""A bundle deploy's file sync against the workspace: only what changed is uploaded again, what the bundle's
.gitignore and ``sync.exclude`` leave out never is, and a file no longer selected is deleted there."""

from __future__ import annotations

import pytest

from odoolake.bundles.deploy import deploy
from odoolake.bundles.loader import load_bundle


def test_a_deploy_uploads_only_the_files_that_changed_and_follows_the_sync_rules(w, server, tmp_path):
    (tmp_path / "databricks.yml").write_text(f"""bundle: {{name: synced_files}}
sync:
  exclude: [notes/**]
targets:
  local: {{default: true, workspace: {{host: {server.url}}}}}
""")
    (tmp_path / ".gitignore").write_text("*.log\n")
    for rel, text in {"src/a.py": "print('a')\n", "src/b.sql": "SELECT 1\n", "src/run.log": "ignored",
                      "notes/todo.md": "excluded", "lib/pkg.whl": "any type"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    def bundle():
        return load_bundle(tmp_path, "local", user="tester@example.ph", env={})

    first = deploy(w, bundle())
    files = bundle().config["workspace"]["file_path"]
    assert (first.files, first.unchanged_files) == (4, 0)  # databricks.yml, src/a.py, src/b.sql, lib/pkg.whl

    def listed(folder: str) -> set[str]:
        return {o.path.rsplit("/", 1)[1] for o in w.workspace.list(f"{files}/{folder}")}

    assert listed("src") == {"a.py", "b.sql"} and listed("lib") == {"pkg.whl"}
    assert "notes" not in listed("")

    again = deploy(w, bundle())
    assert (again.files, again.unchanged_files) == (0, 4)  # nothing changed: nothing uploaded

    (tmp_path / "src" / "a.py").write_text("print('changed')\n")
    (tmp_path / "src" / "b.sql").unlink()
    changed = deploy(w, bundle())
    assert (changed.files, changed.unchanged_files) == (1, 2)
    assert w.workspace.download(f"{files}/src/a.py").read() == b"print('changed')\n"
    assert listed("src") == {"a.py"}  # removed from the bundle: deleted there


def test_file_names_notebooks_and_a_new_file_path_land_where_the_cli_puts_them(w, server, tmp_path):
    """From a hostile audit: '#', '?' and '%' in a name cut it (``a #1.md`` and ``a #2.md`` both became ``a ``, the
    second overwriting the first); a notebook that became a plain file (or a Scala notebook removed) stayed in the
    workspace; two files landing as one notebook overwrote each other; a new ``workspace.file_path`` got only the
    files changed since the last deploy elsewhere."""
    from odoolake.bundles.loader import BundleError

    def write(rel: str, text: str) -> None:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    def bundle(file_path: str = ""):
        where = f", file_path: {file_path}" if file_path else ""
        (tmp_path / "databricks.yml").write_text(f"bundle: {{name: synced_names}}\ntargets:\n  local: {{default: true, "
                                                 f"workspace: {{host: {server.url}{where}}}}}\n")
        return load_bundle(tmp_path, "local", user="tester@example.ph", env={})

    for rel, text in {"a #1.md": "one", "a #2.md": "two", "100%.txt": "pct", "q?x.md": "q",
                      "src/nb.py": "# Databricks notebook source\nprint(1)\n", "src/plain.py": "print(2)\n",
                      "src/snb.scala": "// Databricks notebook source\nprintln(3)\n"}.items():
        write(rel, text)
    deploy(w, bundle())
    files = bundle().config["workspace"]["file_path"]
    for rel, text in {"a #1.md": b"one", "a #2.md": b"two", "100%.txt": b"pct", "q?x.md": b"q"}.items():
        assert w.workspace.download(f"{files}/{rel}").read() == text, rel

    def kinds(folder: str) -> dict[str, str]:
        return {o.path.rsplit("/", 1)[1]: o.object_type.value for o in w.workspace.list(f"{files}/{folder}")}

    assert kinds("src") == {"nb": "NOTEBOOK", "plain.py": "FILE", "snb": "NOTEBOOK"}
    write("src/nb.py", "print('no longer a notebook')\n")
    write("src/plain.py", "# Databricks notebook source\nprint('now one')\n")
    (tmp_path / "src" / "snb.scala").unlink()
    deploy(w, bundle())
    assert kinds("src") == {"nb.py": "FILE", "plain": "NOTEBOOK"}  # nothing stale left behind

    write("src/plain.sql", "-- Databricks notebook source\nSELECT 1\n")
    with pytest.raises(BundleError, match=r"both src/plain\.py and src/plain\.sql would be .*/src/plain"):
        deploy(w, bundle())
    (tmp_path / "src" / "plain.sql").unlink()

    moved = bundle(f"{files}2")
    result = deploy(w, moved)
    assert (result.files, result.unchanged_files) == (7, 0)  # everything, at the new path
    assert w.workspace.download(f"{files}2/a #1.md").read() == b"one"


def test_a_jupyter_notebook_in_a_bundle_is_deployed_as_a_notebook_and_runs_as_a_task(w, server, tmp_path):
    """A ``.ipynb`` file was uploaded as a plain file, so a notebook_task naming it had no notebook to run; Databricks
    imports it as a notebook without its extension (a hostile audit's finding)."""
    import json

    from odoolake.bundles.deploy import destroy, run

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hello.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "markdown", "source": ["# Hello"]},
                  {"cell_type": "code", "source": ["dbutils.notebook.exit(str(6 * 7))"]}],
        "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}))
    (tmp_path / "src" / "data.ipynb").write_text("not a notebook")  # kept as the file it is
    (tmp_path / "databricks.yml").write_text(f"""bundle: {{name: jupyter_bundle}}
resources:
  jobs:
    hello:
      name: hello from jupyter
      tasks:
        - task_key: hi
          notebook_task: {{notebook_path: ./src/hello.ipynb}}
targets:
  local: {{default: true, workspace: {{host: {server.url}}}}}
""")
    bundle = load_bundle(tmp_path, "local", user="tester@example.ph", env={})
    deploy(w, bundle)
    files = bundle.config["workspace"]["file_path"]
    kinds = {o.path.rsplit("/", 1)[1]: o.object_type.value for o in w.workspace.list(f"{files}/src")}
    assert kinds == {"hello": "NOTEBOOK", "data.ipynb": "FILE"}
    try:
        finished = run(w, bundle, "hello")
        assert finished.state.result_state.value == "SUCCESS"
        output = w.jobs.get_run_output(finished.tasks[0].run_id)
        assert output.notebook_output.result == "42"
    finally:
        destroy(w, bundle)
