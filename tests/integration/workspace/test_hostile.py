"""Hostile input not covered elsewhere: expired tokens (also after a cached success), tokens revoked from another
process, oversized model payloads, and a malformed notebook run as a job."""

from __future__ import annotations

import base64

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import Unauthenticated
from databricks.sdk.service.jobs import NotebookTask, RunResultState, Task
from databricks.sdk.service.workspace import ImportFormat

from odoolake.workspace.db import Database
from odoolake.workspace.identity.tokens import TokenService


def test_expired_and_externally_revoked_tokens_stop_working_at_once(server):
    clock = {"now": 1_000_000.0}
    tokens = server.workspace.tokens
    original = tokens.clock
    tokens.clock = lambda: clock["now"]
    try:
        value, _ = tokens.create(server.workspace.user, "expiring", lifetime_seconds=60)
        client = WorkspaceClient(host=server.url, token=value)
        assert client.current_user.me().user_name  # authenticated, and now cached
        clock["now"] += 61
        with pytest.raises(Unauthenticated, match="expired"):
            client.current_user.me()
    finally:
        tokens.clock = original
    value, info = tokens.create(server.workspace.user, "revoked elsewhere")
    client = WorkspaceClient(host=server.url, token=value)
    assert client.current_user.me().user_name
    TokenService(Database(server.workspace.paths.home / "workspace.db")).revoke(info.token_id)  # e.g. the CLI
    with pytest.raises(Unauthenticated, match="revoked"):
        client.current_user.me()


def test_oversized_model_payload_is_refused_before_parsing(server):
    body = b'{"dataframe_records": [' + b'{"vat": 1.0},' * 1_500_000 + b'{"vat": 1.0}]}'
    assert len(body) > 16 * 1024 * 1024
    r = httpx.post(f"{server.url}/model/bir_tax_forecaster/1/invocations", content=body,
                   headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
                   timeout=60)
    assert r.status_code == 400 and r.json()["error_code"] == "MAX_REQUEST_SIZE_EXCEEDED"


def test_a_malformed_notebook_fails_its_task_with_the_reason(w):
    w.workspace.mkdirs("/Shared/hostile")
    w.workspace.import_("/Shared/hostile/not_a_notebook", format=ImportFormat.AUTO, overwrite=True,
                        content=base64.b64encode(b"\x00\x01 this is not python {{{").decode())
    job = w.jobs.create(name="hostile", tasks=[Task(task_key="t", notebook_task=NotebookTask(
        notebook_path="/Shared/hostile/not_a_notebook"))])
    run = w.jobs.run_now(job_id=job.job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    error = w.jobs.get_run_output(run.tasks[0].run_id).error
    assert error and ("notebook" in error.lower() or "SyntaxError" in error)
