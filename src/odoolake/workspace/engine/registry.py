"""Name → Delta location, persisted, so tables survive restarts and every session sees them.

Sail's catalog lives in memory, per Spark session. The registry is the durable truth:
- managed tables live at ``<warehouse>/<schema>/<table>`` and are found by scanning that layout;
- external tables (``CREATE TABLE … LOCATION '…'``) are recorded in ``tables.json``.
At every session start each table is re-declared in every catalog alias, so ``gold.t``,
``main.gold.t`` and ``hive_metastore.gold.t`` all name the same Delta table.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from odoolake.errors import EngineError, UnknownTableError

LOG = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TableName:
    schema: str
    table: str

    @classmethod
    def parse(cls, name: str, catalogs: tuple[str, ...], default_schema: str = "default") -> TableName:
        """Accept ``t``, ``schema.t`` or ``catalog.schema.t`` (backticks allowed); lower-case like Spark."""
        parts = [p.strip().strip("`").lower() for p in name.strip().split(".")]
        if len(parts) == 3:
            if parts[0] not in catalogs:
                raise EngineError(
                    f"Unknown catalog {parts[0]!r} in {name!r}; the local workspace has {', '.join(catalogs)}."
                )
            parts = parts[1:]
        if len(parts) == 1:
            parts = [default_schema, parts[0]]
        if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
            raise EngineError(f"Not a valid table name: {name!r} (expected [catalog.]schema.table).")
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


class TableRegistry:
    def __init__(self, warehouse: Path, registry_file: Path) -> None:
        self.warehouse = warehouse
        self.registry_file = registry_file
        self._lock = threading.Lock()

    def managed_location(self, name: TableName) -> Path:
        return self.warehouse / name.schema / name.table

    def _external(self) -> dict[str, str]:
        if not self.registry_file.exists():
            return {}
        try:
            data = json.loads(self.registry_file.read_text())
        except json.JSONDecodeError as exc:
            raise EngineError(f"The table registry {self.registry_file} is corrupt: {exc}") from exc
        return dict(data.get("external", {}))

    def _save_external(self, external: dict[str, str]) -> None:
        tmp = self.registry_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"external": dict(sorted(external.items()))}, indent=2))
        os.replace(tmp, self.registry_file)

    def tables(self) -> dict[str, str]:
        """Every known table: ``schema.table`` → absolute Delta location."""
        found: dict[str, str] = {}
        if self.warehouse.exists():
            for log_dir in sorted(self.warehouse.glob("*/*/_delta_log")):
                table_dir = log_dir.parent
                found[f"{table_dir.parent.name}.{table_dir.name}"] = str(table_dir)
        found.update(self._external())
        return found

    def location(self, name: TableName) -> str:
        tables = self.tables()
        try:
            return tables[str(name)]
        except KeyError:
            raise UnknownTableError(str(name), list(tables)) from None

    def register_external(self, name: TableName, location: str) -> None:
        with self._lock:
            external = self._external()
            external[str(name)] = location
            self._save_external(external)

    def drop(self, name: TableName) -> bool:
        """Forget a table; a managed table's files go too, as Databricks drops managed tables."""
        with self._lock:
            external = self._external()
            if str(name) in external:
                del external[str(name)]
                self._save_external(external)
                return True
        managed = self.managed_location(name)
        if (managed / "_delta_log").exists():
            shutil.rmtree(managed)
            return True
        return False

    def declare_all(self, run_sql: Callable[[str], object], catalogs: tuple[str, ...]) -> int:
        """Declare every table in every catalog alias of a session; returns how many tables.

        ``run_sql`` must be the session's own ``sql`` (not the engine's interceptor).
        """
        tables = self.tables()
        schemas = sorted({name.split(".")[0] for name in tables} | {"default"})
        for catalog in catalogs:
            for schema in schemas:
                run_sql(f"CREATE SCHEMA IF NOT EXISTS `{catalog}`.`{schema}`")
            for name, location in tables.items():
                declare(run_sql, catalog, name, location)
        LOG.debug("declared %d tables in catalogs %s", len(tables), catalogs)
        return len(tables)


def declare(run_sql: Callable[[str], object], catalog: str, name: str, location: str) -> None:
    schema, table = name.split(".")
    escaped = location.replace("'", "\\'")
    run_sql(f"CREATE SCHEMA IF NOT EXISTS `{catalog}`.`{schema}`")
    run_sql(
        f"CREATE TABLE IF NOT EXISTS `{catalog}`.`{schema}`.`{table}` USING DELTA LOCATION '{escaped}'"
    )
