"""The user guide's two MLflow examples, run as a user runs them: each in a Python process of its own with only the
Databricks environment, against the workspace (the workspace model registry, then Unity Catalog)."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import run_client_script

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "user-guide.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)


def _block_with(text: str) -> str:
    found = [b for b in _python_blocks() if text in b]
    assert len(found) == 1, f"one python block of docs/user-guide.md holds {text!r}"
    return found[0]


def test_the_user_guides_mlflow_examples_run_as_written(server, tmp_path):
    workspace = _block_with('mlflow.register_model(info.model_uri, "my_model")')
    unity = _block_with('"main.default.my_model"')
    assert "model, X as above" in unity
    lines = workspace.splitlines()
    model_and_x = "\n".join(lines[:next(i for i, line in enumerate(lines) if line.startswith("model = ")) + 1])
    done = '\nprint("done")\n'
    assert run_client_script(server, tmp_path, workspace + done, "workspace_registry.py")[-1] == "done"
    assert run_client_script(server, tmp_path, model_and_x + "\n" + unity + done, "unity_catalog.py")[-1] == "done"
