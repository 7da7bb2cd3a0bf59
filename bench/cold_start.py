"""Cold start to first query: a new Python process that starts the embedded engine and answers one query, and
`odoolake up` until its first SQL statement returns. Median of --repeats runs each.

    python bench/cold_start.py [--repeats 3]
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
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ENGINE = textwrap.dedent("""
    import sys, time
    started = float(sys.argv[2])
    from odoolake.workspace.engine import LocalEngine
    engine = LocalEngine.start(sys.argv[1])
    engine.session().sql("SELECT 1").collect()
    print(time.time() - started)
""")


def engine_cold_start(home: Path) -> float:
    script = home / "cold.py"
    script.write_text(ENGINE)
    out = subprocess.run([sys.executable, str(script), str(home), str(time.time())], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def server_cold_start(home: Path) -> float:
    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.tokens import TokenService

    token, _ = TokenService(Database(home / "workspace.db")).create("bench@localhost", "cold start")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "odoolake.cli.main", "up", "--home", str(home), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = {"statement": "SELECT 1 AS one", "warehouse_id": "local0000000000", "wait_timeout": "30s"}
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/2.0/sql/statements", json=body, timeout=30,
                               headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 200 and r.json()["status"]["state"] == "SUCCEEDED":
                    return time.time() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    engine, server = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            engine.append(engine_cold_start(Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            server.append(server_cold_start(Path(tmp)))
    report = {"date": date.today().isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "engine_first_query_s": round(statistics.median(engine), 2),
              "server_first_statement_s": round(statistics.median(server), 2),
              "runs": {"engine": [round(v, 2) for v in engine], "server": [round(v, 2) for v in server]}}
    print(f"new process → embedded engine → first query: {report['engine_first_query_s']:.2f} s (median)")
    print(f"odoolake up → first SQL statement over REST:  {report['server_first_statement_s']:.2f} s (median)")
    out = HERE / "results" / f"cold_start-{date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
