"""The workspace's one catalog: catalogs, schemas and tables, in Unity Catalog's shape, kept in ``catalog.db``.

Every name a Spark session, the SQL warehouse, the SDK or a job resolves comes from here: the engine reads it through
Sail's ``unity`` catalog provider (the same REST paths Databricks serves), and the workspace serves it to clients.
Tables are Delta directories; their columns, partitioning and properties are read from the Delta log
(:mod:`.columns`), never copied, so schema evolution needs no catalog call.

Rules kept here, once:
- one catalog, ``main``; the engine also answers to ``spark_catalog`` and ``hive_metastore`` for it;
- a table whose location is its managed location (``<warehouse>/<schema>/<table>``) is MANAGED: dropping it deletes
  its files, renaming it moves them. Any other location is EXTERNAL: dropping forgets the name, the files stay;
- names are lower-cased identifiers, as Unity Catalog stores them;
- a location inside the workspace root is kept relative to it, and a managed table's is always its managed location,
  so a root that is moved, copied or restored elsewhere keeps its tables and never touches the original's files.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from odoolake.config import WorkspacePaths
from odoolake.dlt import CHECKPOINT_PREFIX, PIPELINE_ID_PROPERTY
from odoolake.workspace.catalog.columns import DeltaFacts, DeltaLogReader, delta_schema, partition_columns, uc_columns
from odoolake.workspace.catalog.information_schema import TABLES as SYSTEM_TABLES
from odoolake.workspace.db import Database
from odoolake.workspace.errors import ApiError, InvalidParameterValue

CATALOG = "main"
CATALOG_ALIASES: tuple[str, ...] = (CATALOG, "spark_catalog", "hive_metastore")
NO_SUCH_CATALOG = ("NO_SUCH_CATALOG_EXCEPTION", "42704")  # Databricks' error class and SQLSTATE for it
# What a URL parser (Sail's, WHATWG's) leaves as it is in a file URL's path: RFC 3986's sub-delimiters, ':' and '@',
# and '|', '[', ']', '^'. Escaped (as ``Path.as_uri`` does), Sail looks for a folder named with the escape: a table
# under a root such as /home/o'brien could be written and never read back.
URI_PATH_SAFE = "/!$&'()*+,;=:@~|[]^"


def unknown_catalog(name: str) -> str:
    """The message of NO_SUCH_CATALOG, the same from every path (Spark Connect, the SQL warehouse)."""
    return (f"The catalog `{name}` was not found. This workspace has one catalog, `{CATALOG}` (also reachable as "
            f"{', '.join(CATALOG_ALIASES[1:])}).")


def file_uri(path: str | Path) -> str:
    """``path`` as the file URL Sail reads it back from: escaped only where a URL parser would escape it."""
    return "file://" + quote(str(path), safe=URI_PATH_SAFE)


DEFAULT_SCHEMA = "default"
INFORMATION_SCHEMA = "information_schema"
MANAGED, EXTERNAL = "MANAGED", "EXTERNAL"
# what Unity Catalog calls a pipeline's datasets (a table whose pipelines.pipelineId property names its pipeline)
MATERIALIZED_VIEW, STREAMING_TABLE = "MATERIALIZED_VIEW", "STREAMING_TABLE"
FORMATS = ("DELTA", "PARQUET", "CSV", "JSON", "TEXT", "ORC", "AVRO")

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE catalogs (
        name TEXT PRIMARY KEY, comment TEXT, owner TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
    );
    CREATE TABLE schemas (
        catalog_name TEXT NOT NULL, name TEXT NOT NULL, schema_id TEXT NOT NULL, comment TEXT, properties TEXT,
        owner TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (catalog_name, name)
    );
    CREATE TABLE tables (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, name TEXT NOT NULL, table_id TEXT NOT NULL UNIQUE,
        table_type TEXT NOT NULL, data_source_format TEXT NOT NULL, storage_location TEXT NOT NULL,
        declared_columns TEXT, comment TEXT, properties TEXT, owner TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        PRIMARY KEY (catalog_name, schema_name, name)
    );
    """,
    # Persistent views: the query (its table names qualified when the view was made) and the columns it answered
    """
    CREATE TABLE views (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, name TEXT NOT NULL, view_id TEXT NOT NULL UNIQUE,
        definition TEXT NOT NULL, column_names TEXT, columns TEXT NOT NULL, comment TEXT, owner TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        PRIMARY KEY (catalog_name, schema_name, name)
    );
    """,
    # Registered models (MLflow's Unity Catalog registry, catalog/models.py): versions, tags, aliases, lineage
    """
    CREATE TABLE registered_models (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, name TEXT NOT NULL, description TEXT, owner TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_version INTEGER NOT NULL,
        PRIMARY KEY (catalog_name, schema_name, name)
    );
    CREATE TABLE model_versions (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, model_name TEXT NOT NULL, version INTEGER NOT NULL,
        source TEXT NOT NULL, run_id TEXT, run_tracking_server_id TEXT, model_id TEXT, description TEXT,
        status TEXT NOT NULL, user_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        PRIMARY KEY (catalog_name, schema_name, model_name, version),
        FOREIGN KEY (catalog_name, schema_name, model_name) REFERENCES registered_models(catalog_name, schema_name, name)
            ON DELETE CASCADE ON UPDATE CASCADE
    );
    CREATE INDEX model_versions_by_run ON model_versions(run_id);
    CREATE TABLE model_tags (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, model_name TEXT NOT NULL, key TEXT NOT NULL,
        value TEXT, PRIMARY KEY (catalog_name, schema_name, model_name, key),
        FOREIGN KEY (catalog_name, schema_name, model_name) REFERENCES registered_models(catalog_name, schema_name, name)
            ON DELETE CASCADE ON UPDATE CASCADE
    );
    CREATE TABLE model_version_tags (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, model_name TEXT NOT NULL, version INTEGER NOT NULL,
        key TEXT NOT NULL, value TEXT, PRIMARY KEY (catalog_name, schema_name, model_name, version, key),
        FOREIGN KEY (catalog_name, schema_name, model_name, version)
            REFERENCES model_versions(catalog_name, schema_name, model_name, version) ON DELETE CASCADE ON UPDATE CASCADE
    );
    CREATE TABLE model_aliases (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, model_name TEXT NOT NULL, alias TEXT NOT NULL,
        version INTEGER NOT NULL, PRIMARY KEY (catalog_name, schema_name, model_name, alias),
        FOREIGN KEY (catalog_name, schema_name, model_name, version)
            REFERENCES model_versions(catalog_name, schema_name, model_name, version) ON DELETE CASCADE ON UPDATE CASCADE
    );
    CREATE TABLE model_lineage (
        catalog_name TEXT NOT NULL, schema_name TEXT NOT NULL, model_name TEXT NOT NULL, version INTEGER NOT NULL,
        direction TEXT, info TEXT, created_at INTEGER NOT NULL,
        FOREIGN KEY (catalog_name, schema_name, model_name, version)
            REFERENCES model_versions(catalog_name, schema_name, model_name, version) ON DELETE CASCADE ON UPDATE CASCADE
    );
    """,
)
VIEW = "VIEW"


# The status a schema's deletion is refused with while it holds registered models: 409, not the 400 of tables and
# views, so that the engine (which sees only the status of the catalog's answer) can say why (engine/errors.py).
MODELS_IN_SCHEMA = 409


class CatalogError(ApiError):
    """A Unity Catalog API error; the code is the one Databricks sends (the SDK maps on the status)."""


def _not_found(kind: str, full_name: str) -> CatalogError:
    return CatalogError(f"{kind.capitalize()} '{full_name}' does not exist.",
                        error_code=f"{kind.upper()}_DOES_NOT_EXIST", status=404)


def _exists(kind: str, full_name: str) -> CatalogError:
    return CatalogError(f"{kind.capitalize()} '{full_name}' already exists.",
                        error_code=f"{kind.upper()}_ALREADY_EXISTS", status=409)


IDENTIFIER_RULE = "ASCII letters, digits and underscores, not starting with a digit"


def is_identifier(value: object) -> bool:
    """Whether ``value`` can name a catalog, schema or table here (``IDENTIFIER_RULE``, any case)."""
    return isinstance(value, str) and _IDENT.match(value.lower()) is not None


def identifier(value: object, what: str) -> str:
    if not is_identifier(value):
        raise InvalidParameterValue(f"Invalid {what} {value!r}: expected an identifier ({IDENTIFIER_RULE}).")
    return str(value).lower()


@dataclass(frozen=True)
class FullName:
    catalog: str
    schema: str
    table: str

    def __post_init__(self) -> None:  # names are lower-cased, however a caller spelled them (USE INFORMATION_SCHEMA)
        for part in ("catalog", "schema", "table"):
            object.__setattr__(self, part, getattr(self, part).lower())

    @classmethod
    def parse(cls, full_name: str) -> FullName:
        parts = full_name.split(".")
        if len(parts) != 3:
            raise InvalidParameterValue(f"Invalid full name {full_name!r}: expected catalog.schema.table.")
        catalog, schema, table = (identifier(p, "name") for p in parts)
        return cls(catalog, schema, table)

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


@dataclass
class TableInfo:
    """One row of ``tables`` plus what the Delta log says; ``as_api()`` is the Unity Catalog TableInfo."""

    name: FullName
    table_id: str
    table_type: str
    data_source_format: str
    storage_location: str
    comment: str | None
    properties: dict[str, str]
    owner: str | None
    created_at: int
    updated_at: int
    columns: list[dict] = field(default_factory=list)
    delta_version: int | None = None

    @property
    def pipeline_id(self) -> str | None:
        return self.properties.get(PIPELINE_ID_PROPERTY)

    @property
    def kind(self) -> str:
        """The table's type as Unity Catalog answers it: a pipeline's dataset is a STREAMING_TABLE (it keeps the
        checkpoints of the streams it reads) or a MATERIALIZED_VIEW; any other table MANAGED or EXTERNAL, as kept
        (``table_type``, which decides what a DROP removes)."""
        if self.pipeline_id is None:
            return self.table_type
        return STREAMING_TABLE if any(k.startswith(CHECKPOINT_PREFIX) for k in self.properties) else MATERIALIZED_VIEW

    def as_api(self, with_columns: bool = True, for_engine: bool = False) -> dict:
        """``for_engine``: the view Sail gets. Every table is EXTERNAL to it, because Sail treats a MANAGED table as
        catalog-managed (commits through the catalog) while here the Delta log on disk is the truth for all tables."""
        body: dict = {
            "name": self.name.table, "catalog_name": self.name.catalog, "schema_name": self.name.schema,
            "full_name": str(self.name), "table_id": self.table_id,
            "table_type": EXTERNAL if for_engine else self.kind,
            "data_source_format": self.data_source_format, "storage_location": file_uri(self.storage_location),
            "owner": self.owner, "created_at": self.created_at, "updated_at": self.updated_at,
            "properties": self.properties,
        }
        if self.comment:
            body["comment"] = self.comment
        if self.pipeline_id is not None and not for_engine:
            body["pipeline_id"] = self.pipeline_id
        if with_columns:
            body["columns"] = self.columns
        return body


@dataclass
class ViewInfo:
    """A persistent view: ``definition`` is its query as written, with every table name qualified; ``column_names``
    the names its CREATE VIEW gave the query's columns (None: the query's own); ``columns`` what it answered when
    it was made, as Unity Catalog columns."""

    name: FullName
    view_id: str
    definition: str
    column_names: list[str] | None
    columns: list[dict]
    comment: str | None
    owner: str | None
    created_at: int
    updated_at: int

    def as_api(self, with_columns: bool = True) -> dict:
        body: dict = {"name": self.name.table, "catalog_name": self.name.catalog, "schema_name": self.name.schema,
                      "full_name": str(self.name), "table_id": self.view_id, "table_type": VIEW,
                      "view_definition": self.definition, "owner": self.owner, "created_at": self.created_at,
                      "updated_at": self.updated_at, "properties": {}}
        if self.comment:
            body["comment"] = self.comment
        if with_columns:
            body["columns"] = self.columns
        return body


class CatalogStore:
    def __init__(self, paths: WorkspacePaths, owner: str) -> None:
        self.paths = paths
        self.owner = owner
        self.db = Database(paths.home / "catalog.db", MIGRATIONS)
        self.delta = DeltaLogReader()
        self._first_writes: set[str] = set()  # locations whose first commit a CTAS is about to write
        self._first_writes_lock = threading.Lock()
        self._seed()

    # -- locations ---------------------------------------------------------------------------------------------

    def managed_location(self, schema: str, table: str) -> Path:
        return self.paths.warehouse / schema / table

    def information_schema_location(self, table: str) -> Path:
        return self.paths.home / "catalog" / INFORMATION_SCHEMA / table

    def new_table_location(self, name: FullName) -> Path:
        """Where a new table ``name`` is written: its managed location, once no other table's files are there."""
        location = self.managed_location(name.schema, name.table)
        self._check_location_free(location, name)
        return location

    def expect_first_write(self, location: str, expected: bool = True) -> None:
        """Mark (or, ``expected=False``, unmark) a location whose table a CTAS registers and then writes: its
        registration makes no empty Delta table there, so the CTAS's own commit is version 0, as on Databricks (an
        empty version 0 made ``VERSION AS OF 0`` answer no rows)."""
        with self._first_writes_lock:
            if expected:
                self._first_writes.add(str(location))
            else:
                self._first_writes.discard(str(location))

    def _check_location_free(self, location: Path, name: FullName) -> None:
        """A location belongs to one table: a second name for the same files would overwrite or (as a managed
        table, when dropped) delete the first table's data."""
        wanted = str(location)
        for row in self.db.connect().execute("SELECT * FROM tables"):
            user = FullName(row["catalog_name"], row["schema_name"], row["name"])
            if user != name and self._located(row) == wanted:
                raise InvalidParameterValue(f"[LOCATION_OVERLAP] {wanted} is already the location of table {user}: "
                                            "a location belongs to one table.")

    def _kept(self, location: Path | str) -> str:
        """How ``catalog.db`` keeps a location: relative to the workspace root when inside it."""
        path = Path(location)
        return path.relative_to(self.paths.home).as_posix() if path.is_relative_to(self.paths.home) else str(path)

    def _located(self, row) -> str:
        """Where a table row's files are on this machine. A managed table's location is its managed location by
        definition; a catalog written before locations were kept relative holds the absolute path of wherever the
        workspace root was then, which after a move would be another workspace's files."""
        if row["table_type"] == MANAGED:
            return str(self.managed_location(row["schema_name"], row["name"]))
        kept = Path(row["storage_location"])
        return str(kept if kept.is_absolute() else self.paths.home / kept)

    # -- catalogs and schemas ------------------------------------------------------------------------------------

    def _seed(self) -> None:
        now = _now()
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO catalogs VALUES (?, ?, ?, ?, ?)",
                         (CATALOG, "The local workspace's catalog", self.owner, now, now))
            for schema in (DEFAULT_SCHEMA, INFORMATION_SCHEMA):
                conn.execute("INSERT OR IGNORE INTO schemas VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (CATALOG, schema, str(uuid.uuid4()), None, "{}", self.owner, now, now))
            # Catalogs written before locations were kept relative: those inside this root, or inside the root the
            # catalog was copied from (read off its managed tables' old locations), become relative.
            for root in {self.paths.home, *_former_roots(conn)}:
                inside = f"{root}/"
                conn.execute("UPDATE tables SET storage_location = substr(storage_location, ?) "
                             "WHERE substr(storage_location, 1, ?) = ?", (len(inside) + 1, len(inside), inside))

    def catalogs(self) -> list[dict]:
        rows = self.db.connect().execute("SELECT * FROM catalogs ORDER BY name").fetchall()
        return [_catalog_api(r) for r in rows]

    def catalog(self, name: str) -> dict:
        row = self.db.connect().execute("SELECT * FROM catalogs WHERE name = ?", (name.lower(),)).fetchone()
        if row is None:
            raise _not_found("catalog", name)
        return _catalog_api(row)

    def _require_catalog(self, name: str) -> str:
        name = identifier(name, "catalog_name")
        self.catalog(name)
        return name

    def schemas(self, catalog: str) -> list[dict]:
        catalog = self._require_catalog(catalog)
        rows = self.db.connect().execute("SELECT * FROM schemas WHERE catalog_name = ? ORDER BY name",
                                         (catalog,)).fetchall()
        return [_schema_api(r) for r in rows]

    def schema(self, catalog: str, name: str) -> dict:
        row = self.db.connect().execute("SELECT * FROM schemas WHERE catalog_name = ? AND name = ?",
                                        (catalog.lower(), name.lower())).fetchone()
        if row is None:
            raise _not_found("schema", f"{catalog}.{name}")
        return _schema_api(row)

    def create_schema(self, catalog: str, name: str, comment: str | None = None,
                      properties: dict | None = None, owner: str | None = None) -> dict:
        catalog = self._require_catalog(catalog)
        name = identifier(name, "schema name")
        now = _now()
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM schemas WHERE catalog_name = ? AND name = ?", (catalog, name)).fetchone():
                raise _exists("schema", f"{catalog}.{name}")
            conn.execute("INSERT INTO schemas VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (catalog, name, str(uuid.uuid4()), comment, json.dumps(properties or {}),
                          owner or self.owner, now, now))
        return self.schema(catalog, name)

    def delete_schema(self, catalog: str, name: str, force: bool = False) -> None:
        catalog, name = catalog.lower(), name.lower()
        self.schema(catalog, name)
        if name in (DEFAULT_SCHEMA, INFORMATION_SCHEMA):
            raise InvalidParameterValue(f"Schema '{catalog}.{name}' cannot be deleted.")
        tables = self.tables(catalog, name)
        views = self.views(catalog, name)
        models = self.db.connect().execute("SELECT count(*) FROM registered_models WHERE catalog_name = ? AND "
                                           "schema_name = ?", (catalog, name)).fetchone()[0]
        if models:  # their versions' files are the registry's to delete (catalog/models.py), even with force
            raise CatalogError(f"Schema '{catalog}.{name}' has {models} registered model(s); delete them first "
                               "(MlflowClient().delete_registered_model).", error_code="SCHEMA_NOT_EMPTY",
                               status=MODELS_IN_SCHEMA)
        if (tables or views) and not force:
            raise CatalogError(f"Schema '{catalog}.{name}' is not empty: it has {len(tables)} table(s) and "
                               f"{len(views)} view(s). Drop them first, or use DROP SCHEMA … CASCADE.",
                               error_code="SCHEMA_NOT_EMPTY", status=400)
        for table in tables:
            self.delete_table(table.name)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM views WHERE catalog_name = ? AND schema_name = ?", (catalog, name))
            conn.execute("DELETE FROM schemas WHERE catalog_name = ? AND name = ?", (catalog, name))

    # -- tables ------------------------------------------------------------------------------------------------

    def tables(self, catalog: str, schema: str | None = None) -> list[TableInfo]:
        catalog = self._require_catalog(catalog)
        if schema is not None and schema.lower() == INFORMATION_SCHEMA:
            return [self._system_table(FullName(catalog, INFORMATION_SCHEMA, t)) for t in SYSTEM_TABLES]
        if schema is not None:
            self.schema(catalog, schema)
            rows = self.db.connect().execute(
                "SELECT * FROM tables WHERE catalog_name = ? AND schema_name = ? ORDER BY name",
                (catalog, schema.lower())).fetchall()
        else:
            rows = self.db.connect().execute(
                "SELECT * FROM tables WHERE catalog_name = ? ORDER BY schema_name, name", (catalog,)).fetchall()
        return [self._info(r) for r in rows]

    def find(self, name: FullName, load: bool = True) -> TableInfo | None:
        """The table, or None. ``load=False``: raise ``columns.NotLoaded`` rather than read a Delta log that changed
        since it was last read."""
        if name.schema == INFORMATION_SCHEMA:
            return self._system_table(name, load) if name.table in SYSTEM_TABLES else None
        row = self.row(name)
        return self._info(row, load) if row is not None else None

    def row(self, name: FullName) -> sqlite3.Row | None:
        """The registered table's catalog row (what ``find`` builds its answer from, with ``facts``), or None."""
        return self.db.connect().execute(
            "SELECT * FROM tables WHERE catalog_name = ? AND schema_name = ? AND name = ?",
            (name.catalog, name.schema, name.table)).fetchone()

    def location(self, name: FullName) -> str | None:
        """Where a registered table's data lives, or None: what a write needs, without reading its Delta log (each
        write changes the log, so ``find`` would read it again on every write). The system tables are not
        registered: nothing writes them but the catalog (``check_writable``)."""
        row = self.db.connect().execute(
            "SELECT schema_name, name, table_type, storage_location FROM tables "
            "WHERE catalog_name = ? AND schema_name = ? AND name = ?",
            (name.catalog, name.schema, name.table)).fetchone()
        return self._located(row) if row is not None else None

    def managed_names(self, catalog: str) -> set[tuple[str, str]]:
        """(schema, table) of every MANAGED table of ``catalog``, from the registry alone."""
        rows = self.db.connect().execute("SELECT schema_name, name FROM tables WHERE catalog_name = ? AND "
                                         "table_type = ?", (catalog, MANAGED)).fetchall()
        return {(row["schema_name"], row["name"]) for row in rows}

    @staticmethod
    def check_writable(name: FullName) -> None:
        """The system schema is the catalog's own view of itself: no table in it is created or written by anyone
        but the catalog (its tables are rewritten only when the catalog changes, so a write would stay)."""
        if name.schema == INFORMATION_SCHEMA:
            raise InvalidParameterValue(f"Schema '{name.catalog}.{INFORMATION_SCHEMA}' is read-only: "
                                        f"{name} cannot be written.")

    def table(self, name: FullName) -> TableInfo:
        info = self.find(name)
        if info is None:
            raise _not_found("table", str(name))
        return info

    def create_table(self, name: FullName, storage_location: str | None, data_source_format: str = "DELTA",
                     columns: list[dict] | None = None, comment: str | None = None,
                     properties: dict | None = None, owner: str | None = None) -> TableInfo:
        """Register a table. With declared columns and no Delta log at the location yet, create the empty Delta
        table there (as Databricks does for ``CREATE TABLE t (…)``), so the first INSERT has a table to append to."""
        self._require_catalog(name.catalog)
        self.schema(name.catalog, name.schema)
        self.check_writable(name)
        fmt = (data_source_format or "DELTA").upper()
        if fmt not in FORMATS:
            raise InvalidParameterValue(f"Invalid data_source_format {data_source_format!r}: expected one of "
                                        f"{', '.join(FORMATS)}.")
        location = self.local_location(storage_location) if storage_location else \
            self.managed_location(name.schema, name.table)
        table_type = MANAGED if location == self.managed_location(name.schema, name.table) else EXTERNAL
        if self.find(name) is not None or self.find_view(name) is not None:
            raise _exists("table", str(name))
        self._check_location_free(location, name)
        with self._first_writes_lock:  # taken: a later registration at the location makes its empty table again
            written_next = str(location) in self._first_writes
            self._first_writes.discard(str(location))
        if fmt == "DELTA" and columns and not written_next and not Path(location, "_delta_log").is_dir():
            _create_empty_delta(location, delta_schema(columns), comment, partition_columns(columns))
        now = _now()
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM tables WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                            (name.catalog, name.schema, name.table)).fetchone():
                raise _exists("table", str(name))
            conn.execute("INSERT INTO tables VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (name.catalog, name.schema, name.table, str(uuid.uuid4()), table_type, fmt,
                          self._kept(location), json.dumps(columns or []), comment, json.dumps(properties or {}),
                          owner or self.owner, now, now))
        return self.table(name)

    def delete_table(self, name: FullName) -> TableInfo:
        self.check_writable(name)
        info = self.table(name)
        self._unregister(name)
        if info.table_type == MANAGED:
            from odoolake.workspace.engine.locks import table_lock

            with table_lock(info.storage_location):
                shutil.rmtree(info.storage_location, ignore_errors=True)
            self.delta.forget(info.storage_location)
        return info

    def forget_table_at(self, name: FullName, location: str) -> bool:
        """Unregister ``name`` if it is the table at ``location`` (its files are the caller's to remove): what undoes
        a CREATE TABLE that registered the table and then failed. Whether a row was removed."""
        row = self.row(name)
        if row is None or self._located(row) != str(Path(location)):
            return False
        self._unregister(name)
        return True

    def _unregister(self, name: FullName) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM tables WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                         (name.catalog, name.schema, name.table))

    def rename_table(self, name: FullName, new_name: FullName) -> TableInfo:
        """Rename within the catalog; a managed table's files move to its new managed location."""
        self.check_writable(name)
        self.check_writable(new_name)
        info = self.table(name)
        self.schema(new_name.catalog, new_name.schema)
        if self.find(new_name) is not None or self.find_view(new_name) is not None:
            raise _exists("table", str(new_name))
        location = info.storage_location
        if info.table_type == MANAGED:
            target = self.managed_location(new_name.schema, new_name.table)
            if target.exists():
                raise CatalogError(f"Cannot rename {name} to {new_name}: {target} is already in use.",
                                   error_code="TABLE_ALREADY_EXISTS", status=409)
            from odoolake.workspace.engine.locks import table_lock

            with table_lock(info.storage_location):
                target.parent.mkdir(parents=True, exist_ok=True)
                Path(info.storage_location).rename(target)
            location = str(target)
        with self.db.transaction() as conn:
            conn.execute("UPDATE tables SET catalog_name = ?, schema_name = ?, name = ?, storage_location = ?, "
                         "updated_at = ? WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                         (new_name.catalog, new_name.schema, new_name.table, self._kept(location), _now(),
                          name.catalog, name.schema, name.table))
        return self.table(new_name)

    def set_table_comment(self, name: FullName, comment: str | None) -> TableInfo:
        """``COMMENT ON TABLE``: the table's comment (None removes it)."""
        self.check_writable(name)
        self.table(name)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT properties FROM tables WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                               (name.catalog, name.schema, name.table)).fetchone()
            properties = json.loads(row["properties"] or "{}")
            if comment is None:  # the engine's copy of the comment it created the table with
                properties.pop("comment", None)
            elif "comment" in properties:
                properties["comment"] = comment
            conn.execute("UPDATE tables SET comment = ?, properties = ?, updated_at = ? WHERE catalog_name = ? AND "
                         "schema_name = ? AND name = ?",
                         (comment, json.dumps(properties), _now(), name.catalog, name.schema, name.table))
        return self.table(name)

    # -- views -------------------------------------------------------------------------------------------------

    def views(self, catalog: str, schema: str | None = None) -> list[ViewInfo]:
        catalog = self._require_catalog(catalog)
        if schema is None:
            rows = self.db.connect().execute("SELECT * FROM views WHERE catalog_name = ? ORDER BY schema_name, name",
                                             (catalog,)).fetchall()
        else:
            rows = self.db.connect().execute(
                "SELECT * FROM views WHERE catalog_name = ? AND schema_name = ? ORDER BY name",
                (catalog, schema.lower())).fetchall()
        return [_view(row) for row in rows]

    def view_names(self) -> frozenset[str]:
        """The last part of every view's name: what a statement must mention before it is searched for views."""
        return frozenset(row[0] for row in self.db.connect().execute("SELECT DISTINCT name FROM views"))

    def find_view(self, name: FullName) -> ViewInfo | None:
        row = self.db.connect().execute(
            "SELECT * FROM views WHERE catalog_name = ? AND schema_name = ? AND name = ?",
            (name.catalog, name.schema, name.table)).fetchone()
        return _view(row) if row is not None else None

    def create_view(self, name: FullName, definition: str, columns: list[dict], column_names: list[str] | None = None,
                    comment: str | None = None, owner: str | None = None, replace: bool = False) -> ViewInfo:
        """Keep a view; ``replace`` replaces a view of that name (never a table)."""
        self._require_catalog(name.catalog)
        self.schema(name.catalog, name.schema)
        self.check_writable(name)
        now = _now()
        with self.db.transaction() as conn:
            if self.row(name) is not None:
                raise CatalogError(f"Cannot create view {name}: a table of that name exists.",
                                   error_code="TABLE_ALREADY_EXISTS", status=409)
            kept = conn.execute("SELECT view_id, created_at FROM views WHERE catalog_name = ? AND schema_name = ? "
                                "AND name = ?", (name.catalog, name.schema, name.table)).fetchone()
            if kept is not None and not replace:
                raise _exists("view", str(name))
            conn.execute("INSERT OR REPLACE INTO views VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (name.catalog, name.schema, name.table, kept["view_id"] if kept else str(uuid.uuid4()),
                          definition, json.dumps(column_names) if column_names else None, json.dumps(columns),
                          comment, owner or self.owner, kept["created_at"] if kept else now, now))
        found = self.find_view(name)
        assert found is not None
        return found

    def delete_view(self, name: FullName) -> ViewInfo:
        self.check_writable(name)
        found = self.find_view(name)
        if found is None:
            raise _not_found("view", str(name))
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM views WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                         (name.catalog, name.schema, name.table))
        return found

    def rename_view(self, name: FullName, new_name: FullName) -> ViewInfo:
        self.check_writable(name)
        self.check_writable(new_name)
        self.schema(new_name.catalog, new_name.schema)
        if self.find_view(name) is None:
            raise _not_found("view", str(name))
        if self.row(new_name) is not None or self.find_view(new_name) is not None:
            raise _exists("table", str(new_name))
        with self.db.transaction() as conn:
            conn.execute("UPDATE views SET catalog_name = ?, schema_name = ?, name = ?, updated_at = ? "
                         "WHERE catalog_name = ? AND schema_name = ? AND name = ?",
                         (new_name.catalog, new_name.schema, new_name.table, _now(), name.catalog, name.schema,
                          name.table))
        found = self.find_view(new_name)
        assert found is not None
        return found

    def all_tables(self) -> Iterator[TableInfo]:
        for row in self.db.connect().execute("SELECT * FROM tables ORDER BY catalog_name, schema_name, name"):
            yield self._info(row)

    def local_location(self, location: str) -> Path:
        """``file:///x``, ``dbfs:/x`` or a plain path as an absolute local path."""
        if location.startswith("file://"):
            location = location[len("file://"):]
        if location.startswith(("dbfs:/", "/dbfs/")):
            try:
                return self.paths.dbfs_to_local(location)
            except ValueError as exc:
                raise InvalidParameterValue(f"Invalid storage_location {location!r}: {exc}.") from None
        path = Path(location)
        if not path.is_absolute():
            raise InvalidParameterValue(f"Invalid storage_location {location!r}: expected an absolute path.")
        return path.resolve()  # one spelling per place: through a symlink, a path inside the root is still inside

    def _system_table(self, name: FullName, load: bool = True) -> TableInfo:
        location = str(self.information_schema_location(name.table))
        facts = self.delta.read(location, load)
        return TableInfo(name=name, table_id=f"information_schema.{name.table}", table_type=EXTERNAL,
                         data_source_format="DELTA", storage_location=location, comment=None, properties={},
                         owner="System user", created_at=0, updated_at=0,
                         columns=uc_columns(facts.schema, []) if facts else [],
                         delta_version=facts.version if facts else None)

    def facts(self, row: sqlite3.Row, load: bool = True) -> DeltaFacts | None:
        """What the Delta log of the table in ``row`` says (None for another format): the same object until the log
        changes and is read again. ``load=False``: :class:`columns.NotLoaded` rather than read a changed log."""
        return self.delta.read(self._located(row), load) if row["data_source_format"] == "DELTA" else None

    def _info(self, row, load: bool = True) -> TableInfo:
        return self.info(row, self.facts(row, load))

    def info(self, row: sqlite3.Row, facts: DeltaFacts | None) -> TableInfo:
        location = self._located(row)
        if facts is not None:
            columns = uc_columns(facts.schema, facts.partition_columns)
            properties = {**json.loads(row["properties"] or "{}"), **facts.properties}
        else:
            columns = json.loads(row["declared_columns"] or "[]")
            properties = json.loads(row["properties"] or "{}")
        return TableInfo(
            name=FullName(row["catalog_name"], row["schema_name"], row["name"]), table_id=row["table_id"],
            table_type=row["table_type"], data_source_format=row["data_source_format"], storage_location=location,
            comment=row["comment"], properties=properties, owner=row["owner"], created_at=row["created_at"],
            updated_at=row["updated_at"], columns=columns, delta_version=facts.version if facts else None,
        )


def _view(row) -> ViewInfo:
    return ViewInfo(name=FullName(row["catalog_name"], row["schema_name"], row["name"]), view_id=row["view_id"],
                    definition=row["definition"],
                    column_names=json.loads(row["column_names"]) if row["column_names"] else None,
                    columns=json.loads(row["columns"]), comment=row["comment"], owner=row["owner"],
                    created_at=row["created_at"], updated_at=row["updated_at"])


def _former_roots(conn) -> set[Path]:
    """The workspace roots a catalog's absolute managed locations name (``<root>/warehouse/<schema>/<table>``)."""
    roots = set()
    for row in conn.execute("SELECT schema_name, name, storage_location FROM tables WHERE table_type = ?", (MANAGED,)):
        kept = Path(row["storage_location"])
        if kept.is_absolute() and kept.parts[-3:] == ("warehouse", row["schema_name"], row["name"]):
            roots.add(kept.parents[2])
    return roots


def _create_empty_delta(location: Path, schema: dict, comment: str | None, partition_by: list[str]) -> None:
    import pyarrow
    from deltalake import Schema, write_deltalake

    arrow_schema = pyarrow.schema(Schema.from_json(json.dumps(schema)).to_arrow())
    location.parent.mkdir(parents=True, exist_ok=True)
    write_deltalake(str(location), arrow_schema.empty_table(), mode="error", description=comment,
                    partition_by=partition_by or None)


def _now() -> int:
    return int(time.time() * 1000)


def _catalog_api(row) -> dict:
    return {"name": row["name"], "full_name": row["name"], "comment": row["comment"], "owner": row["owner"],
            "created_at": row["created_at"], "updated_at": row["updated_at"], "catalog_type": "MANAGED_CATALOG"}


def _schema_api(row) -> dict:
    body = {"name": row["name"], "catalog_name": row["catalog_name"],
            "full_name": f"{row['catalog_name']}.{row['name']}", "schema_id": row["schema_id"],
            "owner": row["owner"], "created_at": row["created_at"], "updated_at": row["updated_at"],
            "properties": json.loads(row["properties"] or "{}")}
    if row["comment"]:
        body["comment"] = row["comment"]
    return body
