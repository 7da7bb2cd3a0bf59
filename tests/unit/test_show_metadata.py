"""The metadata SHOW statements as the SQL connector (``use_sea=True``) and Databricks' JDBC and ADBC drivers write
them, read by :mod:`odoolake.workspace.sql.show_metadata`, and the one name-pattern rule they share with the Thrift
metadata calls. Expectations are written out by hand from the statement texts and Databricks' documented pattern
rules (``*`` any run, ``|`` alternatives, blanks trimmed, case-insensitive) plus the JDBC wildcards (``%``, ``_``)."""

from __future__ import annotations

import pytest

from odoolake.workspace.sql.metadata import pattern
from odoolake.workspace.sql.show_metadata import (
    CATALOGS,
    COLUMNS,
    NO_SUCH_CATALOG,
    PARSE_SYNTAX_ERROR,
    SCHEMAS,
    TABLES,
    ShowMetadata,
    ShowMetadataError,
    lists_catalog,
    parse,
)


@pytest.mark.parametrize(("statement", "expected"), [
    # exactly what databricks-sql-connector 4.9 sends (backend/sea/utils/constants.py)
    ("SHOW CATALOGS", ShowMetadata(CATALOGS)),
    ("SHOW SCHEMAS IN main LIKE 'bir%'", ShowMetadata(SCHEMAS, "main", like="bir%")),
    ("SHOW TABLES IN CATALOG main SCHEMA LIKE 'gold' LIKE 'wht_%'",
     ShowMetadata(TABLES, "main", schema="gold", like="wht_%")),
    ("SHOW TABLES IN ALL CATALOGS SCHEMA LIKE 'gold'", ShowMetadata(TABLES, None, schema="gold")),
    ("SHOW COLUMNS IN CATALOG main SCHEMA LIKE 'gold' TABLE LIKE 'wht_2307' LIKE 'payee%'",
     ShowMetadata(COLUMNS, "main", "gold", "wht_2307", "payee%")),
    # what the JDBC/ADBC drivers send: backquoted catalog, Hive wildcards, a quote doubled inside the pattern
    ("SHOW SCHEMAS IN ALL CATALOGS LIKE 'it''s'", ShowMetadata(SCHEMAS, None, like="it's")),
    ("SHOW TABLES IN CATALOG `my``cat` SCHEMA LIKE 'jdbc.test.schema' LIKE '*'",
     ShowMetadata(TABLES, "my`cat", schema="jdbc.test.schema", like="*")),
    # keywords in any case, DATABASES/FROM, LIKE left out, a backslash-quoted quote, \_ kept for the pattern rule
    ("show databases from `main` 'gold|silver'", ShowMetadata(SCHEMAS, "main", like="gold|silver")),
    ("SHOW TABLES IN CATALOG main LIKE 'a\\'b\\_c'", ShowMetadata(TABLES, "main", like="a'b\\_c")),
    # comments and a trailing semicolon
    ("-- list\nSHOW COLUMNS /* all */ IN CATALOG main ;", ShowMetadata(COLUMNS, "main")),
    ("SHOW CATALOGS LIKE \"ma*\";;", ShowMetadata(CATALOGS, like="ma*")),
    # SHOW SCHEMAS in the current catalog, which is main whatever name the session used
    ("SHOW SCHEMAS", ShowMetadata(SCHEMAS, "main")),
    ("SHOW SCHEMAS LIKE 'c*'", ShowMetadata(SCHEMAS, "main", like="c*")),
])
def test_statements_are_read_with_their_catalog_and_patterns(statement, expected):
    assert parse(statement) == expected


@pytest.mark.parametrize("statement", [
    "SELECT 1",
    "SHOW TABLES",  # the current schema: the engine's
    "SHOW TABLES IN conn",  # a schema, not CATALOG
    "SHOW TABLES IN conn LIKE 't*'",
    "SHOW COLUMNS IN conn.typed",
    "SHOW TABLES IN CATALOG",  # a schema named catalog
    "SHOW TABLES IN catalog LIKE 'x'",  # ditto, with a pattern
    "SHOW CREATE TABLE conn.typed",
    "SHOW CATALOGS LIKE 'open",  # an open quote: the engine reports it
])
def test_other_statements_are_left_to_the_engine(statement):
    assert parse(statement) is None


@pytest.mark.parametrize(("statement", "near"), [
    ("SHOW TABLES IN CATALOG main SCHEMA 'gold'", "at or near 'gold' (position 35)"),
    ("SHOW TABLES IN CATALOG main LIKE gold", "at or near 'gold' (position 33)"),
    ("SHOW COLUMNS IN CATALOG main TABLE LIKE", "at the end of the statement"),
    ("SHOW TABLES IN CATALOG main LIKE 'a' 'b'", "at or near 'b' (position 37)"),
    ("SHOW CATALOGS LIKE", "at the end of the statement"),
    ("SHOW SCHEMAS IN", "at the end of the statement"),
    ("SHOW TABLES IN CATALOG 'main'", "at or near 'main' (position 23)"),
    ("SHOW COLUMNS IN CATALOG main LIKE 'a' TABLE LIKE 't'", "at or near 'TABLE' (position 38)"),
])
def test_a_malformed_statement_is_a_syntax_error_naming_the_token_and_the_form(statement, near):
    with pytest.raises(ShowMetadataError) as caught:
        parse(statement)
    error = caught.value
    assert (error.getCondition(), error.getSqlState()) == PARSE_SYNTAX_ERROR
    assert str(error).startswith("[PARSE_SYNTAX_ERROR] Syntax error " + near)
    assert "The form is SHOW " in str(error)


def test_two_statements_are_refused():
    with pytest.raises(ShowMetadataError, match=r"^\[PARSE_SYNTAX_ERROR\] Only one SQL statement"):
        parse("SHOW CATALOGS; DROP TABLE gold.t")


def test_the_unknown_catalog_error_is_databricks_own():
    assert NO_SUCH_CATALOG == ("NO_SUCH_CATALOG_EXCEPTION", "42704")


@pytest.mark.parametrize(("value", "matching", "not_matching"), [
    ("wht%", ["wht", "wht_2307", "WHT_2316"], ["vat_wht", "wh"]),
    ("wht*", ["wht_2307", "Wht"], ["xwht"]),
    ("wht_2307", ["wht_2307", "whtx2307"], ["wht__2307", "wht_23070"]),  # _ is one character
    ("jdbc.test.schema", ["jdbc_test_schema"], ["jdbc_test_schemas"]),  # . is one character (the JDBC driver's _)
    ("wht\\_2307", ["wht_2307"], ["whtx2307"]),  # an escaped _ is itself
    ("50\\%", ["50%"], ["500"]),
    ("gold | silver*", ["gold", "silver", "SILVER_x"], ["bronze", "gold_x", " gold"]),  # alternatives, trimmed
    ("c+", ["c+"], ["cc"]),  # anything else is literal
])
def test_one_pattern_rule_reads_jdbc_and_show_wildcards(value, matching, not_matching):
    regex = pattern(value)
    assert regex is not None
    assert [n for n in matching if regex.match(n)] == matching
    assert [n for n in not_matching if regex.match(n)] == []


@pytest.mark.parametrize("value", [None, "", "%", "*", " * "])
def test_an_empty_or_match_all_pattern_filters_nothing(value):
    assert pattern(value) is None


def test_comments_before_a_statement_are_read_in_one_pass():
    """Each gap taken whole once matched: "/* */ " repeated before a statement made the match backtrack
    exponentially (26 times took 23 s, any principal could hold a server thread for hours). The alarm turns such
    a hang into a failure; the match itself takes microseconds."""
    import signal

    def hung(*_: object) -> None:
        raise TimeoutError("the SHOW pattern backtracked")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:
        assert parse("/* */ " * 200 + "SELECT 1") is None
        assert not lists_catalog("-- x\n" * 200 + "/* */ " * 200 + "SELECT 1")
        assert lists_catalog("/* a */ " * 200 + "SHOW /* b */ TABLES")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
