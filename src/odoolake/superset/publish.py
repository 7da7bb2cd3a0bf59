"""Publish the gold tables into one DuckDB file for Superset.

Superset 6.1 pins ``duckdb<2``, and its DuckDB (1.5.x) reads storage versions up to v1.4.0, not the default of the
DuckDB that writes here. The file is therefore written with ``STORAGE_VERSION 'v1.4.0'``. DuckDB refuses to
open a file another process holds for writing, even read-only, so the new file is written beside the old one
and renamed over it: Superset always sees a complete file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOLD_TABLES = ("bir_transactions", "ewt_by_atc", "bir_forecast", "filing_calendar")
STORAGE_VERSION = "v1.4.0"
DEFAULT_TARGET = "dbfs:/superset/gold.duckdb"


@dataclass
class Published:
    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def publish(spark: Any, target: Path, tables: tuple[str, ...] = GOLD_TABLES) -> Published:
    """Copy ``gold.<table>`` for each table that exists into ``target`` (DuckDB, schema ``main``)."""
    import duckdb

    from odoolake.pipeline import io
    from odoolake.pipeline.native import sql_text

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    result = Published(target)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_text(str(tmp))} AS pub (STORAGE_VERSION '{STORAGE_VERSION}')")
        for name in tables:
            if not io.table_exists(spark, f"gold.{name}"):
                result.missing.append(name)
                continue
            frame = spark.table(f"gold.{name}").toArrow()
            con.register("incoming", frame)
            con.execute(f"CREATE TABLE pub.main.{name} AS SELECT * FROM incoming")
            con.unregister("incoming")
            result.tables[name] = frame.num_rows
        con.execute("DETACH pub")
    finally:
        con.close()
    os.replace(tmp, target)
    return result
