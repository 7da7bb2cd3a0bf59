"""The local engine: genuine PySpark (Spark Connect) sessions on Sail, made to behave like a workspace.

What a session gets on top of plain Sail:
- an absolute warehouse dir and catalogs ``spark_catalog``/``hive_metastore``/``main`` that all see the
  same tables, re-declared from the registry at start;
- ``saveAsTable`` that writes to a stable location and registers the table (Sail's own managed tables
  are per-session and lost on restart);
- a write guard that refuses Sail's silent column drop;
- ``dbfs:/`` paths in readers, writers and SQL mapped to the local DBFS root;
- a SQL layer for the Delta statements Sail cannot parse (see ``delta_sql``) and a few rewrites.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odoolake.config import WorkspacePaths
from odoolake.errors import EngineError
from odoolake.workspace.engine import guards, server
from odoolake.workspace.engine.delta_sql import match_delta_statement, run_delta_statement
from odoolake.workspace.engine.registry import TableName, TableRegistry, declare
from odoolake.workspace.engine.server import CATALOG_ALIASES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOG = logging.getLogger(__name__)

REMOTE_ENV = "ODOOLAKE_SPARK_REMOTE"

_DBFS_LITERAL = re.compile(r"(['`])dbfs:/([^'`]*)\1")
_SET = re.compile(r"^\s*SET\s+([\w.]+)\s*=\s*(.*?)\s*;?\s*$", re.I | re.S)
_USE = re.compile(r"^\s*USE\s+(?!SCHEMA\b|DATABASE\b|NAMESPACE\b|CATALOG\b)([`\w.]+)\s*;?\s*$", re.I)
_DROP = re.compile(r"^\s*DROP\s+TABLE\s+(?P<if>IF\s+EXISTS\s+)?(?P<name>[`\w.]+)\s*;?\s*$", re.I)
_CREATE_LOCATION = re.compile(
    r"^\s*CREATE\s+(?:EXTERNAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[`\w.]+)\b.*?"
    r"\bLOCATION\s+'(?P<location>[^']+)'(?P<rest>.*)$",
    re.I | re.S,
)
_CTAS = re.compile(
    r"^\s*CREATE\s+(?P<replace>OR\s+REPLACE\s+)?TABLE\s+(?P<if>IF\s+NOT\s+EXISTS\s+)?(?P<name>[`\w.]+)\s*"
    r"(?:USING\s+DELTA\s*)?AS\s+(?P<query>.+)$",
    re.I | re.S,
)


class LocalEngine:
    """Hands out Spark sessions on the embedded engine for one workspace root."""

    def __init__(self, paths: WorkspacePaths, remote: str | None = None) -> None:
        self.paths = paths.ensure()
        self.registry = TableRegistry(self.paths.warehouse, self.paths.registry_file)
        self._remote = remote
        self._sessions: list[SparkSession] = []

    @classmethod
    def start(cls, home: str | os.PathLike[str] | None = None) -> LocalEngine:
        return cls(WorkspacePaths.from_env(home), remote=os.environ.get(REMOTE_ENV))

    @property
    def remote_url(self) -> str:
        if self._remote:
            return self._remote
        host, port = server.connect_address(str(self.paths.spill_dir))
        return f"sc://{host}:{port}"

    # -- sessions -------------------------------------------------------------------------------

    def session(self) -> SparkSession:
        """A new, isolated Spark session with every registered table declared."""
        from pyspark.sql import SparkSession

        guards.install()
        spark = (
            SparkSession.builder.remote(self.remote_url)
            .config("spark.sql.warehouse.dir", str(self.paths.warehouse))
            .config("spark.sql.session.timeZone", "UTC")
            .create()
        )
        spark._odoolake_engine = self  # type: ignore[attr-defined]
        original_sql = spark.sql

        def sql(sqlQuery: str, args: Any = None, **kwargs: Any) -> DataFrame:
            return self._sql(spark, original_sql, sqlQuery, args, **kwargs)

        spark.sql = sql  # type: ignore[method-assign]
        spark._odoolake_raw_sql = original_sql  # type: ignore[attr-defined]
        self.registry.declare_all(original_sql, CATALOG_ALIASES)
        self._sessions.append(spark)
        return spark

    @contextmanager
    def spark(self) -> Iterator[SparkSession]:
        spark = self.session()
        try:
            yield spark
        finally:
            self.stop_session(spark)

    def stop_session(self, spark: SparkSession) -> None:
        if spark in self._sessions:
            self._sessions.remove(spark)
        spark.stop()

    def close(self) -> None:
        for spark in list(self._sessions):
            self.stop_session(spark)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- names and paths ------------------------------------------------------------------------

    def table_name(self, spark: SparkSession, name: str) -> TableName:
        current = spark.catalog.currentDatabase() if "." not in name else "default"
        return TableName.parse(name, CATALOG_ALIASES, default_schema=current)

    def location_of(self, spark: SparkSession, target: str) -> tuple[str, TableName | None]:
        """Resolve ``schema.t`` or ``delta.`/path``` to a Delta location."""
        if target.lower().startswith("delta.`"):
            return self.local_path(target[len("delta.`") : -1]), None
        name = self.table_name(spark, target)
        return self.registry.location(name), name

    def managed_location(self, name: TableName) -> str:
        external = self.registry.tables().get(str(name))
        return external or str(self.registry.managed_location(name))

    def local_path(self, path: str) -> str:
        if path.startswith("dbfs:/"):
            return str(self.paths.dbfs_to_local(path))
        return path

    def redeclare(self, spark: SparkSession, name: TableName, location: str) -> None:
        """(Re)declare a table in every catalog so the session sees its current schema."""
        raw_sql = spark._odoolake_raw_sql  # type: ignore[attr-defined]
        for catalog in CATALOG_ALIASES:
            raw_sql(f"DROP TABLE IF EXISTS `{catalog}`.`{name.schema}`.`{name.table}`")
            declare(raw_sql, catalog, str(name), location)

    # -- SQL ------------------------------------------------------------------------------------

    def _sql(self, spark: SparkSession, original_sql: Any, query: str, args: Any, **kwargs: Any) -> DataFrame:
        query = _DBFS_LITERAL.sub(
            lambda m: f"{m.group(1)}{self.paths.dbfs_to_local('dbfs:/' + m.group(2))}{m.group(1)}", query
        )
        stmt = match_delta_statement(query)
        if stmt is not None:
            location, name = self.location_of(spark, stmt.target)
            columns, rows = run_delta_statement(stmt, location, lambda key: spark.conf.get(key, None))
            if name is not None and stmt.kind in ("restore", "add_columns"):
                self.redeclare(spark, name, location)
            return _frame(spark, columns, rows)
        m = _SET.match(query)
        if m:
            spark.conf.set(m.group(1), m.group(2).strip("'\""))
            return _frame(spark, [("key", "string"), ("value", "string")], [(m.group(1), m.group(2))])
        m = _USE.match(query)
        if m:
            return original_sql(f"USE SCHEMA {m.group(1)}")
        m = _DROP.match(query)
        if m:
            name = self.table_name(spark, m.group("name"))
            dropped = self.registry.drop(name)
            if not dropped and not m.group("if"):
                raise EngineError(f"Table {name} does not exist.")
            for catalog in CATALOG_ALIASES:
                original_sql(f"DROP TABLE IF EXISTS `{catalog}`.`{name.schema}`.`{name.table}`")
            return _frame(spark, [], [])
        m = _CREATE_LOCATION.match(query)
        if m and not re.search(r"\bAS\s+SELECT\b", m.group("rest"), re.I):
            name = self.table_name(spark, m.group("name"))
            location = self.local_path(m.group("location"))
            if not Path(location, "_delta_log").exists():
                raise EngineError(
                    f"Cannot create {name} at {m.group('location')}: there is no Delta table there yet."
                )
            if Path(location) != self.registry.managed_location(name):
                self.registry.register_external(name, location)
            self.redeclare(spark, name, location)
            return _frame(spark, [], [])
        m = _CTAS.match(query)
        if m:
            name = self.table_name(spark, m.group("name"))
            exists = str(name) in self.registry.tables()
            if exists and m.group("if"):
                return _frame(spark, [], [])
            if exists and not m.group("replace"):
                raise EngineError(f"Table {name} already exists.")
            frame = original_sql(m.group("query"), args, **kwargs)
            writer = frame.write.format("delta").mode("overwrite" if m.group("replace") else "errorifexists")
            if m.group("replace"):
                writer = writer.option("overwriteSchema", "true")
            writer.saveAsTable(str(name))
            return _frame(spark, [], [])
        return original_sql(query, args, **kwargs)


def _frame(spark: SparkSession, columns: list[tuple[str, str]], rows: list[tuple[Any, ...]]) -> DataFrame:
    if not columns:
        return spark.createDataFrame([], "result string").limit(0)
    ddl = ", ".join(f"`{name}` {kind}" for name, kind in columns)
    return spark.createDataFrame(rows, ddl)


__all__ = ["CATALOG_ALIASES", "LocalEngine"]
