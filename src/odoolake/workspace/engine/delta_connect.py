"""Delta Lake's Python API over Spark Connect: ``delta.tables.DeltaTable`` as Databricks Connect and delta-spark send it.

Their ``DeltaTable`` methods travel as Spark Connect extensions, ``delta.connect.DeltaRelation`` (a table's rows,
history, detail, DELETE, UPDATE, MERGE, RESTORE, OPTIMIZE, isDeltaTable) and ``delta.connect.DeltaCommand`` (VACUUM,
the table builder), packed in ``google.protobuf.Any``. Sail knows neither: every call failed with "extension
relation". Each is read here and written as the SQL statement Databricks runs for it, which then takes the same
rules, locks and answers as that statement sent as text.

The messages are declared here from Delta Connect's published field numbers (``delta/connect/*.proto``, Delta 3.3),
only the fields read, so that the engine host does not need Delta's Python package.
"""

from __future__ import annotations

import decimal as decimal_module
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from odoolake.workspace.catalog.columns import type_text
from odoolake.workspace.engine import delta_writes, sqltext
from odoolake.workspace.engine.protos import relations_pb2  # noqa: F401  (Spark Connect's files, in the pool first)

RELATION_TYPE_URL = "type.googleapis.com/delta.connect.DeltaRelation"
COMMAND_TYPE_URL = "type.googleapis.com/delta.connect.DeltaCommand"
# DeltaRelation kinds that change a table: run once, when the client executes them (not when a plan is analyzed)
MUTATING = frozenset({"delete_from_table", "update_table", "merge_into_table", "restore_table", "optimize_table"})

_T = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _T.TYPE_STRING, "int64": _T.TYPE_INT64, "int32": _T.TYPE_INT32, "bool": _T.TYPE_BOOL,
            "double": _T.TYPE_DOUBLE, "enum": _T.TYPE_ENUM}

# (message, [(field, number, type, repeated, oneof)]); a type starting with "." is a message's full name
_TABLE = ".delta.connect.DeltaTable"
_RELATION, _EXPRESSION, _DATA_TYPE = ".spark.connect.Relation", ".spark.connect.Expression", ".spark.connect.DataType"
_FILES: dict[str, tuple[list[str], list[tuple[str, list[tuple[str, int, str, bool, str | None]]]]]] = {
    "delta/connect/base.proto": ([], [
        ("DeltaTable", [("path", 1, ".delta.connect.DeltaTable.Path", False, "access_type"),
                        ("table_or_view_name", 2, "string", False, "access_type")]),
        ("DeltaTable.Path", [("path", 1, "string", False, None)]),
    ]),
    "delta/connect/relations.proto": (["delta/connect/base.proto", "spark/connect/expressions.proto",
                                       "spark/connect/relations.proto", "spark/connect/types.proto"], [
        ("DeltaRelation", [(kind, number, f".delta.connect.{message}", False, "relation_type")
                           for kind, number, message in (
            ("scan", 1, "Scan"), ("describe_history", 2, "DescribeHistory"), ("describe_detail", 3, "DescribeDetail"),
            ("convert_to_delta", 4, "ConvertToDelta"), ("restore_table", 5, "RestoreTable"),
            ("is_delta_table", 6, "IsDeltaTable"), ("delete_from_table", 7, "DeleteFromTable"),
            ("update_table", 8, "UpdateTable"), ("merge_into_table", 9, "MergeIntoTable"),
            ("optimize_table", 10, "OptimizeTable"))]),
        ("Scan", [("table", 1, _TABLE, False, None)]),
        ("DescribeHistory", [("table", 1, _TABLE, False, None)]),
        ("DescribeDetail", [("table", 1, _TABLE, False, None)]),
        ("ConvertToDelta", [("identifier", 1, "string", False, None)]),
        ("RestoreTable", [("table", 1, _TABLE, False, None), ("version", 2, "int64", False, "version_or_timestamp"),
                          ("timestamp", 3, "string", False, "version_or_timestamp")]),
        ("IsDeltaTable", [("path", 1, "string", False, None)]),
        ("DeleteFromTable", [("target", 1, _RELATION, False, None), ("condition", 2, _EXPRESSION, False, None)]),
        ("UpdateTable", [("target", 1, _RELATION, False, None), ("condition", 2, _EXPRESSION, False, None),
                         ("assignments", 3, ".delta.connect.Assignment", True, None)]),
        ("MergeIntoTable", [("target", 1, _RELATION, False, None), ("source", 2, _RELATION, False, None),
                            ("condition", 3, _EXPRESSION, False, None),
                            ("matched_actions", 4, ".delta.connect.MergeIntoTable.Action", True, None),
                            ("not_matched_actions", 5, ".delta.connect.MergeIntoTable.Action", True, None),
                            ("not_matched_by_source_actions", 6, ".delta.connect.MergeIntoTable.Action", True, None),
                            ("with_schema_evolution", 7, "bool", False, "_with_schema_evolution")]),
        ("MergeIntoTable.Action", [("condition", 1, _EXPRESSION, False, None)] + [
            (kind, number, f".delta.connect.MergeIntoTable.Action.{message}", False, "action_type")
            for kind, number, message in (("delete_action", 2, "DeleteAction"), ("update_action", 3, "UpdateAction"),
                                          ("update_star_action", 4, "UpdateStarAction"),
                                          ("insert_action", 5, "InsertAction"),
                                          ("insert_star_action", 6, "InsertStarAction"))]),
        ("MergeIntoTable.Action.DeleteAction", []),
        ("MergeIntoTable.Action.UpdateAction", [("assignments", 1, ".delta.connect.Assignment", True, None)]),
        ("MergeIntoTable.Action.UpdateStarAction", []),
        ("MergeIntoTable.Action.InsertAction", [("assignments", 1, ".delta.connect.Assignment", True, None)]),
        ("MergeIntoTable.Action.InsertStarAction", []),
        ("Assignment", [("field", 1, _EXPRESSION, False, None), ("value", 2, _EXPRESSION, False, None)]),
        ("OptimizeTable", [("table", 1, _TABLE, False, None), ("partition_filters", 2, "string", True, None),
                           ("zorder_columns", 3, "string", True, None)]),
    ]),
    "delta/connect/commands.proto": (["delta/connect/base.proto", "spark/connect/types.proto"], [
        ("DeltaCommand", [(kind, number, f".delta.connect.{message}", False, "command_type")
                          for kind, number, message in (
            ("clone_table", 1, "CloneTable"), ("vacuum_table", 2, "VacuumTable"),
            ("upgrade_table_protocol", 3, "UpgradeTableProtocol"), ("generate", 4, "Generate"),
            ("create_delta_table", 5, "CreateDeltaTable"))]),
        ("CloneTable", []), ("UpgradeTableProtocol", []), ("Generate", []),
        ("VacuumTable", [("table", 1, _TABLE, False, None), ("retention_hours", 2, "double", False, "_retention_hours")]),
        ("CreateDeltaTable", [("mode", 1, "enum", False, None), ("table_name", 2, "string", False, "_table_name"),
                              ("location", 3, "string", False, "_location"), ("comment", 4, "string", False, "_comment"),
                              ("columns", 5, ".delta.connect.CreateDeltaTable.Column", True, None),
                              ("partitioning_columns", 6, "string", True, None),
                              ("properties", 7, ".delta.connect.CreateDeltaTable.PropertiesEntry", True, None),
                              ("clustering_columns", 8, "string", True, None)]),
        ("CreateDeltaTable.Column", [("name", 1, "string", False, None), ("data_type", 2, _DATA_TYPE, False, None),
                                     ("nullable", 3, "bool", False, None),
                                     ("generated_always_as", 4, "string", False, "_generated_always_as"),
                                     ("comment", 5, "string", False, "_comment")]),
        ("CreateDeltaTable.PropertiesEntry", [("key", 1, "string", False, None), ("value", 2, "string", False, None)]),
    ]),
}
# CreateDeltaTable.Mode
MODE_CREATE, MODE_CREATE_IF_NOT_EXISTS, MODE_REPLACE, MODE_CREATE_OR_REPLACE = 1, 2, 3, 4


def _build(pool: Any) -> None:
    for file_name, (dependencies, messages) in _FILES.items():
        try:
            pool.FindFileByName(file_name)
            continue  # Delta's own modules were imported in this process: theirs are the same messages
        except KeyError:
            pass
        proto = descriptor_pb2.FileDescriptorProto(name=file_name, package="delta.connect", syntax="proto3",
                                                   dependency=dependencies)
        made: dict[str, Any] = {}
        for path, fields in messages:
            parent, _, name = path.rpartition(".")
            holder = made[parent].nested_type if parent else proto.message_type
            message = holder.add(name=name)
            made[path] = message
            if path == "CreateDeltaTable":
                mode = message.enum_type.add(name="Mode")
                for value, number in (("MODE_UNSPECIFIED", 0), ("MODE_CREATE", 1), ("MODE_CREATE_IF_NOT_EXISTS", 2),
                                      ("MODE_REPLACE", 3), ("MODE_CREATE_OR_REPLACE", 4)):
                    mode.value.add(name=value, number=number)
            oneofs: list[str] = []
            for field, number, kind, repeated, oneof in fields:
                added = message.field.add(name=field, number=number,
                                          label=_T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL)
                if kind == "enum":
                    added.type, added.type_name = _T.TYPE_ENUM, ".delta.connect.CreateDeltaTable.Mode"
                elif kind.startswith("."):
                    added.type, added.type_name = _T.TYPE_MESSAGE, kind
                else:
                    added.type = _SCALARS[kind]
                if oneof is not None:
                    if oneof not in oneofs:
                        oneofs.append(oneof)
                        message.oneof_decl.add(name=oneof)
                    added.oneof_index = oneofs.index(oneof)
        pool.Add(proto)


_POOL = descriptor_pool.Default()
_build(_POOL)
DeltaRelation: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("delta.connect.DeltaRelation"))
DeltaCommand: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("delta.connect.DeltaCommand"))


class Unsupported(Exception):
    """A Delta call, or a part of one, that has no local form; the message says what to do instead."""


def relation_of(extension: Any) -> Any | None:
    """The DeltaRelation packed in a Relation's ``extension``, or None for another extension."""
    if extension.type_url != RELATION_TYPE_URL:
        return None
    return DeltaRelation.FromString(extension.value)


def command_of(extension: Any) -> Any | None:
    if extension.type_url != COMMAND_TYPE_URL:
        return None
    return DeltaCommand.FromString(extension.value)


_NAME = re.compile(r"(?:`(?:[^`]|``)+`|\w+)(?:\s*\.\s*(?:`(?:[^`]|``)+`|\w+))*")


def checked_name(name: str) -> str:
    """A table name as SQL names it (``gold.t``, ``main.`my-schema`.t``, ``delta.`/path```), or :class:`Unsupported`
    for anything else: the name is written into a statement."""
    if not _NAME.fullmatch(name.strip()):
        raise Unsupported(f"{name!r} is not a table name: write it as schema.table (back-quote a part with other "
                          "characters: `my-table`).")
    return name.strip()


def table_sql(table: Any) -> str:
    """A DeltaTable (``forName``'s name, as SQL names it, or ``forPath``'s path) as a SQL table reference."""
    if table.WhichOneof("access_type") == "path":
        return "delta.`" + table.path.path.replace("`", "``") + "`"
    return checked_name(table.table_or_view_name)


def column_sql(identifier: str) -> str:
    """A column as a Column names it (``col("t.id")``, ``col("my col")``, ``col("`a.b`")``): its dot-separated parts,
    back-quoted parts kept whole, each part back-quoted for SQL."""
    parts, part, quoted, i = [], "", False, 0
    while i < len(identifier):
        ch = identifier[i]
        if ch == "`" and quoted and identifier[i + 1:i + 2] == "`":
            part, i = part + "`", i + 2
            continue
        if ch == "`":
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(part)
            part = ""
        else:
            part += ch
        i += 1
    parts.append(part)
    if quoted or any(p == "" for p in parts):
        raise Unsupported(f"{identifier!r} is not a column name.")
    return ".".join(sqltext.quote_path(p, "`") for p in parts)


@dataclass(frozen=True)
class Target:
    """The table a DELETE, UPDATE or MERGE changes, as SQL names it, and the alias the client gave it."""

    table: str
    alias: str | None

    def sql(self) -> str:
        return self.table + (f" AS {sqltext.quote_path(self.alias, '`')}" if self.alias else "")


def target_of(relation: Any) -> Target:
    """The table of a DeltaTable's plan: its scan, under the alias ``DeltaTable.alias`` gives it."""
    alias = None
    if relation.WhichOneof("rel_type") == "subquery_alias":
        alias, relation = relation.subquery_alias.alias, relation.subquery_alias.input
    delta = relation_of(relation.extension) if relation.WhichOneof("rel_type") == "extension" else None
    if delta is None or delta.WhichOneof("relation_type") != "scan":
        raise Unsupported("The table to change must be a DeltaTable (DeltaTable.forName or forPath, optionally "
                          "with .alias()), not a DataFrame derived from one.")
    return Target(table_sql(delta.scan.table), alias)


# -- Spark Connect expressions as SQL ---------------------------------------------------------------------------

_BINARY = {"==": "=", "<=>": "<=>", "!=": "!=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "+": "+",
           "-": "-", "*": "*", "/": "/", "%": "%", "and": "AND", "or": "OR", "&&": "AND", "||": "OR"}
_POSTFIX = {"isnull": "IS NULL", "isnotnull": "IS NOT NULL"}
_EPOCH = date(1970, 1, 1)


def expression_sql(expression: Any) -> str:
    """A condition or value as SQL text: a SQL string as given (``"t.id = s.id"``, the usual form), or a Column
    built of names, literals, operators, functions and casts. Other expressions are :class:`Unsupported`."""
    kind = expression.WhichOneof("expr_type")
    if kind == "expression_string":  # on its own line: a trailing -- comment ends before the parenthesis
        return f"({expression.expression_string.expression}\n)"
    if kind == "unresolved_attribute":
        attribute = expression.unresolved_attribute
        if attribute.HasField("plan_id"):
            raise Unsupported(f"The column {attribute.unparsed_identifier!r} is taken from a DataFrame (df[...]); "
                              "name it by its alias instead (F.col('s.id')), or pass the condition as a SQL string.")
        return column_sql(attribute.unparsed_identifier)
    if kind == "literal":
        return _literal_sql(expression.literal)
    if kind == "alias":
        return expression_sql(expression.alias.expr)
    if kind == "cast":
        cast = expression.cast
        target = cast.type_str if cast.WhichOneof("cast_to_type") == "type_str" else _type_sql(cast.type)
        return f"CAST({expression_sql(cast.expr)} AS {target})"
    if kind == "unresolved_function":
        function = expression.unresolved_function
        name = function.function_name
        arguments = [expression_sql(argument) for argument in function.arguments]
        if name in _BINARY and len(arguments) == 2:
            return f"({arguments[0]} {_BINARY[name]} {arguments[1]})"
        if name.lower() in _POSTFIX and len(arguments) == 1:
            return f"({arguments[0]} {_POSTFIX[name.lower()]})"
        if name in ("not", "!") and len(arguments) == 1:
            return f"(NOT {arguments[0]})"
        if name == "negative" and len(arguments) == 1:
            return f"(- {arguments[0]})"
        if name == "in" and arguments:
            return f"({arguments[0]} IN ({', '.join(arguments[1:])}))"
        if not name.replace("_", "").isalnum():
            raise Unsupported(f"The operator {name!r} has no SQL form here; pass the expression as a SQL string.")
        return f"{name}({'DISTINCT ' if function.is_distinct else ''}{', '.join(arguments)})"
    raise Unsupported(f"A {kind} expression has no SQL form here; pass the condition or value as a SQL string "
                      "(for example \"t.id = s.id\").")


def _type_sql(data_type: Any) -> str:
    """A Spark Connect DataType as SQL writes it: a type given as text (``addColumn("id", "INT")``) as given, once it
    is seen to be one type (it is written into a statement)."""
    if data_type.WhichOneof("kind") == "unparsed":
        text = str(data_type.unparsed.data_type_string)
        depth, quoted = 0, False
        for ch in text:
            if ch == "`":
                quoted = not quoted
            elif quoted:
                continue
            elif ch in "<(":
                depth += 1
            elif ch in ">)":
                depth -= 1
            if depth < 0 or (not quoted and ((ch == "," and depth == 0) or not (ch.isalnum() or ch in "_:,<>()` "))):
                raise Unsupported(f"{text!r} is not one data type (write it as INT, DECIMAL(18,2), "
                                  "ARRAY<STRING> …).")
        if depth or quoted or not text.strip():
            raise Unsupported(f"{text!r} is not one data type (write it as INT, DECIMAL(18,2), ARRAY<STRING> …).")
        return text
    try:
        return type_text(delta_writes.delta_type(data_type))
    except ValueError:
        raise Unsupported(f"The type {data_type.WhichOneof('kind')} has no SQL form here; give it as text "
                          "(\"DECIMAL(18,2)\").") from None


def _literal_sql(literal: Any) -> str:
    kind = literal.WhichOneof("literal_type")
    if kind == "null":
        return "NULL"
    if kind == "boolean":
        return "TRUE" if literal.boolean else "FALSE"
    if kind in ("integer", "long", "short", "byte"):
        value = getattr(literal, kind)
        return {"integer": str(value), "long": f"{value}L", "short": f"{value}S", "byte": f"{value}Y"}[kind]
    if kind in ("double", "float"):
        value = getattr(literal, kind)
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity") if math.isinf(value) \
            else repr(value)
        return f"CAST('{text}' AS {kind.upper()})"
    if kind == "string":
        return sqltext.sql_literal(literal.string)
    if kind == "decimal":  # the value's own precision and scale, as Spark Connect reads it: PySpark sends its
        value = decimal_module.Decimal(literal.decimal.value)  # default DECIMAL(10,0) beside any value
        if not value.is_finite():
            raise Unsupported(f"The decimal {literal.decimal.value!r} is not a number.")
        return f"{value:f}BD"
    if kind == "date":
        return f"DATE '{_EPOCH + timedelta(days=literal.date)}'"
    if kind == "timestamp":
        return f"timestamp_micros({literal.timestamp})"
    if kind == "binary":
        return f"X'{literal.binary.hex()}'"
    raise Unsupported(f"A {kind} literal has no SQL form here; pass the expression as a SQL string.")


# -- the statements ----------------------------------------------------------------------------------------------

def delete_sql(delete: Any) -> str:
    target = target_of(delete.target)
    where = f" WHERE {expression_sql(delete.condition)}" if delete.HasField("condition") else ""
    return f"DELETE FROM {target.sql()}{where}"


def _assignments(assignments: Any) -> str:
    return ", ".join(f"{expression_sql(a.field)} = {expression_sql(a.value)}" for a in assignments)


def update_sql(update: Any) -> str:
    target = target_of(update.target)
    if not update.assignments:
        raise Unsupported("An UPDATE needs at least one column to set.")
    where = f" WHERE {expression_sql(update.condition)}" if update.HasField("condition") else ""
    return f"UPDATE {target.sql()} SET {_assignments(update.assignments)}{where}"


def merge_sql(merge: Any, source_view: str, source_alias: str | None) -> str:
    """MERGE INTO the target USING the source (a temporary view made of the client's DataFrame) with every clause
    the merge builder gave, in its order."""
    if merge.HasField("with_schema_evolution") and merge.with_schema_evolution:
        raise Unsupported("MERGE with schema evolution (withSchemaEvolution) is not supported by the local engine; "
                          "add the new columns first (ALTER TABLE … ADD COLUMNS), then merge.")
    target = target_of(merge.target)
    source = sqltext.quote_path(source_view, "`") + (f" AS {sqltext.quote_path(source_alias, '`')}"
                                                      if source_alias else "")
    clauses = []
    for actions, when in ((merge.matched_actions, "WHEN MATCHED"), (merge.not_matched_actions, "WHEN NOT MATCHED"),
                          (merge.not_matched_by_source_actions, "WHEN NOT MATCHED BY SOURCE")):
        for action in actions:
            condition = f" AND {expression_sql(action.condition)}" if action.HasField("condition") else ""
            kind = action.WhichOneof("action_type")
            if kind == "delete_action":
                then = "DELETE"
            elif kind == "update_action":
                then = f"UPDATE SET {_assignments(action.update_action.assignments)}"
            elif kind == "update_star_action":
                then = "UPDATE SET *"
            elif kind == "insert_action":
                pairs = action.insert_action.assignments
                then = f"INSERT ({', '.join(expression_sql(a.field) for a in pairs)}) VALUES " \
                       f"({', '.join(expression_sql(a.value) for a in pairs)})"
            elif kind == "insert_star_action":
                then = "INSERT *"
            else:
                raise Unsupported(f"The merge action {kind!r} is not known.")
            clauses.append(f"{when}{condition} THEN {then}")
    if not clauses:
        raise Unsupported("A merge needs at least one whenMatched… or whenNotMatched… clause.")
    return f"MERGE INTO {target.sql()} USING {source} ON {expression_sql(merge.condition)} " + " ".join(clauses)


def restore_sql(restore: Any) -> str:
    target = table_sql(restore.table)
    if restore.WhichOneof("version_or_timestamp") == "timestamp":
        return f"RESTORE TABLE {target} TO TIMESTAMP AS OF {sqltext.sql_literal(restore.timestamp)}"
    return f"RESTORE TABLE {target} TO VERSION AS OF {restore.version}"


def optimize_sql(optimize: Any) -> str:
    text = f"OPTIMIZE {table_sql(optimize.table)}"
    if optimize.partition_filters:
        text += " WHERE " + " AND ".join(f"({f})" for f in optimize.partition_filters)
    if optimize.zorder_columns:
        text += f" ZORDER BY ({', '.join(column_sql(c) for c in optimize.zorder_columns)})"
    return text


def vacuum_sql(vacuum: Any) -> str:
    hours = f" RETAIN {decimal_module.Decimal(repr(vacuum.retention_hours)):f} HOURS" \
        if vacuum.HasField("retention_hours") else ""  # never 1e+06: the statement reads digits
    return f"VACUUM {table_sql(vacuum.table)}{hours}"


def create_sql(create: Any) -> str:
    """``DeltaTable.create|createIfNotExists|createOrReplace(spark)…execute()`` as the CREATE TABLE it is. REPLACE
    alone (the table must exist) is written CREATE OR REPLACE: the caller checks that the table exists."""
    if not create.HasField("table_name"):
        raise Unsupported("A Delta table made by the builder needs a name (.tableName(...)): the local catalog "
                          "registers tables by name.")
    if create.clustering_columns:
        raise Unsupported("Liquid clustering (.clusterBy) is not supported by the local engine; partition the table "
                          "(.partitionedBy) or leave it unclustered.")
    columns = []
    for column in create.columns:
        text = f"{sqltext.quote_path(column.name, '`')} {_type_sql(column.data_type)}"
        if not column.nullable:
            text += " NOT NULL"
        if column.HasField("generated_always_as"):
            text += f" GENERATED ALWAYS AS ({column.generated_always_as})"
        if column.HasField("comment"):
            text += f" COMMENT {sqltext.sql_literal(column.comment)}"
        columns.append(text)
    if not columns:
        raise Unsupported("A Delta table made by the builder needs its columns (.addColumn or .addColumns).")
    verb = {MODE_CREATE: "CREATE TABLE", MODE_CREATE_IF_NOT_EXISTS: "CREATE TABLE IF NOT EXISTS"}.get(
        create.mode, "CREATE OR REPLACE TABLE")
    text = f"{verb} {checked_name(create.table_name)} ({', '.join(columns)}) USING DELTA"
    if create.partitioning_columns:
        text += f" PARTITIONED BY ({', '.join(sqltext.quote_path(c, '`') for c in create.partitioning_columns)})"
    if create.HasField("location"):
        text += f" LOCATION {sqltext.sql_literal(create.location)}"
    if create.HasField("comment"):
        text += f" COMMENT {sqltext.sql_literal(create.comment)}"
    if create.properties:
        text += " TBLPROPERTIES (" + ", ".join(f"{sqltext.sql_literal(p.key)} = {sqltext.sql_literal(p.value)}"
                                               for p in create.properties) + ")"
    return text
