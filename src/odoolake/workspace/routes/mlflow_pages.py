"""The experiment and run pages whose links MLflow prints after a run with ``tracking_uri="databricks"``
("View run … at: <host>/ml/experiments/<id>/runs/<run>", "View experiment at: <host>/ml/experiments/<id>").

Plain HTML from the workspace's tracking store: a run's state, params, latest metrics, tags and artifacts; an
experiment's runs. Browsers send the token as HTTP Basic credentials, as on the job run pages (:mod:`.run_page`).
The full MLflow UI runs with ``odoolake ml ui``; each page says where the same run is there.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from odoolake.workspace.errors import ApiError, ResourceDoesNotExist
from odoolake.workspace.routes.run_page import CHALLENGE, page_time, page_token

router = APIRouter()
MLFLOW_UI = "http://127.0.0.1:5000"  # where ``odoolake ml ui`` serves MLflow's UI by default
RUNS_SHOWN = 100  # an experiment page lists its newest runs
ARTIFACTS_SHOWN = 200  # a run page lists at most this many artifact files
STYLE = """body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;
text-align:left}.FINISHED{color:#080}.FAILED,.KILLED{color:#b00}code{background:#f6f6f6;padding:0 .2em}"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _document(title: str, body: str, ui_fragment: str) -> str:
    e = html.escape
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title><style>{STYLE}</style>"
            f"</head><body>{body}<p>The full MLflow UI: run <code>odoolake ml ui</code>, then open "
            f"<code>{e(MLFLOW_UI)}/#/{e(ui_fragment)}</code>.</p></body></html>")


def _artifacts(request: Request, artifact_uri: str) -> list[list[str]]:
    """The run's artifact files (path, size) when they are in this workspace's DBFS."""
    if not artifact_uri.startswith("dbfs:/"):
        return [[html.escape(f"kept at {artifact_uri}"), ""]]
    try:
        _, root = request.app.state.ws.dbfs.local(artifact_uri)
    except ApiError as exc:  # a location outside the workspace's DBFS: the rest of the run is still shown
        return [[html.escape(f"kept at {artifact_uri}: {exc.message}"), ""]]
    if not Path(root).is_dir():
        return []
    rows = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file())[:ARTIFACTS_SHOWN]:
        rows.append([f"<code>{html.escape(str(path.relative_to(root)))}</code>", f"{path.stat().st_size:,} bytes"])
    return rows


def run_page(request: Request, experiment_id: str, run: Any) -> str:
    e = html.escape
    info, data = run.info, run.data
    name = info.run_name or info.run_id
    params = [[f"<code>{e(k)}</code>", f"<code>{e(v)}</code>"] for k, v in sorted(data.params.items())]
    metrics = [[f"<code>{e(k)}</code>", e(f"{v:g}")] for k, v in sorted(data.metrics.items())]
    tags = [[f"<code>{e(k)}</code>", e(v)] for k, v in sorted(data.tags.items()) if not k.startswith("mlflow.")]
    body = (f"<h1>{e(name)} <small>run {e(info.run_id)}</small></h1>"
            f"<p>Status: <b class={e(info.status)}>{e(info.status)}</b>"
            f"{' (deleted)' if info.lifecycle_stage == 'deleted' else ''} · started {page_time(info.start_time)} · "
            f"ended {page_time(info.end_time)} · experiment <a href=\"/ml/experiments/{e(experiment_id)}\">"
            f"{e(experiment_id)}</a></p>"
            f"<h2>Parameters</h2>{_table(['name', 'value'], params)}"
            f"<h2>Metrics (latest)</h2>{_table(['name', 'value'], metrics)}"
            f"<h2>Tags</h2>{_table(['name', 'value'], tags)}"
            f"<h2>Artifacts</h2>{_table(['path', 'size'], _artifacts(request, info.artifact_uri))}")
    return _document(f"{name} · MLflow run", body, f"experiments/{experiment_id}/runs/{info.run_id}")


def experiment_page(experiment: Any, runs: list[Any]) -> str:
    e = html.escape
    rows = [[f"<a href=\"/ml/experiments/{e(experiment.experiment_id)}/runs/{e(r.info.run_id)}\">"
             f"{e(r.info.run_name or r.info.run_id)}</a>", f"<span class={e(r.info.status)}>{e(r.info.status)}</span>",
             page_time(r.info.start_time), e(", ".join(f"{k}={v:g}" for k, v in sorted(r.data.metrics.items())))]
            for r in runs]
    body = (f"<h1>{e(experiment.name)} <small>experiment {e(experiment.experiment_id)}</small></h1>"
            f"<p>Artifacts at <code>{e(experiment.artifact_location)}</code>; newest {RUNS_SHOWN} runs:</p>"
            f"{_table(['run', 'status', 'started', 'metrics'], rows)}")
    return _document(f"{experiment.name} · MLflow experiment", body, f"experiments/{experiment.experiment_id}")


def _answer(request: Request, render) -> HTMLResponse:
    """The page ``render(tracking_store)`` makes, once the caller's token is known; MLflow's and the workspace's
    refusals as a one-line page with their status."""
    from mlflow.exceptions import MlflowException

    ws = request.app.state.ws
    try:
        ws.tokens.authenticate(page_token(request))
        return HTMLResponse(render(ws.mlflow_server.stores().tracking))
    except ApiError as exc:
        headers = CHALLENGE if exc.status == 401 else None
        return HTMLResponse(f"<p>{html.escape(exc.message)}</p>", status_code=exc.status, headers=headers)
    except MlflowException as exc:
        return HTMLResponse(f"<p>{html.escape(str(exc.message).splitlines()[0])}</p>",
                            status_code=exc.get_http_status_code())


@router.get("/ml/experiments/{experiment_id}/runs/{run_id}", include_in_schema=False)
def mlflow_run_page(experiment_id: str, run_id: str, request: Request) -> HTMLResponse:
    def render(store: Any) -> str:
        run = store.get_run(run_id)
        if run.info.experiment_id != experiment_id:
            raise ResourceDoesNotExist(f"Run {run_id} is not in experiment {experiment_id} (it is in "
                                       f"{run.info.experiment_id}).")
        return run_page(request, experiment_id, run)

    return _answer(request, render)


@router.get("/ml/experiments/{experiment_id}", include_in_schema=False)
def mlflow_experiment_page(experiment_id: str, request: Request) -> HTMLResponse:
    def render(store: Any) -> str:
        from mlflow.entities import ViewType

        experiment = store.get_experiment(experiment_id)
        runs = store.search_runs([experiment_id], "", ViewType.ACTIVE_ONLY, max_results=RUNS_SHOWN,
                                 order_by=["attributes.start_time DESC"])
        return experiment_page(experiment, list(runs))

    return _answer(request, render)
