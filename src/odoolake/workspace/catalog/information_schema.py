"""``main.information_schema``: ``catalogs``, ``schemata``, ``tables`` and ``columns``, as Databricks names them,
``views``, and (empty: this workspace has no tags, masks or constraints) the tables clients read beside them.

They are ordinary Delta tables the engine reads like any other, so every SQL path (Spark Connect, the Statement
API, the SQL connector, MCP) can filter and join them. ``refresh()`` rewrites them from the catalog when what they
would hold has changed; the engine calls it before a statement that names ``information_schema``. The engine also
serves them as ``system.information_schema`` (Unity Catalog's view across catalogs, the same rows with one catalog),
which dbt-databricks reads to list a schema's relations: without it every incremental model was rebuilt whole.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow

    from odoolake.workspace.catalog.store import CatalogStore

# Tables with rows from the catalog, then tables of things this workspace does not have (always empty).
CATALOG_TABLES = ("catalogs", "schemata", "tables", "columns", "views")
EMPTY_TABLES = ("table_tags", "column_tags", "column_masks", "row_filters", "key_column_usage",
                "table_constraints", "referential_constraints")
TABLES = CATALOG_TABLES + EMPTY_TABLES

_TS = "timestamp[us, tz=UTC]"
SCHEMAS: dict[str, list[tuple[str, str]]] = {
    "catalogs": [("catalog_name", "string"), ("catalog_owner", "string"), ("comment", "string"),
                 ("created", _TS), ("created_by", "string"), ("last_altered", _TS), ("last_altered_by", "string")],
    "schemata": [("catalog_name", "string"), ("schema_name", "string"), ("schema_owner", "string"),
                 ("comment", "string"), ("created", _TS), ("created_by", "string"), ("last_altered", _TS),
                 ("last_altered_by", "string")],
    "tables": [("table_catalog", "string"), ("table_schema", "string"), ("table_name", "string"),
               ("table_type", "string"), ("is_insertable_into", "string"), ("table_owner", "string"),
               ("comment", "string"), ("created", _TS), ("created_by", "string"), ("last_altered", _TS),
               ("last_altered_by", "string"), ("data_source_format", "string"), ("storage_path", "string")],
    "columns": [("table_catalog", "string"), ("table_schema", "string"), ("table_name", "string"),
                ("column_name", "string"), ("ordinal_position", "int32"), ("column_default", "string"),
                ("is_nullable", "string"), ("full_data_type", "string"), ("data_type", "string"),
                ("character_maximum_length", "int64"), ("numeric_precision", "int32"),
                ("numeric_precision_radix", "int32"), ("numeric_scale", "int32"), ("partition_index", "int32"),
                ("comment", "string")],
    "views": [("table_catalog", "string"), ("table_schema", "string"), ("table_name", "string"),
              ("view_definition", "string"), ("check_option", "string"), ("is_updatable", "string"),
              ("is_insertable_into", "string"), ("sql_path", "string"), ("is_materialized", "string")],
    "table_tags": [("catalog_name", "string"), ("schema_name", "string"), ("table_name", "string"),
                   ("tag_name", "string"), ("tag_value", "string")],
    "column_tags": [("catalog_name", "string"), ("schema_name", "string"), ("table_name", "string"),
                    ("column_name", "string"), ("tag_name", "string"), ("tag_value", "string")],
    "column_masks": [("table_catalog", "string"), ("table_schema", "string"), ("table_name", "string"),
                     ("column_name", "string"), ("mask_catalog", "string"), ("mask_schema", "string"),
                     ("mask_name", "string"), ("using_columns", "string")],
    "row_filters": [("table_catalog", "string"), ("table_schema", "string"), ("table_name", "string"),
                    ("filter_catalog", "string"), ("filter_schema", "string"), ("filter_name", "string"),
                    ("target_columns", "string")],
    "key_column_usage": [("constraint_catalog", "string"), ("constraint_schema", "string"),
                         ("constraint_name", "string"), ("table_catalog", "string"), ("table_schema", "string"),
                         ("table_name", "string"), ("column_name", "string"), ("ordinal_position", "int32"),
                         ("position_in_unique_constraint", "int32")],
    "table_constraints": [("constraint_catalog", "string"), ("constraint_schema", "string"),
                          ("constraint_name", "string"), ("table_catalog", "string"), ("table_schema", "string"),
                          ("table_name", "string"), ("constraint_type", "string"), ("is_deferrable", "string"),
                          ("initially_deferred", "string"), ("enforced", "string"), ("comment", "string")],
    "referential_constraints": [("constraint_catalog", "string"), ("constraint_schema", "string"),
                                ("constraint_name", "string"), ("unique_constraint_catalog", "string"),
                                ("unique_constraint_schema", "string"), ("unique_constraint_name", "string"),
                                ("match_option", "string"), ("update_rule", "string"), ("delete_rule", "string")],
}

_NUMERIC_PRECISION = {"BYTE": 3, "SHORT": 5, "INT": 10, "LONG": 19, "FLOAT": 24, "DOUBLE": 53}


def _ts(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


def rows(store: CatalogStore) -> dict[str, list[dict]]:
    """What each information_schema table holds now."""
    from odoolake.workspace.catalog.store import CATALOG, INFORMATION_SCHEMA

    out: dict[str, list[dict]] = {name: [] for name in TABLES}
    for catalog in store.catalogs():
        out["catalogs"].append({"catalog_name": catalog["name"], "catalog_owner": catalog["owner"],
                                "comment": catalog["comment"], "created": _ts(catalog["created_at"]),
                                "created_by": catalog["owner"], "last_altered": _ts(catalog["updated_at"]),
                                "last_altered_by": catalog["owner"]})
    for schema in store.schemas(CATALOG):
        out["schemata"].append({"catalog_name": schema["catalog_name"], "schema_name": schema["name"],
                                "schema_owner": schema["owner"], "comment": schema.get("comment"),
                                "created": _ts(schema["created_at"]), "created_by": schema["owner"],
                                "last_altered": _ts(schema["updated_at"]), "last_altered_by": schema["owner"]})
    for name in TABLES:
        out["tables"].append({"table_catalog": CATALOG, "table_schema": INFORMATION_SCHEMA, "table_name": name,
                              "table_type": "VIEW", "is_insertable_into": "NO", "table_owner": "System user",
                              "comment": None, "created": None, "created_by": None, "last_altered": None,
                              "last_altered_by": None, "data_source_format": None, "storage_path": None})
    for table in store.tables(CATALOG):
        n = table.name
        out["tables"].append({"table_catalog": n.catalog, "table_schema": n.schema, "table_name": n.table,
                              "table_type": table.kind,
                              "is_insertable_into": "YES" if table.pipeline_id is None else "NO",
                              "table_owner": table.owner, "comment": table.comment,
                              "created": _ts(table.created_at), "created_by": table.owner,
                              "last_altered": _ts(table.updated_at), "last_altered_by": table.owner,
                              "data_source_format": table.data_source_format,
                              "storage_path": table.storage_location})
        out["columns"] += _columns(n.catalog, n.schema, n.table, table.columns)
    for view in store.views(CATALOG):
        n = view.name
        out["tables"].append({"table_catalog": n.catalog, "table_schema": n.schema, "table_name": n.table,
                              "table_type": "VIEW", "is_insertable_into": "NO", "table_owner": view.owner,
                              "comment": view.comment, "created": _ts(view.created_at), "created_by": view.owner,
                              "last_altered": _ts(view.updated_at), "last_altered_by": view.owner,
                              "data_source_format": None, "storage_path": None})
        out["views"].append({"table_catalog": n.catalog, "table_schema": n.schema, "table_name": n.table,
                             "view_definition": view.definition, "check_option": "NONE", "is_updatable": "NO",
                             "is_insertable_into": "NO", "sql_path": None, "is_materialized": "FALSE"})
        out["columns"] += _columns(n.catalog, n.schema, n.table, view.columns)
    return out


def _columns(catalog: str, schema: str, table: str, columns: list[dict]) -> list[dict]:
    """``information_schema.columns`` rows of a table's or view's Unity Catalog columns."""
    out = []
    for column in columns:
        kind = column.get("type_name", "")
        out.append({
            "table_catalog": catalog, "table_schema": schema, "table_name": table,
            "column_name": column["name"], "ordinal_position": column.get("position", 0),
            "column_default": None, "is_nullable": "YES" if column.get("nullable", True) else "NO",
            "full_data_type": column.get("type_text"), "data_type": kind,
            "character_maximum_length": None,
            "numeric_precision": column.get("type_precision", _NUMERIC_PRECISION.get(kind)),
            "numeric_precision_radix": 10 if kind == "DECIMAL" else (2 if kind in _NUMERIC_PRECISION else None),
            "numeric_scale": column.get("type_scale", 0 if kind in ("BYTE", "SHORT", "INT", "LONG") else None),
            "partition_index": column.get("partition_index"), "comment": column.get("comment")})
    return out


class InformationSchema:
    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._written: dict[str, str] = {}

    def refresh(self) -> list[str]:
        """Rewrite the tables whose contents changed; returns their names."""
        from deltalake import write_deltalake

        changed = []
        with self._lock:
            for name, table_rows in rows(self.store).items():
                digest = hashlib.sha256(json.dumps(table_rows, default=str, sort_keys=True).encode()).hexdigest()
                location = self.store.information_schema_location(name)
                if self._written.get(name) == digest and (location / "_delta_log").is_dir():
                    continue
                location.parent.mkdir(parents=True, exist_ok=True)
                write_deltalake(str(location), _arrow(name, table_rows), mode="overwrite", schema_mode="overwrite")
                self._written[name] = digest
                changed.append(name)
        return changed


def _arrow(name: str, table_rows: list[dict]) -> pyarrow.Table:
    import pyarrow

    fields = []
    for column, kind in SCHEMAS[name]:
        arrow_type = pyarrow.timestamp("us", tz="UTC") if kind == _TS else pyarrow.type_for_alias(kind)
        fields.append(pyarrow.field(column, arrow_type))
    schema = pyarrow.schema(fields)
    return pyarrow.Table.from_pylist(table_rows, schema=schema)
