"""Statement API latency before and after a change, interleaved (the statement API's share of ``bench/api.py``).

    python bench/statements_ab.py --baseline-src /tmp/base/src [--rounds 3] [--statements 150]

Each round runs two fresh worker processes, this tree's ``src`` and then ``--baseline-src`` (another version's ``src``
folder, put first on ``PYTHONPATH``), in alternating order, so both see the same machine. A worker starts an
in-process workspace (the real front door, plain HTTP from this process, as ``bench/api.py`` does) with a 96-row
``gold.bir_transactions``, and sends, call after call, a new text each time (never a result-cache hit):
- ``having``: the seed's gold query with ``HAVING total_wht > -i`` (``bench/api.py``'s uncached statement);
- ``plain``: the same query filtered in ``WHERE``, no alias used after the SELECT list;
- ``literal``: ``SELECT i AS n``, what the statement API itself costs;
- ``engine``: the plain query straight to Sail, one engine call as the warehouse makes it (no proxy, no REST).
Each worker prints the p50 of each; this script prints each round, then the median of the rounds' p50s.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import ab

MEASURES = ("having", "plain", "literal", "engine")
GOLD = ("SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions WHERE year = 2026 AND month = 1 "
        "{where}GROUP BY agency{having}")


def worker(statements: int) -> None:
    os.environ["ODOOLAKE_ENGINE_ISOLATION"] = "off"  # Sail's own port is reached from here, as in bench/api.py
    import httpx
    from gold_fixture import timed_statement, write_gold_transactions
    from pyspark.sql.connect.session import SparkSession

    import odoolake
    from odoolake.testing.workspace import in_process_workspace
    from odoolake.workspace.sql.results import statement_frame
    from odoolake.workspace.sql.statements import collected

    report: dict = {"src": str(Path(odoolake.__file__).parent.parent)}
    with tempfile.TemporaryDirectory() as tmp, in_process_workspace(Path(tmp), "bench") as running:
        ws = running.workspace
        spark = ws.engine.session()
        write_gold_transactions(spark)
        ws.engine.stop_session(spark)
        client = httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {running.token}"}, timeout=60)
        sail = SparkSession.builder.remote(f"sc://{ws.engine.lease().status['sail_address']}").create()
        sail.client.disable_reattachable_execute()

        def statement(text: str) -> float:
            return timed_statement(client, text)

        def engine(text: str) -> float:
            started = time.perf_counter()
            collected(statement_frame(sail, text), 10_000)
            return (time.perf_counter() - started) * 1000

        texts = {"having": lambda i: GOLD.format(where="", having=f" HAVING total_wht > -{i}"),
                 "plain": lambda i: GOLD.format(where=f"AND withholding_tax > -{i} ", having=""),
                 "literal": lambda i: f"SELECT {i} AS n",
                 "engine": lambda i: GOLD.format(where=f"AND withholding_tax > -{i} ", having="")}
        statement(texts["having"](0))
        engine(texts["engine"](0))
        times: dict[str, list[float]] = {name: [] for name in MEASURES}
        for i in range(1, statements + 1):
            for name in MEASURES:
                times[name].append((engine if name == "engine" else statement)(texts[name](i)))
        sail.stop()
        report.update({name: round(statistics.median(values), 2) for name, values in times.items()})
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    ab.main(__file__, __doc__, worker, MEASURES, ("statements", 150), rounds=3)
