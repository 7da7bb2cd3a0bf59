"""Lakes made before the catalog existed kept table names in ``tables.json`` (external tables) and in the warehouse
layout (``<warehouse>/<schema>/<table>``). The first engine start on such a lake records them in the catalog, once,
so no table is lost by upgrading."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from odoolake.workspace.catalog.store import CATALOG, CatalogStore, FullName

LOG = logging.getLogger(__name__)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def import_legacy_tables(store: CatalogStore) -> int:
    marker = store.paths.home / "catalog" / ".legacy-imported"
    if marker.exists():
        return 0
    found: dict[str, str] = {}
    warehouse = store.paths.warehouse
    if warehouse.is_dir():
        for log in sorted(warehouse.glob("*/*/_delta_log")):
            table_dir = log.parent
            found[f"{table_dir.parent.name}.{table_dir.name}"] = str(table_dir)
    registry = store.paths.home / "tables.json"
    if registry.exists():
        try:
            found.update(json.loads(registry.read_text()).get("external", {}))
        except (json.JSONDecodeError, AttributeError) as exc:
            LOG.warning("the old table registry %s is unreadable (%s); its external tables were not imported",
                        registry, exc)
    imported = 0
    for name, location in sorted(found.items()):
        schema, _, table = name.lower().partition(".")
        if not (_IDENT.match(schema) and _IDENT.match(table)) or not Path(location, "_delta_log").is_dir():
            continue
        full = FullName(CATALOG, schema, table)
        if store.find(full) is not None:
            continue
        try:
            store.schema(CATALOG, schema)
        except Exception:
            store.create_schema(CATALOG, schema)
        store.create_table(full, location, "DELTA")
        imported += 1
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"imported": imported}))
    return imported
