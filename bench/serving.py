"""Serving latency: single-row invocations over HTTP against the model's own in-process predict and against
``mlflow models serve``.

    python bench/serving.py [--requests 800] [--rounds 3]

A trained bir_tax_forecaster is needed; the first run generates three years of Odoo data into
``bench/.data/serving``, runs the month-end and trains (about a minute), later runs reuse it.
The workspace server and ``mlflow models serve`` run in their own processes (as ``odoolake up`` does) so client
and servers do not share a GIL. Each round sends ``--requests`` requests per target, interleaved request by
request (the order rotates) so every target sees the same noise. The request is what the Odoo addon sends: one
agency and month.
- ``predict``: ``pyfunc.predict`` on a one-row DataFrame in this process (the model's own cost);
- ``mlflow_parse+predict``: MLflow's ``invocations()`` on the JSON body, in this process (parser cost);
- ``endpoint``: ``POST /serving-endpoints/bir-forecast/invocations``;
- ``classic``: ``POST /model/bir_tax_forecaster/<version>/invocations`` (the seed's Odoo URL);
- ``mlflow_serve``: ``POST /invocations`` on ``mlflow models serve --env-manager local`` with the same version.
Reported: per-target p50/p99 as the median over rounds. Targets: endpoint p50 ≤ predict p50 + 2 ms, and
endpoint p50 ≤ ``mlflow models serve`` p50.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
HOME = HERE / ".data" / "serving"
MLFLOW_SERVE_READY_SECONDS = 180
SERVER = """
import sys, uvicorn
from pathlib import Path
from odoolake.workspace.app import WorkspaceSettings, create_app
settings = WorkspaceSettings(home=Path(sys.argv[1]), port=int(sys.argv[2]), scheduler=False)
uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ensure_model() -> str:
    from odoolake.cli.common import dbfs_lister
    from odoolake.config import WorkspacePaths
    from odoolake.ml import ALIAS, MODEL_NAME, tracking

    paths = WorkspacePaths.from_env(HOME).ensure()
    try:
        return str(tracking.client(paths).get_model_version_by_alias(MODEL_NAME, ALIAS).version)
    except Exception:
        pass
    from odoolake.datagen import GenConfig, generate
    from odoolake.ml.train import train
    from odoolake.pipeline import month_end
    from odoolake.workspace.engine import LocalEngine

    print("training a model for the benchmark (first run only)…", flush=True)
    generate(GenConfig(months=36, end=date(2026, 10, 1), lines=24_000, seed=11), paths.dbfs_to_local("dbfs:/raw/odoo"))
    engine = LocalEngine(paths)
    spark = engine.session()
    month_end.run(spark, "dbfs:/raw/odoo", dbfs_lister(paths))
    result = train(spark, paths)
    engine.close()
    return result.version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(client: httpx.Client, path: str, proc: subprocess.Popen, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while True:
        try:
            if client.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.2)


def start_mlflow_serve(paths, version: str, port: int) -> subprocess.Popen:
    """``mlflow models serve`` on the same registry version; it execs uvicorn, so the venv's bin goes on PATH."""
    from odoolake.ml import MODEL_NAME, tracking

    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.local_config(paths).tracking_uri,
           "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.Popen([os.path.join(bindir, "mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}/{version}",
                             "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import mlflow.pyfunc
    import pandas as pd
    from mlflow.pyfunc.scoring_server import invocations

    from odoolake.config import WorkspacePaths
    from odoolake.ml import MODEL_NAME, tracking
    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.tokens import TokenService

    version = ensure_model()
    paths = WorkspacePaths.from_env(HOME)
    token, _ = TokenService(Database(paths.home / "workspace.db")).create("bench@localhost", "serving bench")
    port, mlflow_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(paths.home), str(port)], env=os.environ.copy())
    reference = start_mlflow_serve(paths, version, mlflow_port)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                          timeout=120)
    plain = httpx.Client(base_url=f"http://127.0.0.1:{mlflow_port}", timeout=120)
    try:
        wait_ready(client, "/_odoolake/health", proc, 120, "the workspace server")
        wait_ready(plain, "/ping", reference, MLFLOW_SERVE_READY_SECONDS, "mlflow models serve")
        client.delete("/api/2.0/serving-endpoints/bir-forecast")
        client.post("/api/2.0/serving-endpoints", json={"name": "bir-forecast", "config": {"served_entities": [
            {"entity_name": MODEL_NAME, "entity_version": version, "workload_size": "Small",
             "scale_to_zero_enabled": False}]}}).raise_for_status()

        model = mlflow.pyfunc.load_model(tracking.client(paths).get_model_version_download_uri(MODEL_NAME, version))
        schema = model.metadata.get_input_schema()
        table = model.unwrap_python_model().table
        agency, period = sorted(table)[0]
        row = {"agency": agency, "period": period}
        frame = pd.DataFrame([row])
        body = json.dumps({"dataframe_records": [row]})
        headers = {"Content-Type": "application/json"}
        targets = {
            "predict": lambda: model.predict(frame),
            "mlflow_parse+predict": lambda: invocations(body, "application/json", model, schema),
            "endpoint": lambda: client.post("/serving-endpoints/bir-forecast/invocations", content=body,
                                            headers=headers).raise_for_status(),
            "classic": lambda: client.post(f"/model/{MODEL_NAME}/{version}/invocations", content=body,
                                           headers=headers).raise_for_status(),
            "mlflow_serve": lambda: plain.post("/invocations", content=body, headers=headers).raise_for_status(),
        }
        for fn in targets.values():  # warm-up: first loads, connection set-up, lazy imports
            for _ in range(30):
                fn()
        rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            samples: dict[str, list[float]] = {name: [] for name in targets}
            order = list(targets.items())
            for i in range(args.requests):
                for name, fn in order[i % len(order):] + order[:i % len(order)]:  # rotate: no position bias
                    started = time.perf_counter()
                    fn()
                    samples[name].append((time.perf_counter() - started) * 1000)
            for name, values in samples.items():
                rounds[name].append((pct(values, 0.5), pct(values, 0.99)))
    finally:
        for p in (proc, reference):
            p.terminate()
        for p in (proc, reference):
            p.wait(timeout=30)

    result = {name: {"p50_ms": round(statistics.median(r[0] for r in values), 3),
                     "p99_ms": round(statistics.median(r[1] for r in values), 3)} for name, values in rounds.items()}
    overhead = result["endpoint"]["p50_ms"] - result["predict"]["p50_ms"]
    versus_mlflow = result["endpoint"]["p50_ms"] - result["mlflow_serve"]["p50_ms"]
    report = {
        "date": date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                      "platform": platform.platform()},
        "model": f"{MODEL_NAME} v{version}", "request": "one agency and month", "requests_per_round": args.requests,
        "rounds": args.rounds, "targets": result, "endpoint_overhead_p50_ms": round(overhead, 3),
        "classic_overhead_p50_ms": round(result["classic"]["p50_ms"] - result["predict"]["p50_ms"], 3),
        "endpoint_minus_mlflow_serve_p50_ms": round(versus_mlflow, 3),
        "target_overhead_ms": 2.0, "met": overhead <= 2.0 and versus_mlflow <= 0,
    }
    print(f"{'target':<22}{'p50 ms':>10}{'p99 ms':>10}")
    for name, values in result.items():
        print(f"{name:<22}{values['p50_ms']:>10.2f}{values['p99_ms']:>10.2f}")
    print(f"HTTP serving overhead over predict at p50: {overhead:.2f} ms (target ≤ 2 ms); endpoint vs "
          f"mlflow models serve at p50: {versus_mlflow:+.2f} ms (target ≤ 0): {'met' if report['met'] else 'missed'}")
    out = HERE / "results" / f"serving-{date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
