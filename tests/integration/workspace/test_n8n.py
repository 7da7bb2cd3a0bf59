"""The n8n workflow in integrations/n8n, replayed against the local workspace: the same HTTP calls its nodes make
(N8nReplay, a replayer of n8n's node semantics; the n8n server itself needs Node 24 and 2.8 GB)."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from odoolake.testing.n8n_replay import N8nExecutionError, N8nReplay

N8N = Path(__file__).resolve().parents[3] / "integrations" / "n8n"


class Receiver:
    """A chat webhook stand-in on loopback that records what the Notify nodes post."""

    def __init__(self) -> None:
        received = self.received = []
        headers = self.headers = []  # each request's headers, in the order of ``received``

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                headers.append(dict(self.headers))
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/finance"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _workflow(host: str, notify: str, job_name: str = "", job_id: str = "") -> dict:
    wf = json.loads((N8N / "bir_etl_run_and_wait.json").read_text())
    config = next(n for n in wf["nodes"] if n["name"] == "Config")
    values = {"databricks_host": host, "job_name": job_name, "job_id": job_id, "notify_url": notify, "max_polls": 200}
    for assignment in config["parameters"]["assignments"]["assignments"]:
        assignment["value"] = values[assignment["name"]]  # what a user edits after importing
    return wf


def _job(w, name: str, source: str) -> int:
    from databricks.sdk.service.jobs import JobParameterDefinition, NotebookTask, Task
    from databricks.sdk.service.workspace import ImportFormat, Language

    path = f"/Shared/n8n/{name.replace(' ', '_')}"
    w.workspace.mkdirs("/Shared/n8n")
    w.workspace.import_(path, content=base64.b64encode(source.encode()).decode(), format=ImportFormat.SOURCE,
                        language=Language.PYTHON, overwrite=True)
    return w.jobs.create(name=name, parameters=[JobParameterDefinition(name="raw_root", default="dbfs:/raw/odoo")],
                         tasks=[Task(task_key="main", notebook_task=NotebookTask(notebook_path=path))]).job_id


def _replay(server, wf: dict) -> N8nReplay:
    return N8nReplay(wf, {"odoolakeHeader01": {"name": "Authorization", "value": f"Bearer {server.token}"}},
                     wait_scale=0.02, max_steps=4000)  # a 10 s wait becomes 0.2 s


def test_the_workflow_file_is_importable_and_n8n_execute_can_start_it():
    wf = json.loads((N8N / "bir_etl_run_and_wait.json").read_text())
    creds = {c["id"]: c for c in json.loads((N8N / "credentials.example.json").read_text())}
    names = [n["name"] for n in wf["nodes"]]
    assert len(set(names)) == len(names) and len({n["id"] for n in wf["nodes"]}) == len(names)
    assert wf["settings"]["executionOrder"] == "v1"
    for source, outputs in wf["connections"].items():
        assert source in names
        assert all(t["node"] in names for branch in outputs["main"] for t in branch)
    for node in wf["nodes"]:
        if node["type"] == "n8n-nodes-base.httpRequest":
            assert node["typeVersion"] in (3, 4, 4.1, 4.2, 4.3, 4.4, 4.5)
            for cred in (node.get("credentials") or {}).values():
                assert cred["id"] in creds and creds[cred["id"]]["type"] == "httpHeaderAuth"
    # `n8n execute --id` starts only from a Manual Trigger: the workflow has one beside its schedule, both into Config
    triggers = {n["type"]: n["name"] for n in wf["nodes"] if n["type"].endswith("Trigger")}
    assert set(triggers) == {"n8n-nodes-base.manualTrigger", "n8n-nodes-base.scheduleTrigger"}
    for name in triggers.values():
        assert wf["connections"][name]["main"] == [[{"node": "Config", "type": "main", "index": 0}]]
    without_manual = {**wf, "nodes": [n for n in wf["nodes"] if n["type"] != "n8n-nodes-base.manualTrigger"]}
    with pytest.raises(N8nExecutionError, match="Missing node to start execution"):
        N8nReplay(without_manual, {}).run()


@pytest.mark.parametrize(("outcome", "source", "by"), [
    ("success", "# Databricks notebook source\nprint('month-end ok')\n", "name"),
    ("failure", "# Databricks notebook source\nraise ValueError('silver found an \"unknown\" ATC')\n", "name"),
    ("success", "# Databricks notebook source\nprint('month-end ok')\n", "id"),
])
def test_replay_runs_the_job_polls_and_notifies(server, w, outcome, source, by):
    name = f"n8n replay {outcome} by {by}"
    job_id = _job(w, name, source)
    receiver = Receiver()
    wf = _workflow(server.url, receiver.url, **({"job_name": name} if by == "name" else {"job_id": str(job_id)}))
    replay = _replay(server, wf)
    executed = replay.run()
    receiver.httpd.shutdown()

    assert executed[:2] == ["Run now", "Config"]  # started from the Manual Trigger, as n8n execute does
    find, run_now, *polls = [c for c in replay.calls if not c.node.startswith("Notify")]
    if by == "name":
        assert (find.method, find.url, find.params) == ("GET", f"{server.url}/api/2.1/jobs/list", {"name": name})
    else:
        assert (find.url, find.params) == (f"{server.url}/api/2.1/jobs/get", {"job_id": str(job_id)})
    assert run_now.method == "POST" and run_now.url.endswith("/api/2.1/jobs/run-now")
    assert run_now.body == {"job_id": job_id, "job_parameters": {"raw_root": "dbfs:/raw/odoo"}}
    assert run_now.headers == {"Authorization": f"Bearer {server.token}"}
    run_id = run_now.response["run_id"]
    assert polls and all(c.params == {"run_id": str(run_id)} for c in polls)
    assert polls[-1].response["state"]["life_cycle_state"] == "TERMINATED"
    assert executed.count("Get run") == len(polls) and executed[-1] == f"Notify {outcome}"
    [message] = receiver.received
    assert str(run_id) in message["text"]
    if outcome == "failure":
        assert "TERMINATED / FAILED" in message["text"] and 'found an "unknown" ATC' in message["text"]
    link = message["text"].split()[-1]
    assert link == polls[-1].response["run_page_url"]
    page = httpx.get(link, headers={"Authorization": f"Bearer {server.token}"},
                     verify=ssl.create_default_context(cafile=server.ca_bundle))  # the workspace's own CA
    assert page.status_code == 200 and name in page.text  # the link in the message opens the run


@pytest.mark.parametrize(("by", "value"), [("job_name", "bir_etl"), ("job_id", "987654")])
def test_a_missing_job_sends_a_message_that_says_what_to_set(server, by, value):
    receiver = Receiver()
    replay = _replay(server, _workflow(server.url, receiver.url, **{by: value}))
    executed = replay.run()
    receiver.httpd.shutdown()
    assert executed[-1] == "Notify job missing" and not any(c.node == "Run job" for c in replay.calls)
    [message] = receiver.received
    assert f"did not start: no job {value} at {server.url}" in message["text"]
    assert "Set job_name to the name jobs list shows" in message["text"] and "job_id in the Config node" in message["text"]
    if by == "job_id":
        assert "Job 987654 does not exist" in message["text"]
