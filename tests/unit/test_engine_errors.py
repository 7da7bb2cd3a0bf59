"""Sail's error texts (as measured on pysail 0.7.2) become Spark error classes with Spark's SQLSTATEs."""

from __future__ import annotations

import json

import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from odoolake.errors import EngineError
from odoolake.workspace.engine.errors import SESSION_CLOSED, classify, translate
from odoolake.workspace.engine.session import SESSION_IDLE_ENV, SESSION_IDLE_SECONDS, idle_limit_words, session_idle_seconds


@pytest.mark.parametrize(("sail", "error_class", "sql_state", "names"), [
    ("Table not found: [TABLE_OR_VIEW_NOT_FOUND] Table or view not found: nope", "TABLE_OR_VIEW_NOT_FOUND", "42P01",
     "`nope`"),
    ('attribute ObjectName([Identifier("t"), Identifier("nope")]) is missing from the schema: cannot resolve '
     "attribute", "UNRESOLVED_COLUMN.WITHOUT_SUGGESTION", "42703", "`t`.`nope`"),
    ("invalid argument: found SELEC at 0:5 expected something else, ';', statement, or end of input",
     "PARSE_SYNTAX_ERROR", "42601", "'SELEC' (position 0)"),
    ("invalid argument: found end of input expected expression", "PARSE_SYNTAX_ERROR", "42601", "end of input"),
    ("Schema not found: main.marts", "SCHEMA_NOT_FOUND", "42704", "`main`.`marts`"),
    ("not supported: Open source Unity Catalog does not support creating views", "UNSUPPORTED_FEATURE", "0A000",
     "CREATE TEMP VIEW"),
    ("divide by zero", "DIVIDE_BY_ZERO", "22012", "try_divide"),
    ("Missing commit file: expected final version 99, replay reached 6", "DELTA_VERSION_NOT_FOUND", "22003",
     "version 99: its latest version is 6"),
    ('ambiguous attribute: ObjectName([Identifier("period")])', "AMBIGUOUS_REFERENCE", "42704", "`period`"),
    ('No field named g."#1". Did you mean \'g."#0"\'?', "MISSING_AGGREGATION", "42803", "any_value"),
    ('No field named main.gold.qap."#0".\nValid fields are "count(Int64(1))".', "MISSING_AGGREGATION", "42803",
     "any_value"),
    ("invalid argument: input schema for INSERT has 3 fields, but table schema has 2 fields",
     "INSERT_COLUMN_ARITY_MISMATCH.TOO_MANY_DATA_COLUMNS", "21S01", "the table has 2 columns, the data 3"),
    ("invalid argument: input schema for INSERT has 1 fields, but table schema has 2 fields",
     "INSERT_COLUMN_ARITY_MISMATCH.NOT_ENOUGH_DATA_COLUMNS", "21S01", "the table has 2 columns, the data 1"),
    ("unknown function: no_such_fn", "UNRESOLVED_ROUTINE", "42883", "`no_such_fn`"),
    ("unknown table function: event_log", "UNRESOLVED_ROUTINE", "42883", "SELECT * FROM <target>.event_log"),
    ("Cannot cast string 'abc' to value of Int32 type", "CAST_INVALID_INPUT", "22018", '"INT"'),
    ("Can't cast value 300 to type Int8", "CAST_OVERFLOW", "22003", 'The value 300 cannot be cast to "TINYINT"'),
    ("element_at: the index is out of bounds", "INVALID_ARRAY_INDEX_IN_ELEMENT_AT", "22003", "try_element_at"),
    ("element_at: the index 0 is invalid. An index shall be either < 0 or > 0 (the first element has index 1)",
     "INVALID_INDEX_OF_ZERO", "22003", "The index 0 is invalid."),
    ("value of 300 is out of range Int8", "CAST_OVERFLOW", "22003", 'The value 300 cannot be cast to "TINYINT"'),
    ("invalid input for Spark `make_timestamp_ntz`: year=2026, month=13, day=1, hour=0, minute=0, second=0",
     "DATETIME_FIELD_OUT_OF_BOUNDS", "22023", "Invalid timestamp from year=2026, month=13, day=1"),
    ("'Int32(1) > Int32(2)' is not true!", "USER_RAISED_EXCEPTION", "P0001", "'Int32(1) > Int32(2)' is not true!"),
    ("Month value '13' is out of range", "DATETIME_FIELD_OUT_OF_BOUNDS", "22023",
     "Invalid value for MonthOfYear (valid values 1 - 12): 13."),
    ("Day value '0' is out of range", "DATETIME_FIELD_OUT_OF_BOUNDS", "22023", "DayOfMonth (valid values 1 - 28/31): 0."),
    ("Unable to parse date from 2026, 2, 30", "DATETIME_FIELD_OUT_OF_BOUNDS", "22023", "year, month, day 2026, 2, 30"),
    ("12345.6 is too large to store in a Decimal128 of precision 3. Max is 99.9",
     "NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION", "22003", "12345.6 cannot be represented as Decimal(3, 1)"),
])
def test_sail_messages_get_their_spark_class(sail, error_class, sql_state, names):
    found = classify(sail)
    assert found is not None and (found.error_class, found.sql_state) == (error_class, sql_state)
    assert names in found.message


def test_unknown_text_is_left_alone():
    assert classify("the disk is full") is None
    assert classify("boom") is None  # raise_error's own text: nothing in it says what it is
    assert classify("the check 'x' is not true! (see the log)") is None  # only assert_true's whole message
    assert translate("the disk is full", None, 13) is None


def _status(metadata: dict) -> bytes:
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason="org.apache.spark.sql.AnalysisException", metadata=metadata))
    return status_pb2.Status(code=13, message="x", details=[packed]).SerializeToString()


def test_translation_keeps_the_exception_class_and_sets_class_and_state():
    message, raw = translate("divide by zero", _status({"classes": '["java.lang.ArithmeticException"]',
                                                        "errorId": "e1"}), 13)
    assert message.startswith("[DIVIDE_BY_ZERO] ") and message.endswith("SQLSTATE: 22012")
    status = status_pb2.Status.FromString(raw)
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.metadata["errorClass"] == "DIVIDE_BY_ZERO" and info.metadata["sqlState"] == "22012"
    assert json.loads(info.metadata["classes"]) == ["java.lang.ArithmeticException"]
    assert "errorId" not in info.metadata  # the client would otherwise fetch Sail's untranslated details


@pytest.mark.parametrize(("sail", "sail_exception", "raised"), [
    ("Can't cast value 300 to type Int8", "java.lang.NumberFormatException", "ArithmeticException"),
    ("12345.6 is too large to store in a Decimal128 of precision 3. Max is 99.9", "java.lang.IllegalArgumentException",
     "ArithmeticException"),
    ("Month value '13' is out of range", "org.apache.spark.sql.AnalysisException", "DateTimeException"),
    ("element_at: the index is out of bounds", "org.apache.spark.sql.AnalysisException",
     "ArrayIndexOutOfBoundsException"),
    ("'Int32(1) > Int32(2)' is not true!", "org.apache.spark.sql.AnalysisException", "SparkRuntimeException"),
])
def test_a_runtime_error_is_raised_in_pyspark_as_spark_raises_it(sail, sail_exception, raised):
    """PySpark picks its exception by the classes an error carries: ``except ArithmeticException`` must catch a
    cast overflow as it does on Spark (Sail said NumberFormatException, IllegalArgumentException, AnalysisException)."""
    from pyspark.errors.exceptions.connect import convert_exception

    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.ErrorInfo(reason=sail_exception, metadata={"classes": json.dumps([sail_exception])}))
    message, raw = translate(sail, status_pb2.Status(code=13, message=sail, details=[packed]).SerializeToString(), 13)
    info = error_details_pb2.ErrorInfo()
    status_pb2.Status.FromString(raw).details[0].Unpack(info)
    exception = convert_exception(info, message, None)
    assert type(exception).__name__ == raised and exception.getCondition() == info.metadata["errorClass"]


def test_an_error_that_has_a_class_already_is_relayed_unchanged():
    assert translate("Table or view not found: x", _status({"errorClass": "READ_ONLY_PRINCIPAL"}), 7) is None


def test_sails_closed_session_message_is_translated_and_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(SESSION_IDLE_ENV, raising=False)
    assert session_idle_seconds() == SESSION_IDLE_SECONDS == 4 * 3600
    found = classify("invalid argument: session c6dbae92-35fe-4015-96f0-81e66af6a035 is not running")
    assert found is not None and found.error_class == SESSION_CLOSED and found.sql_state == "HY000"
    assert found.message.startswith("Session c6dbae92-35fe-4015-96f0-81e66af6a035 was closed: it went unused for "
                                    "longer than 4 h")
    assert [idle_limit_words(n) for n in (7200, 5400, 90)] == ["2 h", "90 min", "90 s"]
    for bad in ("0", "-5", "soon", "1.5"):
        monkeypatch.setenv(SESSION_IDLE_ENV, bad)
        with pytest.raises(EngineError, match=f"{SESSION_IDLE_ENV} must be a positive number of seconds, got '"):
            session_idle_seconds()


def test_a_python_workers_own_error_is_passed_on_as_it_is():
    """A UDF's ZeroDivisionError read like the engine's division by zero: its traceback was replaced by
    DIVIDE_BY_ZERO (found by a Databricks Connect audit)."""
    udf = ("An exception was thrown from the Python worker.\nTraceback (most recent call last):\n  File \"x.py\", "
           "line 7, in inv\n    return 1 / x\nZeroDivisionError: division by zero")
    assert classify(udf) is None
    assert classify("Arrow error: Divide by zero error") is not None  # the engine's own stays translated


def test_a_missing_table_is_named_as_the_request_wrote_it():
    """The engine names a missing table by its last part only (`t`), hiding a mistyped schema; Spark names it as
    written. The request's own texts are searched for the qualified name (a bare one stays bare)."""
    from odoolake.workspace.engine.errors import written_names
    from odoolake.workspace.engine.protos import base_pb2, commands_pb2, relations_pb2

    sail = "Table not found: [TABLE_OR_VIEW_NOT_FOUND] Table or view not found: t"

    def named(*written: str) -> str:
        translated = translate(sail, None, 5, written)
        assert translated is not None
        return translated[0]

    assert "The table or view `nosuchschema`.`t` cannot be found" in named("SELECT * FROM nosuchschema.t")
    assert "`MAIN`.`gold`.`t` cannot" in named("SELECT 1", "select x from MAIN . `gold`.T join u")
    assert "`my schema`.`t` cannot" in named("SELECT * FROM `my schema`.`t` WHERE t2 > 0")
    assert "The table or view `t` cannot" in named("SELECT * FROM t", "SELECT * FROM s.tt")  # no qualified t
    plan = base_pb2.Plan(command=commands_pb2.Command(sql_command=commands_pb2.SqlCommand(
        input=relations_pb2.Relation(sql=relations_pb2.SQL(query="SELECT * FROM nosuchschema.t")))))
    request = base_pb2.ExecutePlanRequest(session_id="s", plan=plan)
    assert list(written_names(request)) == ["SELECT * FROM nosuchschema.t"]
    read = base_pb2.AnalyzePlanRequest(schema=base_pb2.AnalyzePlanRequest.Schema(plan=base_pb2.Plan(
        root=relations_pb2.Relation(read=relations_pb2.Read(
            named_table=relations_pb2.Read.NamedTable(unparsed_identifier="gold.t", options={"k": "v"}))))))
    assert list(written_names(read)) == ["gold.t"]


def test_an_unresolved_column_proposes_the_nearest_columns_as_spark_does():
    """Spark's proposal (SPARK-43867, its pull request's own examples): candidates sharing one qualifier are shown
    without it for a one-part name and with the table for a two-part one; a namespace all share is dropped; nearest
    first by edit distance (worked by hand: agncy→agency 1, →month 4, →wht 5), ties in the input's order, five at
    most. The engine's text is translated to WITH_SUGGESTION only when the candidates are known."""
    from odoolake.workspace.engine.errors import MAX_SUGGESTIONS, levenshtein, suggested_columns

    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3 and levenshtein("same", "same") == 0
    one_table = [("ns1", "table1", "col1"), ("ns1", "table1", "col2")]
    assert suggested_columns("`col0`", one_table) == ["`col1`", "`col2`"]
    assert suggested_columns("`table1`.`col0`", one_table) == ["`table1`.`col1`", "`table1`.`col2`"]
    two_tables = [("ns1", "table1", "col1"), ("ns1", "table2", "col2")]
    assert suggested_columns("`col0`", two_tables) == ["`table1`.`col1`", "`table2`.`col2`"]
    assert suggested_columns("`table0`.`col0`", two_tables) == ["`table1`.`col1`", "`table2`.`col2`"]
    assert suggested_columns("`ns0`.`table0`.`col0`", one_table) == ["`ns1`.`table1`.`col1`", "`ns1`.`table1`.`col2`"]
    table = [("main", "s", "t", c) for c in ("wht", "month", "agency")]
    assert suggested_columns("`agncy`", table) == ["`agency`", "`month`", "`wht`"]
    many = [("main", "s", "t", f"c{i}") for i in range(7)]
    assert suggested_columns("`c9`", many) == [f"`c{i}`" for i in range(5)] and MAX_SUGGESTIONS == 5  # Spark's take(5)

    # names needing quotes are compared quoted, as Spark compares them (worked by hand: mixd→Mixed 2, →`x y` 5,
    # →`a``b` 6; `Mixed Cas`→`Mixed Case` 1, →`a.b` 9, the three-letter ones 9 or 10 in their order)
    assert suggested_columns("`mixd`", [("m", "s", "q", c) for c in ("a`b", "x y", "Mixed")]) == [
        "`Mixed`", "`x y`", "`a``b`"]
    assert suggested_columns("`Mixed Cas`", [("m", "s", "o", c) for c in ("_c0", "_w", "_t", "_o0", "Mixed Case",
                                                                         "a.b")]) == [
        "`Mixed Case`", "`a.b`", "`_c0`", "`_w`", "`_t`"]
    sail = 'attribute ObjectName([Identifier("agncy")]) is missing from the schema: cannot resolve attribute'
    translated = translate(sail, None, 3, (), lambda: table)
    assert translated is not None
    assert translated[0] == ("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name "
                             "`agncy` cannot be resolved. Did you mean one of the following? [`agency`, `month`, "
                             "`wht`]. SQLSTATE: 42703")
    status = status_pb2.Status.FromString(translated[1])
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.metadata["errorClass"] == "UNRESOLVED_COLUMN.WITH_SUGGESTION" and info.metadata["sqlState"] == "42703"
    there = 'attribute ObjectName([Identifier("agency")]) is missing from the schema: cannot resolve attribute'
    kept = translate(there, None, 3, (), lambda: [("main", "s", "t", "agency")])  # the engine's own miss: no echo
    assert kept is not None and kept[0].startswith("[UNRESOLVED_COLUMN.WITHOUT_SUGGESTION]")
    for unknown in (None, lambda: []):  # not asked, or nothing known: no guess
        plain = translate(sail, None, 3, (), unknown)
        assert plain is not None and plain[0].startswith("[UNRESOLVED_COLUMN.WITHOUT_SUGGESTION]")


def test_a_name_with_a_backtick_or_quote_is_quoted_as_spark_quotes_it():
    sail = 'attribute ObjectName([Identifier("a`c"), Identifier("x\\"y")]) is missing from the schema'
    found = classify(sail)
    assert found is not None and "with name `a``c`.`x\"y` cannot be resolved" in found.message


def test_a_columns_name_in_a_request_is_not_taken_for_a_tables():
    """``select("agncy")`` sends ``unparsed_identifier`` too, in an unresolved attribute: only a NamedTable's names a
    table (the column was looked up as a table, found nothing, and no proposal was made)."""
    from odoolake.workspace.engine.errors import written_fields
    from odoolake.workspace.engine.protos import base_pb2, relations_pb2

    expressions_pb2 = relations_pb2.spark_dot_connect_dot_expressions__pb2  # loaded with it
    project = relations_pb2.Relation(project=relations_pb2.Project(
        input=relations_pb2.Relation(read=relations_pb2.Read(
            named_table=relations_pb2.Read.NamedTable(unparsed_identifier="s.t"))),
        expressions=[expressions_pb2.Expression(unresolved_attribute=expressions_pb2.Expression.UnresolvedAttribute(
            unparsed_identifier="agncy"))]))
    request = base_pb2.ExecutePlanRequest(session_id="s", plan=base_pb2.Plan(root=project))
    assert list(written_fields(request)) == [("unparsed_identifier", "s.t")]
