import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound, ResourceDoesNotExist, Unauthenticated


def test_well_known_needs_no_token_and_me_is_the_local_user(server, w):
    r = httpx.get(f"{server.url}/.well-known/databricks-config")
    assert r.status_code == 200 and r.json()["workspace_id"].isdigit()
    me = w.current_user.me()
    assert me.user_name == server.workspace.user and me.active


def test_bad_missing_and_revoked_tokens_get_401(server, w):
    with pytest.raises(Unauthenticated, match=r"Invalid access token\. Create a new token with `odoolake tokens "):
        WorkspaceClient(host=server.url, token="dapi-not-a-token").jobs.list().__next__()
    assert httpx.get(f"{server.url}/api/2.2/jobs/list").status_code == 401
    created = w.tokens.create(comment="short-lived", lifetime_seconds=600)
    assert created.token_value.startswith("dapi")
    other = WorkspaceClient(host=server.url, token=created.token_value)
    assert other.current_user.me().user_name
    assert any(t.comment == "short-lived" for t in w.tokens.list())
    w.tokens.delete(created.token_info.token_id)
    with pytest.raises(Unauthenticated, match=r"the token has been revoked\. Create a new token with"):
        other.current_user.me()


def test_tokens_are_stored_hashed(server):
    rows = server.workspace.db.connect().execute("SELECT token_hash FROM tokens").fetchall()
    assert rows and all(server.token not in r["token_hash"] and len(r["token_hash"]) == 64 for r in rows)


def test_unknown_routes_are_501_or_404_never_200(server):
    headers = {"Authorization": f"Bearer {server.token}"}
    r = httpx.get(f"{server.url}/api/2.0/no/such/thing", headers=headers)
    assert r.status_code == 501 and r.json()["error_code"] == "NOT_IMPLEMENTED"
    assert httpx.get(f"{server.url}/nothing-here").status_code == 404


def test_malformed_json_and_wrong_types_are_400_naming_the_field(server):
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    r = httpx.post(f"{server.url}/api/2.2/jobs/create", content=b"{not json", headers=headers)
    assert r.status_code == 400 and r.json()["error_code"] == "MALFORMED_REQUEST"
    r = httpx.post(f"{server.url}/api/2.2/jobs/create", json={"name": "x", "tasks": [
        {"task_key": "a", "notebook_task": {"notebook_path": "/a"}, "timeout_seconds": "soon"}]}, headers=headers)
    assert r.status_code == 400 and "tasks[0].timeout_seconds" in r.json()["message"]
    r = httpx.post(f"{server.url}/api/2.2/jobs/create", json={"name": "x", "tasks": [
        {"task_key": "a", "notebook_task": {"notebook_path": "/a"}, "run_if": "SOMETIMES"}]}, headers=headers)
    assert r.status_code == 400 and "run_if" in r.json()["message"]


def test_missing_job_run_and_cluster_are_resource_does_not_exist(w):
    with pytest.raises(ResourceDoesNotExist, match="Job 999999 does not exist"):
        w.jobs.get(999999)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(999999)
    with pytest.raises(ResourceDoesNotExist):
        w.clusters.get("nope")
    with pytest.raises(NotFound):
        w.workspace.get_status("/Shared/none")


def test_jobs_runs_files_and_tokens_survive_a_restart(tmp_path):
    from databricks.sdk.service.jobs import NotebookTask, Task
    from databricks.sdk.service.workspace import ImportFormat, Language

    from tests.integration.workspace.conftest import running_server

    home = tmp_path / "restart"
    with running_server(home) as first:
        w1 = WorkspaceClient(host=first.url, token=first.token)
        w1.workspace.upload("/Shared/keep", b"# Databricks notebook source\ndbutils.notebook.exit('kept')\n",
                            format=ImportFormat.SOURCE, language=Language.PYTHON)
        job = w1.jobs.create(name="survivor", tasks=[Task(task_key="t", notebook_task=NotebookTask(
            notebook_path="/Shared/keep"))])
        run = w1.jobs.run_now(job_id=job.job_id).result()
        token = first.token
    with running_server(home) as second:
        w2 = WorkspaceClient(host=second.url, token=token)  # the old token still works
        assert w2.jobs.get(job.job_id).settings.name == "survivor"
        assert w2.jobs.get_run(run.run_id).state.result_state.value == "SUCCESS"
        assert w2.workspace.get_status("/Shared/keep").object_type.value == "NOTEBOOK"
