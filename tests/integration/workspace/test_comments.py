"""Table and column comments, as dbt's ``persist_docs`` and a Databricks user set them, kept where the catalog and
Spark read them: the table's catalog entry (and its Delta description), each column's ``comment`` in its Delta field
metadata. Sail keeps neither a column comment in CREATE TABLE nor any COMMENT statement, and refuses COMMENT in a
CTAS, which dbt-databricks writes for every model with ``persist_docs: {relation: true}``."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sql.exc import Error as SqlError

from .test_sql_connector import connect


def _run(server, *statements: str) -> list[list[tuple]]:
    with connect(server) as conn, conn.cursor() as cur:
        answers = []
        for statement in statements:
            cur.execute(statement)
            answers.append([tuple(row) for row in cur.fetchall()] if cur.description else [])
        return answers


def _comments(server, table: str) -> tuple[str | None, dict[str, str | None]]:
    info = WorkspaceClient(host=server.url, token=server.token).tables.get(table)
    return info.comment, {column.name: column.comment for column in info.columns}


def test_comments_in_create_table_and_ctas_are_kept(server):
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.payees",
         "DROP TABLE IF EXISTS docs.totals", "DROP TABLE IF EXISTS docs.model",
         "CREATE TABLE docs.payees (tin STRING COMMENT 'the payee\\'s TIN', `Amount` DECIMAL(18,2) NOT NULL "
         "COMMENT 'gross', atc STRING) USING DELTA COMMENT 'payees'",
         "CREATE TABLE docs.totals COMMENT 'by agency' AS SELECT 'RIM' AS agency, 1 AS n",
         # dbt-databricks' table materialization with persist_docs
         "create or replace table `main`.`docs`.`model`\n  using delta\n  comment 'The model.'\n  as\nselect 1 id")
    assert _comments(server, "main.docs.payees") == ("payees", {"tin": "the payee's TIN", "Amount": "gross",
                                                                 "atc": None})
    assert _comments(server, "main.docs.totals") == ("by agency", {"agency": None, "n": None})
    assert _comments(server, "main.docs.model") == ("The model.", {"id": None})
    [described] = _run(server, "DESCRIBE TABLE docs.payees")
    assert [(row[0], row[2]) for row in described] == [("tin", "the payee's TIN"), ("Amount", "gross"), ("atc", None)]
    [rows] = _run(server, "SELECT * FROM docs.totals")
    assert rows == [("RIM", 1)]  # the CTAS without its comment clause still made the table


def test_comment_statements_set_and_remove_comments(server):
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.lines",
         "CREATE TABLE docs.lines (id INT, wht DECIMAL(18,2)) USING DELTA",
         "INSERT INTO docs.lines VALUES (1, 2.50)",
         "COMMENT ON TABLE docs.lines IS 'withholding lines'",
         "COMMENT ON COLUMN main.docs.lines.id IS 'the line'",
         # dbt-databricks' persist_docs for columns, as its older releases write it
         "alter table `main`.`docs`.`lines` change column\n    wht\n    comment 'withheld, in PHP';")
    assert _comments(server, "main.docs.lines") == ("withholding lines", {"id": "the line", "wht": "withheld, in PHP"})
    [rows] = _run(server, "SELECT table_name, column_name, comment FROM main.information_schema.columns "
                          "WHERE table_schema = 'docs' AND table_name = 'lines' ORDER BY ordinal_position")
    assert rows == [("lines", "id", "the line"), ("lines", "wht", "withheld, in PHP")]
    _run(server, "COMMENT ON TABLE docs.lines IS NULL", "ALTER TABLE docs.lines ALTER COLUMN ID COMMENT 'renamed'")
    assert _comments(server, "main.docs.lines") == (None, {"id": "renamed", "wht": "withheld, in PHP"})
    [rows] = _run(server, "SELECT * FROM docs.lines")
    assert [tuple(map(str, row)) for row in rows] == [("1", "2.50")]  # the data is untouched


def test_a_comment_on_a_column_the_table_lacks_names_it_and_changes_nothing(server):
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.few",
         "CREATE TABLE docs.few (id INT COMMENT 'kept') USING DELTA")
    with pytest.raises(SqlError, match=r"UNRESOLVED_COLUMN.*`nope`.*its columns are id"):
        _run(server, "COMMENT ON COLUMN docs.few.nope IS 'x'")
    with pytest.raises(SqlError, match="TABLE_OR_VIEW_NOT_FOUND"):
        _run(server, "COMMENT ON TABLE docs.no_such_table IS 'x'")
    assert _comments(server, "main.docs.few") == (None, {"id": "kept"})


def test_comments_next_to_nested_types_go_to_their_own_columns(server):
    """A comma or COMMENT inside STRUCT<…>, MAP<…> or ARRAY<…> is the type's, not the column list's."""
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.nested",
         "CREATE TABLE docs.nested (id BIGINT COMMENT 'the id', tags ARRAY<STRUCT<k: STRING, id: STRING>> COMMENT "
         "'tags', m MAP<STRING, INT> COMMENT 'the map', s STRUCT<a: INT COMMENT 'inner'>, n INT)")
    _, columns = _comments(server, "main.docs.nested")
    assert columns == {"id": "the id", "tags": "tags", "m": "the map", "s": None, "n": None}


def test_an_existing_table_keeps_its_comments_and_a_replaced_one_takes_its_new_definitions(server):
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.kept",
         "CREATE TABLE docs.kept (id INT COMMENT 'original') USING DELTA COMMENT 'original table'",
         "CREATE TABLE IF NOT EXISTS docs.kept (id INT COMMENT 'clobber') COMMENT 'clobber'",
         "CREATE TABLE IF NOT EXISTS docs.kept COMMENT 'clobber' AS SELECT 2 AS id")
    assert _comments(server, "main.docs.kept") == ("original table", {"id": "original"})
    # dbt re-running a model whose description went: the comment goes too, as on Databricks
    _run(server, "CREATE OR REPLACE TABLE docs.kept (id COMMENT 'new id') AS SELECT 3 AS id")
    assert _comments(server, "main.docs.kept") == (None, {"id": "new id"})
    [rows] = _run(server, "SELECT id FROM docs.kept")
    assert rows == [(3,)]


def test_comment_text_is_read_as_spark_reads_string_literals_with_comments_around_the_statement(server):
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.texts",
         "CREATE TABLE docs.texts (id INT, note STRING) USING DELTA",
         "COMMENT ON TABLE docs.texts IS 'line one\\nline two\\u0021' -- a trailing note",
         # dbt's query comment, appended (query-comment: {append: true})
         "alter table `main`.`docs`.`texts` change column id comment 'tab\\there'\n/* {\"app\": \"dbt\"} */",
         "COMMENT ON COLUMN docs.texts.note IS 'a note'", "COMMENT ON COLUMN docs.texts.note IS NULL")
    assert _comments(server, "main.docs.texts") == ("line one\nline two!", {"id": "tab\there", "note": None})


def test_a_table_of_another_format_is_created_with_its_comments(server):
    """Not a Delta table: the engine keeps its column comments itself; the statement succeeds (it failed reading a
    Delta log that is not there)."""
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.pq", "DROP TABLE IF EXISTS docs.pq2",
         "CREATE TABLE docs.pq (id INT COMMENT 'x') USING PARQUET COMMENT 'parquet table'",
         "CREATE TABLE docs.pq2 USING PARQUET COMMENT 'from a query' AS SELECT 1 AS id",
         "COMMENT ON TABLE docs.pq IS 'renamed'")
    assert _comments(server, "main.docs.pq")[0] == "renamed"
    assert _comments(server, "main.docs.pq2")[0] == "from a query"


def test_a_read_only_principal_cannot_set_comments(server):
    server.workspace.roles.set_role("commenter@example.ph", "read_only")
    token = server.workspace.tokens.create("commenter@example.ph", "read-only comments")[0]
    _run(server, "CREATE SCHEMA IF NOT EXISTS docs", "DROP TABLE IF EXISTS docs.guarded",
         "CREATE TABLE docs.guarded (id INT COMMENT 'kept') USING DELTA COMMENT 'kept'")
    for statement in ("COMMENT ON TABLE docs.guarded IS 'x'", "COMMENT ON COLUMN docs.guarded.id IS 'x'",
                      "/* dbt */ ALTER TABLE docs.guarded ALTER COLUMN id COMMENT 'x'"):
        with connect(server, token=token) as conn, conn.cursor() as cur, pytest.raises(SqlError, match="READ_ONLY"):
            cur.execute(statement)
    assert _comments(server, "main.docs.guarded") == ("kept", {"id": "kept"})
