"""The run page whose URL ``runs/get`` gives as ``run_page_url`` (``/jobs/<job>/runs/<run>``): run state, tasks
and their output as plain HTML, for people following a link from the CLI, n8n or a chat message.

Browsers cannot send a bearer token, so the page also takes HTTP Basic credentials with the token as the password
(any user name), the same convention Databricks accepts; without credentials it asks for them.
"""

from __future__ import annotations

import base64
import binascii
import html
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from odoolake.workspace.errors import ApiError

router = APIRouter()
CHALLENGE = {"WWW-Authenticate": 'Basic realm="odoolake workspace: paste a token as the password"'}
LOG_TAIL = 20_000


def page_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if auth[:6].lower() == "basic ":
        try:
            return base64.b64decode(auth[6:]).decode().partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def page_time(ms: int | None) -> str:
    """A time in milliseconds since the epoch as a page shows it (UTC); '-' when unset."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "-"


def _state(doc: dict) -> str:
    state = doc.get("state") or {}
    return state.get("result_state") or state.get("life_cycle_state") or "PENDING"


def _page(run: dict, outputs: dict[int, dict]) -> str:
    e = html.escape
    rows = []
    seen: set[str] = set()  # a task listed again is a later attempt of it (a retry or a repair)
    for task in run.get("tasks", []):
        again = task["task_key"] in seen
        seen.add(task["task_key"])
        out = outputs.get(task["run_id"]) or {}
        detail = []
        if out.get("error"):
            detail.append(f"<p class=error>{e(out['error'])}</p>")
        result = (out.get("notebook_output") or {}).get("result")
        if result is not None:
            detail.append(f"<p>exit value: <code>{e(str(result))}</code></p>")
        if out.get("logs"):
            detail.append(f"<details><summary>output</summary><pre>{e(out['logs'][-LOG_TAIL:])}</pre></details>")
        if out.get("error_trace"):
            detail.append(f"<details><summary>traceback</summary><pre>{e(out['error_trace'])}</pre></details>")
        message = (task.get("state") or {}).get("state_message", "")
        label = e(task["task_key"]) + (f" <small>(attempt {task.get('attempt_number', 0)}, task run "
                                        f"{task['run_id']})</small>" if again else "")
        rows.append(f"<tr><td>{label}</td><td class={e(_state(task))}>{e(_state(task))}</td>"
                    f"<td>{page_time(task.get('start_time'))}</td><td>{page_time(task.get('end_time'))}</td>"
                    f"<td>{e(message)}{''.join(detail)}</td></tr>")
    params = "".join(f"<li><code>{e(p['name'])}</code> = <code>{e(str(p.get('value', '')))}</code></li>"
                     for p in run.get("job_parameters") or [])
    return f"""<!doctype html><html><head><meta charset=utf-8><title>{e(run.get('run_name', ''))} run {run['run_id']}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;
text-align:left}}.SUCCESS{{color:#080}}.FAILED,.TIMEDOUT,.INTERNAL_ERROR,.UPSTREAM_FAILED,.error{{color:#b00}}
pre{{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em}}</style></head><body>
<h1>{e(run.get('run_name', ''))} <small>run {run['run_id']}</small></h1>
<p>State: <b class={e(_state(run))}>{e(_state(run))}</b> {e((run.get('state') or {}).get('state_message', ''))}</p>
<p>Job {run.get('job_id', '(one-time run)')} · {e(run.get('trigger', ''))} · started {page_time(run.get('start_time'))} ·
ended {page_time(run.get('end_time'))}</p>{f'<ul>{params}</ul>' if params else ''}
<table><tr><th>task</th><th>state</th><th>started</th><th>ended</th><th>details</th></tr>{''.join(rows)}</table>
</body></html>"""


def _show(request: Request, run_id: int) -> HTMLResponse:
    ws = request.app.state.ws
    try:
        ws.tokens.authenticate(page_token(request))
        run = ws.jobs.get_run(run_id)
    except ApiError as exc:
        headers = CHALLENGE if exc.status == 401 else None
        return HTMLResponse(f"<p>{html.escape(exc.message)}</p>", status_code=exc.status, headers=headers)
    if "tasks" not in run:  # a task run's own page: show the run it belongs to
        parent = ws.jobs.store.output(run_id)
        if parent is not None:
            run = ws.jobs.get_run(parent[0])
    outputs: dict[int, dict] = {t["run_id"]: (ws.jobs.store.output(t["run_id"]) or (0, {}))[1]
                                for t in run.get("tasks", [])}
    return HTMLResponse(_page(run, outputs))


@router.get("/jobs/{job_id}/runs/{run_id}", include_in_schema=False)
def job_run_page(job_id: int, run_id: int, request: Request) -> HTMLResponse:
    return _show(request, run_id)


@router.get("/jobs/runs/{run_id}", include_in_schema=False)
def submitted_run_page(run_id: int, request: Request) -> HTMLResponse:
    return _show(request, run_id)
