"""The read-only SQL check (sql/readonly.py) is an allow-list: a statement must start with a read keyword. A
block-list of write keywords would let through statements nobody listed (ADD JAR, EXECUTE IMMEDIATE, LIST …)."""

from __future__ import annotations

import pytest

from odoolake.workspace.sql.readonly import NotReadOnly, check_read_only


@pytest.mark.parametrize("sql", [
    "SELECT 1", "  select * from gold.bir_transactions;", "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
    "SHOW TABLES IN gold", "DESCRIBE gold.ewt_by_atc", "EXPLAIN SELECT 1", "VALUES (1), (2)",
    "SELECT 'INSERT INTO x' AS text", "SELECT `drop` FROM t", "SELECT 1 -- DELETE FROM t",
])
def test_reads_pass(sql):
    assert check_read_only(sql) == sql.strip().rstrip(";").strip()


@pytest.mark.parametrize(("sql", "why"), [
    ("ADD JAR /tmp/evil.jar", "not ADD"),  # no write keyword, and still not a read
    ("EXECUTE IMMEDIATE 'DROP TABLE gold.x'", "not EXECUTE"),  # the DROP hides in a string literal
    ("LIST FILE", "not LIST"),
    ("DECLARE v INT", "not DECLARE"),
    ("DROP TABLE gold.x", "not DROP"),
    ("SELECT 1; DROP TABLE gold.x", "one statement"),
    ("WITH t AS (SELECT 1) INSERT INTO gold.x SELECT * FROM t", "contains INSERT"),
    ("'just a string'", "empty SQL"),
    ("123", "no SQL keyword"),
    ("   ", "empty"),
])
def test_everything_else_is_refused_with_the_reason(sql, why):
    with pytest.raises(NotReadOnly, match=why):
        check_read_only(sql)
