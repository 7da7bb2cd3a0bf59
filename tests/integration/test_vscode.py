"""The VS Code set-up: its launch configurations call commands that exist, and `odoolake notebook run` executes a
notebook as a local Python process with the notebook's own file and line numbers (so breakpoints bind)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from odoolake.cli.main import app

REPO = Path(__file__).resolve().parents[2]


def test_launch_configurations_use_commands_that_exist():
    launch = json.loads((REPO / ".vscode" / "launch.json").read_text())
    settings = json.loads((REPO / ".vscode" / "settings.json").read_text())
    assert settings["python.defaultInterpreterPath"] == "${workspaceFolder}/.venv/bin/python"
    # the Ruff extension's id: publisher charliermarsh, name ruff (its package.json); a wrong one is "not installed"
    assert settings["[python]"]["editor.defaultFormatter"] == "charliermarsh.ruff"
    terminals = [settings[f"terminal.integrated.env.{system}"] for system in ("linux", "osx", "windows")]
    assert all(env == {"ODOOLAKE_HOME": "${workspaceFolder}/.odoolake", "DATABRICKS_CONFIG_PROFILE": "odoolake"}
               for env in terminals)  # the profile the docs set up, on every system
    runner = CliRunner()
    for config in launch["configurations"]:
        assert config["type"] == "debugpy" and config["request"] == "launch"
        if config.get("module") == "odoolake.cli.main":
            command = [a for a in config["args"] if not a.startswith("${")][:2]
            words = [w for w in command if not w.startswith("-")]
            result = runner.invoke(app, [*words, "--help"])
            assert result.exit_code == 0, (config["name"], result.output)


def test_notebook_run_reports_errors_at_the_notebooks_own_line(tmp_path, monkeypatch):
    notebook = tmp_path / "debug_me.py"
    notebook.write_text("# Databricks notebook source\nx = 1\n\n# COMMAND ----------\n\n"
                        "dbutils.widgets.text('agency', 'RIM')\nprint('agency', dbutils.widgets.get('agency'))\n"
                        "y = 1 / 0\n")
    frames: list[tuple[str, int]] = []

    def record(event_frame, event, arg):  # what a debugger sees: the file and line being executed
        if event == "line" and event_frame.f_code.co_filename == str(notebook):
            frames.append((event_frame.f_code.co_filename, event_frame.f_lineno))
        return record

    monkeypatch.setenv("ODOOLAKE_HOME", str(tmp_path / "home"))
    sys.settrace(record)
    try:
        result = CliRunner().invoke(app, ["notebook", "run", str(notebook), "--params", "agency=BOM"])
    finally:
        sys.settrace(None)
    assert "agency BOM" in result.output
    assert isinstance(result.exception, ZeroDivisionError) or "division by zero" in result.output
    assert (str(notebook), 8) in frames and (str(notebook), 2) in frames  # lines 2 and 8 of the file itself


def test_notebook_run_of_a_pipeline_notebook_says_how_pipelines_run(tmp_path, monkeypatch):
    """It failed "No module named 'dlt'" with no hint: such a notebook is a pipeline's, run by an update."""
    notebook = tmp_path / "dlt_me.py"
    notebook.write_text("# Databricks notebook source\nimport dlt\n\n@dlt.table\ndef t():\n    return spark.range(1)\n")
    monkeypatch.setenv("ODOOLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.delitem(sys.modules, "dlt", raising=False)  # a pipeline run in this process maps it in
    result = CliRunner().invoke(app, ["notebook", "run", str(notebook)])
    assert result.exit_code == 1 and "imports dlt: it is a pipeline's notebook, run by a pipeline update " \
        "(odoolake bundle run <pipeline>, or w.pipelines.start_update)" in " ".join(result.output.split())
