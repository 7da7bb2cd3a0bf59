"""What ``bench/api.py`` and ``bench/statements_ab.py`` share: the small gold table (8 agencies x 12 months) and a
statement API call timed from request to answer."""

from __future__ import annotations

import time
from typing import Any

AGENCIES = ("RIM", "CKVC", "BOM", "JPAL", "JLI", "JAP", "LAS", "RMQB")
WAREHOUSE_ID = "local0000000000"


def write_gold_transactions(spark: Any) -> None:
    """``gold.bir_transactions``: one row per agency and month of 2026, as the seed's gold query reads it."""
    spark.sql("CREATE SCHEMA IF NOT EXISTS gold")
    rows = [(agency, 2026, month, float(i)) for i, (agency, month) in
            enumerate((a, m) for a in AGENCIES for m in range(1, 13))]
    spark.createDataFrame(rows, "agency string, year int, month int, withholding_tax double").write \
        .mode("overwrite").saveAsTable("gold.bir_transactions")


def timed_statement(client: Any, text: str) -> float:
    """Milliseconds for one ``POST /api/2.0/sql/statements`` (inline, waiting up to 30 s) that must succeed."""
    body = {"warehouse_id": WAREHOUSE_ID, "wait_timeout": "30s", "statement": text}
    started = time.perf_counter()
    answer = client.post("/api/2.0/sql/statements", json=body).json()
    elapsed = (time.perf_counter() - started) * 1000
    assert answer["status"]["state"] == "SUCCEEDED", answer
    return elapsed
