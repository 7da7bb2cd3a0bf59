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
