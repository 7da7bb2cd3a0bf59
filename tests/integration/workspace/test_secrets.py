"""Secrets never appear in run output, logs, errors or the stored run: they are redacted, as on Databricks."""

from __future__ import annotations

import base64
import json

from databricks.sdk.service.jobs import NotebookTask, RunResultState, Task
from databricks.sdk.service.workspace import ImportFormat, Language

SECRET = "odoo-api-key-7f3a9c"

LEAKY = """# Databricks notebook source
dbutils.widgets.text("from_param", "")
key = dbutils.secrets.get("odoo", "api_key")
print("the key is", key, "and the parameter is", dbutils.widgets.get("from_param"))
dbutils.jobs.taskValues.set(key="copy", value=key)
if dbutils.widgets.get("fail") == "yes":
    raise RuntimeError(f"could not log in with {key}")
dbutils.notebook.exit(f"used {key}")
"""


def test_secret_values_are_redacted_everywhere(w, server, monkeypatch):
    monkeypatch.setenv("ODOOLAKE_SECRET_ODOO_API_KEY", SECRET)  # task processes inherit the server's environment
    w.workspace.mkdirs("/Shared/secrets")
    w.workspace.import_("/Shared/secrets/leaky", content=base64.b64encode(LEAKY.encode()).decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    for fail in ("no", "yes"):
        job = w.jobs.create(name=f"leaky {fail}", tasks=[Task(task_key="leak", notebook_task=NotebookTask(
            notebook_path="/Shared/secrets/leaky",
            base_parameters={"from_param": "{{secrets/odoo/api_key}}", "fail": fail}))])
        run = w.jobs.run_now(job_id=job.job_id).result()
        expected = RunResultState.SUCCESS if fail == "no" else RunResultState.FAILED
        assert run.state.result_state == expected
        output = w.jobs.get_run_output(run.tasks[0].run_id)
        everything = json.dumps(output.as_dict()) + json.dumps(w.jobs.get_run(run.run_id).as_dict())
        assert SECRET not in everything
        if fail == "no":
            assert "the key is [REDACTED] and the parameter is [REDACTED]" in output.logs
            assert output.notebook_output.result == "used [REDACTED]"
        else:
            assert "could not log in with [REDACTED]" in output.error and "[REDACTED]" in output.error_trace
        stored = "".join(p.read_text() for p in (server.workspace.paths.home / "runs").rglob("*") if p.is_file())
        assert SECRET not in stored  # task spec, result and stdout.log on disk
