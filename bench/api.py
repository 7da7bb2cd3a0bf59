"""Workspace API benchmark on loopback.

    python bench/api.py [--runs 20] [--statements 100] [--clients 20] [--seconds 10] [--queries 200] [--fetches 5]

The server runs in this process (the real front door, in a thread) on a free 127.0.0.1 port with a temporary home.
Its engine host runs with ODOOLAKE_ENGINE_ISOLATION=off so that Sail's own port, the baseline, can be reached from
here (inside its network namespace nothing outside the engine could).
- run-now: a one-cell notebook job; poll runs/get every 20 ms until TERMINATED.
- statement: the seed's gold query (cached after the first call) and the same query with a new text each call
  (never a cache hit), wait_timeout 30s.
- Spark Connect: a small query on gold and a 1M-row ``toPandas()``, through the front door (TLS, token, the engine's
  rules) and straight to Sail, interleaved call by call; CPU time of this process plus the engine host beside wall.
  The small query also goes straight to Sail with the token (which Sail ignores): the client's own cost of sending
  one, the floor under any authenticated front door.
- SQL connector (Thrift), Statement API and Spark Connect: the gold query with a new text each call, interleaved, and
  the 1M-row table fetched through the connector vs Spark Connect's ``toPandas()``.
- MLflow ``log_metric`` round trip: the workspace (``tracking_uri="databricks"``) vs a local SQLite store.
- jobs/list: N client threads for a fixed time; requests/s and error count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
from cpu_time import cpu_of
from gold_fixture import timed_statement, write_gold_transactions

HERE = Path(__file__).resolve().parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {"p50": round(statistics.median(values), 2), "p99": round(pct(values, 0.99), 2), "n": len(values)}


class Cpu:
    """CPU seconds of this process and the engine host, read around each measured call."""

    def __init__(self, engine_pid: int) -> None:
        import psutil

        self.procs = [psutil.Process(), psutil.Process(engine_pid)]

    def now(self) -> float:
        return cpu_of(self.procs)


def main() -> None:
    os.environ["ODOOLAKE_ENGINE_ISOLATION"] = "off"
    from odoolake.testing.workspace import in_process_workspace

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--statements", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--fetches", type=int, default=5)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, in_process_workspace(Path(tmp), "bench") as running:
        ws, port, token = running.workspace, running.port, running.token
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        client = httpx.Client(base_url=base, headers=headers, timeout=60)
        report: dict = {"date": date.today().isoformat()}

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
        report["run_now_to_terminated_ms"] = summary(run_times)

        # data: a small gold table and a 1M-row table
        spark = ws.engine.session()
        write_gold_transactions(spark)
        spark.range(args.big_rows).selectExpr("id", "id % 8 AS agency", "CAST(id AS DOUBLE) * 1.5 AS amount",
                                              "CAST(id % 28 AS INT) AS day", "uuid() AS ref") \
            .write.mode("overwrite").saveAsTable("gold.big")
        ws.engine.stop_session(spark)
        query = ("SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions "
                 "WHERE year = 2026 AND month = {month} GROUP BY agency")

        # statements: cached, and a new text each call
        def statement(text: str) -> float:
            return timed_statement(client, text)

        statement(query.format(month=1))  # warm the principal's session
        report["statement_cached_ms"] = summary([statement(query.format(month=1)) for _ in range(args.statements)])
        fresh = [statement(query.format(month=1) + f" HAVING total_wht > -{i}") for i in range(args.statements)]
        report["statement_uncached_ms"] = summary(fresh)
        # the smallest statement there is, a new text each call: what the Statement API itself costs
        report["statement_uncached_select_literal_ms"] = summary(
            [statement(f"SELECT {i} AS n") for i in range(args.statements)])

        # Spark Connect: front door vs Sail direct, interleaved
        from pyspark.sql.connect.session import SparkSession

        status = ws.engine.lease().status
        os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(ws.tls.ca_bundle)
        paths = {
            "front_door": SparkSession.builder.remote(f"sc://127.0.0.1:{port}/;use_ssl=true;token={token}").create(),
            "sail_direct": SparkSession.builder.remote(f"sc://{status['sail_address']}").create(),
            # the same client sending the same token (Sail ignores it; "localhost" gives grpc's local credentials,
            # no TLS): what the client's own token handling costs, which no server can take away
            "sail_direct_token": SparkSession.builder.remote(
                f"sc://localhost:{status['sail_address'].rsplit(':', 1)[1]}/;token={token}").create(),
            # the engine's own time for the query, as the warehouse's sessions call it (no reattachable execution)
            "sail_direct_not_reattachable": SparkSession.builder.remote(f"sc://{status['sail_address']}").create(),
        }
        paths["sail_direct_not_reattachable"].client.disable_reattachable_execute()
        cpu = Cpu(status["pid"])
        small = {name: [] for name in paths}
        small_cpu = {name: [] for name in paths}
        for session in paths.values():
            session.sql(query.format(month=2)).collect()
        for i in range(args.queries):
            for name, session in paths.items():
                text = query.format(month=1 + i % 12)
                c0, t0 = cpu.now(), time.perf_counter()
                session.sql(text).collect()
                small[name].append((time.perf_counter() - t0) * 1000)
                small_cpu[name].append((cpu.now() - c0) * 1000)
        big = {name: [] for name in ("front_door", "sail_direct")}
        big_cpu = {name: [] for name in big}
        for _ in range(args.fetches):
            for name in big:
                session = paths[name]
                c0, t0 = cpu.now(), time.perf_counter()
                frame = session.table("gold.big").toPandas()
                big[name].append(time.perf_counter() - t0)
                big_cpu[name].append(cpu.now() - c0)
                assert len(frame) == args.big_rows
        report["spark_connect_small_query_ms"] = {
            name: {**summary(small[name]), "cpu_p50": round(statistics.median(small_cpu[name]), 2)} for name in paths}
        report["spark_connect_small_query_ms"]["front_door_added_p50"] = round(
            statistics.median(small["front_door"]) - statistics.median(small["sail_direct"]), 2)
        report["spark_connect_small_query_ms"]["client_token_cost_p50"] = round(
            statistics.median(small["sail_direct_token"]) - statistics.median(small["sail_direct"]), 2)
        report["spark_connect_small_query_ms"]["front_door_added_over_token_p50"] = round(
            statistics.median(small["front_door"]) - statistics.median(small["sail_direct_token"]), 2)
        report["spark_connect_1m_topandas_s"] = {
            name: {"median": round(statistics.median(big[name]), 3),
                   "cpu_median": round(statistics.median(big_cpu[name]), 3), "n": len(big[name])} for name in big}
        report["spark_connect_1m_topandas_s"]["front_door_ratio"] = round(
            statistics.median(big["front_door"]) / statistics.median(big["sail_direct"]), 3)

        # SQL connector (Thrift) vs Statement API vs Spark Connect: the gold query with a new text each call (no
        # result cache), interleaved; and the 1M-row table through the connector vs Spark Connect's toPandas()
        from databricks import sql as dbsql

        conn = dbsql.connect(server_hostname="127.0.0.1", _port=port, http_path="/sql/1.0/warehouses/local0000000000",
                             access_token=token, _tls_trusted_ca_file=str(ws.tls.ca_bundle), enable_telemetry=False)
        cursor = conn.cursor()
        front = paths["front_door"]

        def via_connector(text: str) -> None:
            cursor.execute(text)
            cursor.fetchall()

        ways = {"sql_connector": via_connector, "statement_api": statement,
                "spark_connect": lambda text: front.sql(text).collect()}
        gold = {name: [] for name in ways}
        gold_cpu = {name: [] for name in ways}
        for i in range(args.queries):
            for name, run in ways.items():
                text = query.format(month=1 + i % 12) + f" HAVING total_wht > -{i}.{len(name)}"
                c0, t0 = cpu.now(), time.perf_counter()
                run(text)
                gold[name].append((time.perf_counter() - t0) * 1000)
                gold_cpu[name].append((cpu.now() - c0) * 1000)
        report["gold_query_ms"] = {name: {**summary(gold[name]), "cpu_p50": round(statistics.median(gold_cpu[name]), 2)}
                                   for name in ways}
        report["gold_query_ms"]["connector_vs_statement_p50"] = round(
            statistics.median(gold["sql_connector"]) / statistics.median(gold["statement_api"]), 3)
        fetch = {"sql_connector": [], "spark_connect": []}
        fetch_cpu = {"sql_connector": [], "spark_connect": []}
        for _ in range(args.fetches):
            for name in fetch:
                c0, t0 = cpu.now(), time.perf_counter()
                if name == "sql_connector":
                    cursor.execute("SELECT * FROM gold.big")
                    rows = cursor.fetchall_arrow().num_rows
                else:
                    rows = len(front.table("gold.big").toPandas())
                fetch[name].append(time.perf_counter() - t0)
                fetch_cpu[name].append(cpu.now() - c0)
                assert rows == args.big_rows
        report["fetch_1m_rows_s"] = {name: {"median": round(statistics.median(fetch[name]), 3),
                                            "cpu_median": round(statistics.median(fetch_cpu[name]), 3),
                                            "n": len(fetch[name])} for name in fetch}
        report["fetch_1m_rows_s"]["connector_vs_spark_connect"] = round(
            statistics.median(fetch["sql_connector"]) / statistics.median(fetch["spark_connect"]), 3)
        cursor.close()
        conn.close()
        for session in paths.values():
            session.stop()

        # MLflow log_metric round trip: the workspace (tracking URI databricks) vs a local SQLite store
        import mlflow

        os.environ.update(DATABRICKS_HOST=f"https://127.0.0.1:{port}", DATABRICKS_TOKEN=token,
                          REQUESTS_CA_BUNDLE=str(ws.tls.ca_bundle))
        remote = mlflow.MlflowClient(tracking_uri="databricks")
        local = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp}/bench-mlflow.db")
        runs = {}
        for name, mlclient in (("workspace", remote), ("local_sqlite", local)):
            experiment = mlclient.create_experiment(f"/Shared/bench-{name}")
            runs[name] = (mlclient, mlclient.create_run(experiment).info.run_id)
        metric_ms = {name: [] for name in runs}
        for step in range(args.statements):
            for name, (mlclient, run_id) in runs.items():
                t0 = time.perf_counter()
                mlclient.log_metric(run_id, "mae", float(step), step=step)
                metric_ms[name].append((time.perf_counter() - t0) * 1000)
        report["mlflow_log_metric_ms"] = {name: summary(values) for name, values in metric_ms.items()}

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
        report["jobs_list"] = {"clients": args.clients, "requests_per_s": round(count[0] / (time.perf_counter() - t0), 1),
                               "errors": errors[0]}

    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"api-{date.today().isoformat()}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if errors[0]:
        sys.exit(1)


if __name__ == "__main__":
    main()
