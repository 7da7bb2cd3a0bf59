"""REST API benchmark on loopback: run-now → TERMINATED, statement latency, jobs/list throughput.

    python bench/api.py [--runs 20] [--statements 100] [--clients 20] [--seconds 10]

The server runs in this process (uvicorn thread) on a free 127.0.0.1 port with a temporary home. Clients are
plain HTTP (httpx) so the numbers measure the server, not the SDK's polling back-off (1 s minimum).
- run-now: a one-cell notebook job; poll runs/get every 20 ms until TERMINATED.
- statement: the seed's gold query (GROUP BY agency on a small gold.bir_transactions), wait_timeout 30s.
- jobs/list: N client threads for a fixed time; requests/s and error count.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import uvicorn

HERE = Path(__file__).resolve().parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    from odoolake.workspace.app import Workspace, WorkspaceSettings, create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--statements", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        settings = WorkspaceSettings(home=Path(tmp), port=port)
        ws = Workspace(settings)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, ws), host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        token, _ = ws.tokens.create(ws.user, "bench")
        base = settings.base_url
        headers = {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=base, headers=headers, timeout=60)

        # run-now -> TERMINATED
        import base64

        nb = base64.b64encode(b"# Databricks notebook source\ndbutils.notebook.exit('ok')\n").decode()
        client.post("/api/2.0/workspace/import", json={"path": "/Shared/bench", "content": nb, "format": "SOURCE",
                                                       "language": "PYTHON", "overwrite": True}).raise_for_status()
        job_id = client.post("/api/2.2/jobs/create", json={
            "name": "bench", "max_concurrent_runs": 1,
            "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/Shared/bench"}}]}).json()["job_id"]
        run_times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            run_id = client.post("/api/2.2/jobs/run-now", json={"job_id": job_id}).json()["run_id"]
            while True:
                state = client.get("/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()["state"]
                if state["life_cycle_state"] in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
                    break
                time.sleep(0.02)
            assert state.get("result_state") == "SUCCESS", state
            run_times.append((time.perf_counter() - started) * 1000)

        # statements on small gold
        spark = ws.engine.session()
        spark.sql("CREATE SCHEMA IF NOT EXISTS gold")
        rows = [(a, 2026, m, float(i)) for i, (a, m) in enumerate((a, m) for a in
                ("RIM", "CKVC", "BOM", "JPAL", "JLI", "JAP", "LAS", "RMQB") for m in range(1, 13))]
        spark.createDataFrame(rows, "agency string, year int, month int, withholding_tax double").write \
            .format("delta").mode("overwrite").saveAsTable("gold.bir_transactions")
        ws.engine.stop_session(spark)
        body = {"warehouse_id": "local0000000000", "wait_timeout": "30s",
                "statement": "SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions "
                             "WHERE year = 2026 AND month = 1 GROUP BY agency"}
        client.post("/api/2.0/sql/statements", json=body).raise_for_status()  # warm the session pool
        stmt_times = []
        for _ in range(args.statements):
            started = time.perf_counter()
            r = client.post("/api/2.0/sql/statements", json=body).json()
            stmt_times.append((time.perf_counter() - started) * 1000)
            assert r["status"]["state"] == "SUCCEEDED", r

        # jobs/list under concurrent clients
        count, errors, stop = [0], [0], time.perf_counter() + args.seconds
        lock = threading.Lock()

        def hammer() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                while time.perf_counter() < stop:
                    ok = c.get("/api/2.2/jobs/list").status_code == 200
                    with lock:
                        count[0] += 1
                        errors[0] += 0 if ok else 1

        threads = [threading.Thread(target=hammer) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rps = count[0] / (time.perf_counter() - t0)
        server.should_exit = True
        thread.join(timeout=10)

    report = {
        "date": date.today().isoformat(),
        "run_now_to_terminated_ms": {"p50": round(statistics.median(run_times), 1), "p99": round(pct(run_times, 0.99), 1),
                                     "n": len(run_times)},
        "statement_ms": {"p50": round(statistics.median(stmt_times), 1), "p99": round(pct(stmt_times, 0.99), 1),
                         "n": len(stmt_times)},
        "jobs_list": {"clients": args.clients, "requests_per_s": round(rps, 1), "errors": errors[0]},
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"api-{date.today().isoformat()}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if errors[0]:
        sys.exit(1)


if __name__ == "__main__":
    main()
