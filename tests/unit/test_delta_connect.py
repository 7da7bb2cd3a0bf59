"""DeltaTable calls as Databricks Connect sends them (Delta Connect's protobuf extensions) read into the SQL statement
Databricks documents for each method: the expected texts are written by hand from Delta's API reference (delete →
DELETE FROM, merge builder clauses → MERGE's WHEN clauses in the builder's order), not produced by the module."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2

from odoolake.workspace.engine import delta_connect
from odoolake.workspace.engine.delta_connect import DeltaCommand, DeltaRelation, Unsupported
from odoolake.workspace.engine.protos import relations_pb2

Relation = relations_pb2.Relation
Expression = type(Relation().filter.condition)


def _scan(name: str | None = None, path: str | None = None, alias: str | None = None) -> Relation:
    table = {"table_or_view_name": name} if name is not None else {"path": {"path": path}}
    packed = any_pb2.Any(type_url=delta_connect.RELATION_TYPE_URL,
                         value=DeltaRelation(scan={"table": table}).SerializeToString())
    scan = Relation(extension=packed)
    return Relation(subquery_alias={"input": scan, "alias": alias}) if alias else scan


def _sql(text: str) -> Expression:
    return Expression(expression_string={"expression": text})


def _col(name: str) -> Expression:
    return Expression(unresolved_attribute={"unparsed_identifier": name})


def _call(name: str, *arguments: Expression) -> Expression:
    return Expression(unresolved_function={"function_name": name, "arguments": list(arguments)})


def _lit(**value: object) -> Expression:
    return Expression(literal=value)


def test_a_relation_is_read_back_from_the_extension_it_travels_in():
    packed = _scan("gold.t").extension
    assert delta_connect.relation_of(packed).WhichOneof("relation_type") == "scan"
    assert delta_connect.relation_of(any_pb2.Any(type_url="type.googleapis.com/other.Thing")) is None
    assert delta_connect.table_sql(delta_connect.relation_of(packed).scan.table) == "gold.t"
    by_path = delta_connect.relation_of(_scan(path="/lake/a`b").extension)
    assert delta_connect.table_sql(by_path.scan.table) == "delta.`/lake/a``b`"


def test_delete_and_update_are_the_statements_their_methods_document():
    delete = DeltaRelation(delete_from_table={"target": _scan("dw.t"), "condition": _sql("id = 2")})
    # a SQL string on its own line, so a trailing -- comment in it cannot swallow the parenthesis
    assert delta_connect.delete_sql(delete.delete_from_table) == "DELETE FROM dw.t WHERE (id = 2\n)"
    everything = DeltaRelation(delete_from_table={"target": _scan("dw.t", alias="t")})
    assert delta_connect.delete_sql(everything.delete_from_table) == "DELETE FROM dw.t AS `t`"
    update = DeltaRelation(update_table={
        "target": _scan("dw.t"), "condition": _call("==", _col("id"), _lit(integer=1)),
        "assignments": [{"field": _col("v"), "value": _call("upper", _lit(string="it's"))},
                        {"field": _col("n"), "value": _call("+", _col("n"), _lit(long=1))}]})
    assert delta_connect.update_sql(update.update_table) == \
        "UPDATE dw.t SET `v` = upper('it\\'s'), `n` = (`n` + 1L) WHERE (`id` = 1)"


def test_a_merge_keeps_the_builders_clauses_in_order():
    merge = DeltaRelation(merge_into_table={
        "target": _scan("dw.t", alias="t"), "source": Relation(), "condition": _sql("t.id = s.id"),
        "matched_actions": [{"condition": _sql("s.deleted"), "delete_action": {}},
                            {"update_action": {"assignments": [{"field": _col("v"), "value": _col("s.v")}]}}],
        "not_matched_actions": [{"insert_star_action": {}}],
        "not_matched_by_source_actions": [{"condition": _call("<", _col("t.id"), _lit(integer=0)),
                                           "update_star_action": {}}]}).merge_into_table
    assert delta_connect.merge_sql(merge, "src_view", "s") == (
        "MERGE INTO dw.t AS `t` USING `src_view` AS `s` ON (t.id = s.id\n) "
        "WHEN MATCHED AND (s.deleted\n) THEN DELETE WHEN MATCHED THEN UPDATE SET `v` = `s`.`v` "
        "WHEN NOT MATCHED THEN INSERT * WHEN NOT MATCHED BY SOURCE AND (`t`.`id` < 0) THEN UPDATE SET *")
    inserted = DeltaRelation(merge_into_table={
        "target": _scan("dw.t"), "condition": _sql("dw.t.id = s.id"),
        "not_matched_actions": [{"insert_action": {"assignments": [{"field": _col("id"), "value": _col("s.id")},
                                                                   {"field": _col("v"), "value": _lit(null={})}]}}],
    }).merge_into_table
    assert delta_connect.merge_sql(inserted, "v1", None).endswith(
        "USING `v1` ON (dw.t.id = s.id\n) WHEN NOT MATCHED THEN INSERT (`id`, `v`) VALUES (`s`.`id`, NULL)")


@pytest.mark.parametrize(("literal", "sql"), [
    ({"boolean": True}, "TRUE"), ({"short": 3}, "3S"), ({"byte": -1}, "-1Y"), ({"double": 1.5}, "CAST('1.5' AS DOUBLE)"),
    ({"double": float("inf")}, "CAST('Infinity' AS DOUBLE)"), ({"float": float("nan")}, "CAST('NaN' AS FLOAT)"),
    # the value's own precision and scale: PySpark sends DECIMAL(10,0) beside 12.50 (a cast to it wrote 13)
    ({"decimal": {"value": "12.50", "precision": 10, "scale": 0}}, "12.50BD"),
    ({"decimal": {"value": "-3.5"}}, "-3.5BD"),
    ({"date": 19723}, "DATE '2024-01-01'"), ({"timestamp": 1_700_000_000_000_000}, "timestamp_micros(1700000000000000)"),
    ({"binary": b"\x01\xab"}, "X'01ab'"),
])
def test_literals_are_written_as_spark_reads_them_back(literal, sql):
    assert delta_connect.expression_sql(_lit(**literal)) == sql


def test_operators_and_functions_are_written_as_sql():
    condition = _call("and", _call("isNotNull", _col("v")),
                      _call("not", _call("in", _col("id"), _lit(integer=1), _lit(integer=2))))
    assert delta_connect.expression_sql(condition) == "((`v` IS NOT NULL) AND (NOT (`id` IN (1, 2))))"
    assert delta_connect.expression_sql(_call("count", _col("id"))) == "count(`id`)"
    # a Column's name as Spark splits it: dots apart, back-quoted parts whole, any other character kept
    for name, sql in (("my col", "`my col`"), ("t.id", "`t`.`id`"), ("`a.b`.c", "`a.b`.`c`"), ("x`y", None)):
        if sql is None:
            with pytest.raises(Unsupported, match="is not a column name"):
                delta_connect.expression_sql(_col(name))
        else:
            assert delta_connect.expression_sql(_col(name)) == sql
    cast = Expression(cast={"expr": _col("n"), "type_str": "decimal(18,2)"})
    assert delta_connect.expression_sql(cast) == "CAST(`n` AS decimal(18,2))"


@pytest.mark.parametrize(("expression", "says"), [
    (Expression(unresolved_attribute={"unparsed_identifier": "id", "plan_id": 7}), "taken from a DataFrame"),
    (Expression(unresolved_star={}), "unresolved_star expression has no SQL form"),
    (_call("~>", _col("a"), _col("b")), "operator '~>' has no SQL form"),
])
def test_what_has_no_sql_form_is_refused_saying_what_to_write_instead(expression, says):
    with pytest.raises(Unsupported, match=says):
        delta_connect.expression_sql(expression)


def test_a_change_must_target_a_delta_table_and_a_merge_needs_a_clause():
    derived = Relation(filter={"input": _scan("dw.t"), "condition": _sql("id > 1")})
    with pytest.raises(Unsupported, match="must be a DeltaTable"):
        delta_connect.delete_sql(DeltaRelation(delete_from_table={"target": derived}).delete_from_table)
    bare = DeltaRelation(merge_into_table={"target": _scan("dw.t"), "condition": _sql("true")}).merge_into_table
    with pytest.raises(Unsupported, match="at least one whenMatched"):
        delta_connect.merge_sql(bare, "v", None)
    evolving = DeltaRelation(merge_into_table={"target": _scan("dw.t"), "condition": _sql("true"),
                                                "with_schema_evolution": True}).merge_into_table
    with pytest.raises(Unsupported, match="schema evolution"):
        delta_connect.merge_sql(evolving, "v", None)


def test_restore_optimize_vacuum_and_the_table_builder():
    table = {"table_or_view_name": "dw.t"}
    assert delta_connect.restore_sql(DeltaRelation(restore_table={"table": table, "version": 3}).restore_table) == \
        "RESTORE TABLE dw.t TO VERSION AS OF 3"
    assert delta_connect.restore_sql(DeltaRelation(restore_table={"table": table, "timestamp": "2026-12-01"})
                                     .restore_table) == "RESTORE TABLE dw.t TO TIMESTAMP AS OF '2026-12-01'"
    assert delta_connect.optimize_sql(DeltaRelation(optimize_table={"table": table, "zorder_columns": ["a", "b"]})
                                      .optimize_table) == "OPTIMIZE dw.t ZORDER BY (`a`, `b`)"
    assert delta_connect.vacuum_sql(DeltaCommand(vacuum_table={"table": table}).vacuum_table) == "VACUUM dw.t"
    assert delta_connect.vacuum_sql(DeltaCommand(vacuum_table={"table": table, "retention_hours": 200.0})
                                    .vacuum_table) == "VACUUM dw.t RETAIN 200.0 HOURS"
    for hours, text in ((1_000_000.0, "1000000.0"), (1e-7, "0.0000001")):  # not 1e+06: the statement reads digits
        assert delta_connect.vacuum_sql(DeltaCommand(vacuum_table={"table": table, "retention_hours": hours})
                                        .vacuum_table) == f"VACUUM dw.t RETAIN {text} HOURS"
    create = DeltaCommand(create_delta_table={
        "mode": delta_connect.MODE_CREATE_IF_NOT_EXISTS, "table_name": "dw.made", "comment": "made",
        "columns": [{"name": "id", "data_type": {"integer": {}}, "nullable": False},
                    {"name": "amt", "data_type": {"unparsed": {"data_type_string": "DECIMAL(18,2)"}}, "nullable": True,
                     "comment": "amount"}],
        "partitioning_columns": ["id"], "properties": [{"key": "delta.appendOnly", "value": "true"}]})
    assert delta_connect.create_sql(create.create_delta_table) == (
        "CREATE TABLE IF NOT EXISTS dw.made (`id` int NOT NULL, `amt` DECIMAL(18,2) COMMENT 'amount') USING DELTA "
        "PARTITIONED BY (`id`) COMMENT 'made' TBLPROPERTIES ('delta.appendOnly' = 'true')")
    with pytest.raises(Unsupported, match="needs a name"):
        delta_connect.create_sql(DeltaCommand(create_delta_table={"mode": 1}).create_delta_table)


@pytest.mark.parametrize("name", ["t; DROP TABLE x", "b9 (x INT) USING DELTA --", "t LIMIT 1", "a.", ""])
def test_a_table_name_that_is_more_than_a_name_is_refused(name):
    with pytest.raises(Unsupported, match="is not a table name"):
        delta_connect.table_sql(DeltaRelation(scan={"table": {"table_or_view_name": name}}).scan.table)
    for fine in ("gold.t", "main.`my-schema`.t", "delta.`/lake/a`"):
        assert delta_connect.table_sql(DeltaRelation(scan={"table": {"table_or_view_name": fine}}).scan.table) == fine


@pytest.mark.parametrize("text", ["INT, b STRING", "STRING) --", "INT; DROP TABLE t", "ARRAY<INT", "DECIMAL(18,2))"])
def test_a_type_given_as_text_must_be_one_type(text):
    create = DeltaCommand(create_delta_table={"mode": 1, "table_name": "dw.t", "columns": [
        {"name": "a", "data_type": {"unparsed": {"data_type_string": text}}, "nullable": True}]})
    with pytest.raises(Unsupported, match="is not one data type"):
        delta_connect.create_sql(create.create_delta_table)
