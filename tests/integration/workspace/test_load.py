"""Load on loopback: 50 concurrent SDK clients for 60 s (jobs list, SQL statements, model invocations) against a
workspace server in its own process. No request may fail except with a documented 429, and the server's memory
must stay flat once warm."""

from __future__ import annotations

import threading
import time
from collections import Counter

import psutil
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError, TooManyRequests
from databricks.sdk.service.serving import EndpointCoreConfigInput, ServedEntityInput

from odoolake.ml import ALIAS, MODEL_NAME
from odoolake.testing.waiting import wait_until
from odoolake.workspace.db import Database
from odoolake.workspace.identity.tokens import TokenService

from .conftest import free_port, start_server_process

CLIENTS, SECONDS = 50, 60
WARM_REQUESTS = 3000
ROW = {"agency": "RIM", "period": "2026-11"}  # the forecast lake's first forecast month


def test_fifty_clients_for_a_minute(forecast_lake):
    home = forecast_lake.paths.home
    token, _ = TokenService(Database(home / "workspace.db")).create("owner@localhost", "load test")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server_process(home, port)
    try:
        admin = WorkspaceClient(host=url, token=token)
        admin.serving_endpoints.create_and_wait("bir-load", config=EndpointCoreConfigInput(
            name="bir-load", served_entities=[ServedEntityInput(entity_name=MODEL_NAME, entity_version=ALIAS,
                                                                workload_size="Small", scale_to_zero_enabled=False)]))
        warehouse = next(iter(admin.warehouses.list())).id
        outcomes: Counter[str] = Counter()
        errors: list[str] = []
        lock = threading.Lock()
        stop = time.monotonic() + SECONDS

        def client_loop(n: int) -> None:
            w = WorkspaceClient(host=url, token=token)
            i = n
            while time.monotonic() < stop:
                kind = ("jobs", "sql", "invoke")[i % 3]
                i += 1
                try:
                    if kind == "jobs":
                        list(w.jobs.list(limit=25))
                    elif kind == "sql":
                        r = w.statement_execution.execute_statement(
                            statement="SELECT agency, SUM(withholding_tax) FROM gold.bir_transactions GROUP BY agency",
                            warehouse_id=warehouse, wait_timeout="30s")
                        assert r.status.state.value == "SUCCEEDED", r.status
                    else:
                        assert len(w.serving_endpoints.query("bir-load", dataframe_records=[ROW]).predictions) == 1
                    outcome = f"{kind}:ok"
                except TooManyRequests:
                    outcome = f"{kind}:429"
                except (DatabricksError, AssertionError, OSError) as exc:
                    outcome = f"{kind}:error"
                    with lock:
                        errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")
                with lock:
                    outcomes[outcome] += 1

        process = psutil.Process(server.pid)
        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        # warm = after WARM_REQUESTS answers (about 10 s on an idle machine), or at the end if load never gets there
        wait_until(lambda: sum(outcomes.values()) >= WARM_REQUESTS or not any(t.is_alive() for t in threads),
                   what="the server to warm up", timeout=SECONDS + 120)
        warm = process.memory_info().rss
        for t in threads:
            t.join()
        end = process.memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not errors, errors[:10]
    for kind in ("jobs", "sql", "invoke"):
        assert outcomes[f"{kind}:ok"] > 0, outcomes
    assert end < warm * 1.25 + 64 * 2**20, (warm / 2**20, end / 2**20)  # flat once warm (25% + 64 MiB slack)
    print(dict(outcomes), f"RSS warm {warm / 2**20:.0f} MiB, end {end / 2**20:.0f} MiB")
