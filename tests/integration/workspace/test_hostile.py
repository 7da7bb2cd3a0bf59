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


def _chunked_post(url: str, path: str, token: str, total: int, chunk: int = 1024 * 1024) -> tuple[int, bytes]:
    """POST ``total`` bytes with Transfer-Encoding: chunked until the server answers; (bytes sent, its answer)."""
    import select
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
                 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    block = b"%x\r\n" % chunk + b"[" * chunk + b"\r\n"
    sent = 0
    try:
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered
            sock.sendall(block)
            sent += chunk
        else:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection after answering
    answer = b""
    try:
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    sock.close()
    return sent, answer


def test_oversized_chunked_bodies_are_refused_while_they_stream(server):
    sent, answer = _chunked_post(server.url, "/api/2.0/sql/statements", server.token, total=200 * 1024 * 1024)
    assert answer.startswith(b"HTTP/1.1 400") and b"MAX_REQUEST_SIZE_EXCEEDED" in answer, answer[:300]
    assert sent < 64 * 1024 * 1024, f"{sent / 2**20:.0f} MiB were read before the 20 MiB limit answered"


def test_deep_json_huge_integers_and_wrong_types_are_400_naming_the_field(server):
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    for depth in (100, 1000, 100_000):
        r = httpx.post(f"{server.url}/api/2.2/jobs/create", content=b'{"a":' + b"[" * depth + b"]" * depth + b"}",
                       headers=headers)
        assert r.status_code == 400 and "nests deeper than 64" in r.json()["message"], (depth, r.text[:200])
    huge = 10**30
    r = httpx.get(f"{server.url}/api/2.2/jobs/get", params={"job_id": str(huge)}, headers=headers)
    assert r.status_code == 400 and r.json()["message"] == f"Invalid job_id: {huge} is out of range (a 64-bit integer)."
    for path, body, name in (("/api/2.2/jobs/delete", {"job_id": huge}, "job_id"),
                             ("/api/2.2/jobs/run-now", {"job_id": 1, "python_params": [huge]}, "python_params[0]"),
                             ("/api/2.2/jobs/runs/cancel", {"run_id": -huge}, "run_id")):
        r = httpx.post(f"{server.url}{path}", json=body, headers=headers)
        assert r.status_code == 400 and r.json()["message"].startswith(f"Invalid {name}: "), r.text
    for body in ({"statement": 42, "warehouse_id": "local0000000000"},
                 {"statement": {"sql": "SELECT 1"}, "warehouse_id": "local0000000000"}):
        r = httpx.post(f"{server.url}/api/2.0/sql/statements", json=body, headers=headers)
        assert r.status_code == 400 and "Invalid statement" in r.json()["message"], r.text


def test_symbolic_links_never_lead_out_of_dbfs_or_volumes(server, tmp_path):
    import os

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the API")
    dbfs, volumes = server.workspace.paths.dbfs_root, server.workspace.volumes.root
    os.symlink(outside, dbfs / "escape")
    os.symlink(outside / "secret.txt", dbfs / "secret-link")
    (volumes / "main" / "default" / "vol").mkdir(parents=True, exist_ok=True)
    os.symlink(outside, volumes / "main" / "default" / "vol" / "escape")
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        for r in (http.get("/api/2.0/dbfs/read", params={"path": "/secret-link"}),
                  http.get("/api/2.0/dbfs/read", params={"path": "/escape/secret.txt"}),
                  http.get("/api/2.0/dbfs/list", params={"path": "/escape"}),
                  http.post("/api/2.0/dbfs/put", json={"path": "/escape/planted.txt", "contents": "aGk="}),
                  http.post("/api/2.0/dbfs/mkdirs", json={"path": "/escape/sub"}),
                  http.get("/api/2.0/fs/files/Volumes/main/default/vol/escape/secret.txt"),
                  http.put("/api/2.0/fs/files/Volumes/main/default/vol/escape/planted.txt", content=b"hi"),
                  http.get("/api/2.0/fs/directories/Volumes/main/default/vol/escape")):
            assert r.status_code == 400 and "symbolic link" in r.json()["message"], (r.request.url, r.text)
        listed = [f["path"] for f in http.get("/api/2.0/dbfs/list", params={"path": "/"}).json()["files"]]
        assert "/escape" not in listed and "/secret-link" not in listed
        assert http.post("/api/2.0/dbfs/delete", json={"path": "/secret-link"}).status_code == 200
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]  # nothing planted, nothing deleted
    assert not (dbfs / "secret-link").exists()
