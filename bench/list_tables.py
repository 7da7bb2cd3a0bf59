"""``spark.catalog.listTables`` and ``SHOW TABLES`` of a schema of many tables, before and after a change.

    python bench/list_tables.py --baseline-src /tmp/base/src [--rounds 4] [--tables 3000] [--calls 5]

A worker (``ab.py``: this tree's ``src`` or ``--baseline-src``, fresh processes, alternating) registers ``--tables``
Delta tables in one schema (one row each, written with delta-rs, registered in the catalog directly), starts the
engine and times ``spark.catalog.listTables(schema)`` and ``SHOW TABLES IN schema`` ``--calls`` times each (the
engine host asks Sail for the listing and answers its rows in Databricks' shape). Reported: the median wall time
per listing, and the engine host's CPU per listing split by thread (``proxy``: its Python threads; ``sail``:
Sail's ``tokio-rt-worker`` threads), read from ``/proc``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import ab
from profile_writes import engine_calls

MEASURES = ("list", "list_proxy", "list_sail", "show", "show_proxy", "show_sail")
SCHEMA = "many"


def worker(calls: int, tables: int) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    import odoolake
    from odoolake.config import WorkspacePaths
    from odoolake.workspace.catalog.store import CatalogStore, FullName
    from odoolake.workspace.engine import LocalEngine

    report: dict = {"src": str(Path(odoolake.__file__).parent.parent)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = WorkspacePaths.from_env(Path(tmp)).ensure()
        store = CatalogStore(paths, "bench@localhost")
        store.create_schema("main", SCHEMA)
        row = pa.table({"x": pa.array([1], pa.int32())})
        for i in range(tables):
            name = FullName("main", SCHEMA, f"t{i:05d}")
            write_deltalake(str(store.managed_location(name.schema, name.table)), row)
            store.create_table(name, None)
        with LocalEngine(paths) as engine:
            spark = engine.session()
            found = spark.catalog.listTables(SCHEMA)
            if len(found) != tables or found[0].namespace != [SCHEMA] or found[0].tableType != "MANAGED":
                raise SystemExit(f"listTables answered {len(found)} tables, first {found[:1]}: expected {tables}, "
                                 f"namespace [{SCHEMA}], MANAGED")
            shown = spark.sql(f"SHOW TABLES IN {SCHEMA}").collect()
            if len(shown) != tables:
                raise SystemExit(f"SHOW TABLES answered {len(shown)} tables: expected {tables}")
            report.update(engine_calls("list", lambda: spark.catalog.listTables(SCHEMA), calls))
            report.update(engine_calls("show", lambda: spark.sql(f"SHOW TABLES IN {SCHEMA}").collect(), calls))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    ab.main(__file__, __doc__, worker, MEASURES, ("calls", 5), rounds=4, more=[("tables", 3000)])
