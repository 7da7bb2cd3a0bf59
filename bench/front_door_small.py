"""The front door's added latency on the small gold query, with and without reattachable execution.

    .venv/bin/python bench/front_door_small.py [--queries 200] [--out FILE]

The part of ``bench/api.py`` that issue work on the front door needs most often, in about two minutes: a workspace
in this process (the real front door, TLS, token), the seed's gold query through the front door and straight to
Sail, each with PySpark's default reattachable execution and without it, interleaved query by query. Reports each
path's p50 and the front door's added p50 in both modes (CPU of this process and the engine host beside it, at
the OS's 10 ms tick). To compare two versions of the proxy, run this on each in turn, more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from cpu_time import cpu_of
from gold_fixture import write_gold_transactions

QUERY = ("SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions "
         "WHERE year = 2026 AND month = {month} GROUP BY agency")


def main() -> None:
    os.environ["ODOOLAKE_ENGINE_ISOLATION"] = "off"  # Sail's own port, the baseline, reachable from here
    import psutil
    from pyspark.sql.connect.session import SparkSession

    from odoolake.testing.workspace import in_process_workspace

    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" /
                        f"front-door-small-{date.today().isoformat()}.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, in_process_workspace(Path(tmp), "bench") as running:
        ws, port, token = running.workspace, running.port, running.token
        spark = ws.engine.session()
        write_gold_transactions(spark)
        ws.engine.stop_session(spark)
        status = ws.engine.lease().status
        os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(ws.tls.ca_bundle)
        front, direct = f"sc://127.0.0.1:{port}/;use_ssl=true;token={token}", f"sc://{status['sail_address']}"
        paths = {name: SparkSession.builder.remote(url).create() for name, url in
                 (("front_door", front), ("sail_direct", direct),
                  ("front_door_not_reattachable", front), ("sail_direct_not_reattachable", direct))}
        for name, session in paths.items():
            if name.endswith("not_reattachable"):
                session.client.disable_reattachable_execute()
        processes = [psutil.Process(), psutil.Process(status["pid"])]

        wall: dict[str, list[float]] = {name: [] for name in paths}
        used: dict[str, list[float]] = {name: [] for name in paths}
        for session in paths.values():
            session.sql(QUERY.format(month=2)).collect()
        load = os.getloadavg()[0]
        for i in range(args.queries):
            for name, session in paths.items():
                c0, t0 = cpu_of(processes), time.perf_counter()
                session.sql(QUERY.format(month=1 + i % 12)).collect()
                wall[name].append((time.perf_counter() - t0) * 1000)
                used[name].append((cpu_of(processes) - c0) * 1000)
        p50 = {name: statistics.median(values) for name, values in wall.items()}
        report = {"date": date.today().isoformat(), "queries": args.queries, "load": [round(load, 2),
                                                                                      round(os.getloadavg()[0], 2)],
                  "p50_ms": {name: round(value, 2) for name, value in p50.items()},
                  "cpu_p50_ms": {name: round(statistics.median(values), 1) for name, values in used.items()},
                  "front_door_added_p50_ms": round(p50["front_door"] - p50["sail_direct"], 2),
                  "front_door_added_p50_ms_not_reattachable": round(
                      p50["front_door_not_reattachable"] - p50["sail_direct_not_reattachable"], 2)}
        for session in paths.values():
            session.client.close()  # before the workspace stops: a client closing at exit would retry for minutes
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
