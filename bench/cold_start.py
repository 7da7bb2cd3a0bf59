"""Cold start to first query, median of --repeats runs each (issue 20's targets: ≤ 1.0 s and ≤ 2.0 s):
- `odoolake lake sql "SELECT 1"` as a new process, until it exits (the engine host started with it);
- the same command right after itself: the host the first one left running (it exits after IDLE_EXIT_SECONDS);
- the same with an engine host already running for that root (another process holds it): the CLI's own share;
- a new Python process that starts the engine through `LocalEngine` and answers one query;
- `odoolake up` until its first SQL statement over REST returns;
- that first statement alone, sent a few seconds after `up` answered (as a client connects some time after `up`).

    python bench/cold_start.py [--repeats 5]
    python bench/cold_start.py --baseline-src /tmp/base/src   # also the CLI and `up` of that src, interleaved
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
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
from ab import baseline_trees, src_env

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


CLI = [str(Path(sys.executable).with_name("odoolake")), "lake", "sql", "SELECT 1", "--output", "json"]


def _cli(home: Path, src: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run([*CLI, "--home", str(home)], capture_output=True, text=True, check=True,
                   env=None if src is None else src_env(src))
    return time.perf_counter() - started


def _host_gone(home: Path) -> None:
    """Wait (untimed) until a host a measure left running exits on its own (after IDLE_EXIT_SECONDS), so measures
    do not overlap and the root can be removed: a host still running writes its log and sockets under ``run/``."""
    from odoolake.workspace.engine.launcher import engine_status

    deadline = time.monotonic() + 120
    while engine_status(home) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


def cli_cold_start(home: Path, src: Path | None = None) -> float:
    """With ``src``, the ``odoolake`` package (CLI and engine host) imported from that folder instead."""
    return _cli(home, src)


def cli_next_command(home: Path) -> float:
    """The command run again right after itself: the host the first left running (for host.IDLE_EXIT_SECONDS)."""
    _cli(home)
    return _cli(home)


def cli_warm_host(home: Path) -> float:
    """The CLI command while another process holds the engine host of the same root."""
    from odoolake.workspace.engine import LocalEngine

    with LocalEngine.start(home) as engine:
        engine.lease()
        return _cli(home)


USER_PAUSE_SECONDS = 3.0  # between `odoolake up` answering and a user's first statement, for the "later" measure
UP_TIMEOUT_SECONDS = 120.0  # a server that has not answered by then has failed, not started slowly


def _statement(port: int, token: str) -> bool:
    body = {"statement": "SELECT 1 AS one", "warehouse_id": "local0000000000", "wait_timeout": "30s"}
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/api/2.0/sql/statements", json=body, timeout=30,
                       headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json()["status"]["state"] == "SUCCEEDED"


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/_odoolake/health", timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


def server_cold_start(home: Path, src: Path | None = None, later: bool = False) -> float:
    """`odoolake up` until its first SQL statement over REST returns; with ``src``, the ``odoolake`` package (server
    and engine host) imported from that folder instead. With ``later``, only the first statement, sent
    USER_PAUSE_SECONDS after the server first answered (as a user's client connects some time after `up`)."""
    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.tokens import TokenService

    token, _ = TokenService(Database(home / "workspace.db")).create("bench@localhost", "cold start")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.time()
    env = None if src is None else src_env(src)
    proc = subprocess.Popen([sys.executable, "-m", "odoolake.cli.main", "up", "--home", str(home), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    def until(answered: Callable[[], bool]) -> None:
        deadline = time.monotonic() + UP_TIMEOUT_SECONDS
        while not answered():
            if proc.poll() is not None:
                raise SystemExit(f"`odoolake up` exited with code {proc.returncode} before it answered")
            if time.monotonic() > deadline:
                raise SystemExit(f"`odoolake up` did not answer within {UP_TIMEOUT_SECONDS:.0f} s")
            time.sleep(0.05)

    try:
        if later:
            until(lambda: _answers(port))
            time.sleep(USER_PAUSE_SECONDS)
            started = time.time()
            if not _statement(port, token):
                raise SystemExit("the first statement after `odoolake up` answered did not succeed")
            return time.time() - started
        until(lambda: _statement(port, token))
        return time.time() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path,
                        help="also the CLI and `odoolake up` of this src folder's odoolake, interleaved")
    args = parser.parse_args()
    measures: dict[str, Callable[[Path], float]] = {
        "cli_sql_select_1_s": cli_cold_start, "cli_sql_select_1_next_s": cli_next_command,
        "cli_sql_select_1_warm_host_s": cli_warm_host,
        "engine_first_query_s": engine_cold_start, "server_first_statement_s": server_cold_start,
        "server_first_statement_later_s": lambda home: server_cold_start(home, later=True)}
    if args.baseline_src is not None:
        baseline = baseline_trees(args.baseline_src)["baseline"]
        measures["cli_sql_select_1_baseline_s"] = lambda home: cli_cold_start(home, baseline)
        measures["server_first_statement_baseline_s"] = lambda home: server_cold_start(home, baseline)
        measures["server_first_statement_later_baseline_s"] = lambda home: server_cold_start(home, baseline, True)
    runs: dict[str, list[float]] = {name: [] for name in measures}
    load = []
    for _ in range(args.repeats):  # interleaved, so a busy spell on the shared machine hits every measure alike
        load.append(os.getloadavg()[0])
        for name, measure in measures.items():
            with tempfile.TemporaryDirectory() as tmp:
                runs[name].append(measure(Path(tmp)))
                _host_gone(Path(tmp))
    report = {"date": date.today().isoformat(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "command": " ".join(["bench/cold_start.py", *sys.argv[1:]]), "load_before": load,
              **{name: round(statistics.median(values), 2) for name, values in runs.items()},
              "runs": {name: [round(v, 2) for v in values] for name, values in runs.items()}}
    print(f"odoolake lake sql 'SELECT 1', new process, to exit:       {report['cli_sql_select_1_s']:.2f} s (median)")
    print(f"  the same right after itself (the host it left running): {report['cli_sql_select_1_next_s']:.2f} s")
    if "cli_sql_select_1_baseline_s" in report:
        print(f"  the same with --baseline-src:                          {report['cli_sql_select_1_baseline_s']:.2f} s")
    print(f"  the same, engine host already running:                 {report['cli_sql_select_1_warm_host_s']:.2f} s")
    print(f"new process → LocalEngine → first query:                 {report['engine_first_query_s']:.2f} s")
    print(f"odoolake up → first SQL statement over REST:              {report['server_first_statement_s']:.2f} s")
    if "server_first_statement_baseline_s" in report:
        print(f"  the same with --baseline-src:                          "
              f"{report['server_first_statement_baseline_s']:.2f} s")
    print(f"  its first statement alone, {USER_PAUSE_SECONDS:.0f} s after `up` answered:      "
          f"{report['server_first_statement_later_s']:.2f} s")
    if "server_first_statement_later_baseline_s" in report:
        print(f"  the same with --baseline-src:                          "
              f"{report['server_first_statement_later_baseline_s']:.2f} s")
    print(f"load average before each round: {', '.join(f'{v:.1f}' for v in load)}")
    out = HERE / "results" / f"cold_start-{date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
