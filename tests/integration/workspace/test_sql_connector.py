"""The real Databricks SQL connector (``databricks-sql-connector``, unmodified) against the local SQL warehouse, over
its default protocol: Thrift over HTTP on the warehouse's ``odbc_params.path``, through the TLS front door.

What a plausible bug would break: a wrong type mapping (decimals, dates, timestamps, arrays), a result cut at the
first fetch, a parameter spliced or lost, a session that leaks its SET or temp views, a cancel that does nothing,
metadata from the wrong schema, an error without its class or SQLSTATE.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading

import httpx
import pytest
from databricks import sql
from databricks.sql.exc import Error as SqlError

from odoolake.testing.waiting import wait_until
from odoolake.workspace.sql.result_links import RESULT_LINK_PATH
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

BIG_ROWS = 250_000  # more than one FetchResults (the connector asks for 100,000 rows a call)


def connect(server, token: str | None = None, http_path: str | None = None, **kwargs):
    """``sql.connect`` with the values the SDK's ``warehouses.get(...).odbc_params`` gives (the port goes in the
    connector's ``_port``: its ``server_hostname`` is a host name only)."""
    from databricks.sdk import WorkspaceClient

    odbc = WorkspaceClient(host=server.url, token=server.token).warehouses.get(LOCAL_WAREHOUSE_ID).odbc_params
    assert odbc.protocol == "https"  # as the connector speaks it (it said http, as the workspace serves TLS)
    return sql.connect(server_hostname=odbc.hostname, _port=odbc.port, http_path=http_path or odbc.path,
                       access_token=token or server.token, _tls_trusted_ca_file=server.ca_bundle,
                       enable_telemetry=False, _retry_stop_after_attempts_count=1, **kwargs)


@pytest.fixture(scope="module")
def connector_tables(server):
    with server.workspace.engine.spark() as spark:
        spark.sql("CREATE SCHEMA IF NOT EXISTS conn")
        spark.sql("DROP TABLE IF EXISTS conn.typed")
        spark.sql("CREATE TABLE conn.typed (id INT, agency STRING, wht DECIMAL(18,2), day DATE, at TIMESTAMP, "
                  "codes ARRAY<STRING>) COMMENT 'typed values'")
        spark.sql("INSERT INTO conn.typed VALUES (1, 'RIM', 1234.56, DATE'2026-01-31', "
                  "TIMESTAMP'2026-01-31 10:15:00', array('WC158', 'WI010')), (2, 'BOM', NULL, NULL, NULL, NULL), "
                  "(3, 'RIM', 0.05, DATE'2026-02-28', TIMESTAMP'2026-02-28 23:59:59', array())")
    return "conn.typed"


def test_query_with_named_parameters_returns_typed_values(server, connector_tables):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, agency, wht, day, at, codes FROM conn.typed WHERE agency = :agency ORDER BY id",
                    {"agency": "RIM"})
        described = [(d[0], d[1], d[4], d[5]) for d in cur.description]
        rows = cur.fetchall()
    assert described == [("id", "int", None, None), ("agency", "string", None, None), ("wht", "decimal", 18, 2),
                         ("day", "date", None, None), ("at", "timestamp", None, None),
                         ("codes", "array", None, None)]
    assert [r.id for r in rows] == [1, 3]  # the parameter filtered: BOM is not there
    first = rows[0]
    assert first.wht == decimal.Decimal("1234.56") and first.day == dt.date(2026, 1, 31)
    assert first.at.replace(tzinfo=None) == dt.datetime(2026, 1, 31, 10, 15)
    assert list(first.codes) == ["WC158", "WI010"] and list(rows[1].codes) == []


def test_a_parameter_is_a_bound_value_never_sql(server, connector_tables):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM conn.typed WHERE agency = :agency", {"agency": "RIM' OR '1'='1"})
        assert cur.fetchone().n == 0
        cur.execute("SELECT :day AS d, :amount AS a, :flag AS f, :nothing AS z",
                    {"day": dt.date(2026, 3, 31), "amount": decimal.Decimal("10.25"), "flag": True, "nothing": None})
        row = cur.fetchone()
    assert (row.d, row.a, row.f, row.z) == (dt.date(2026, 3, 31), decimal.Decimal("10.25"), True, None)


def test_a_typed_parameter_is_bound_as_its_type(server):
    """As a Databricks warehouse binds them: a DECIMAL(10,4) parameter is decimal(10,4) whatever its value's digits,
    a BIGINT stays bigint though small, a TIMESTAMP_NTZ is not a TIMESTAMP, a typed NULL keeps its type, and a
    TIMESTAMP without an offset is in the session's time zone. The Statement API binds the same way."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.sql import StatementParameterListItem
    from databricks.sql.parameters import native as p

    with connect(server, session_configuration={"TIMEZONE": "Asia/Manila"}) as conn, conn.cursor() as cur:
        cur.execute("SELECT typeof(:d) AS d, :d AS v, typeof(:b) AS b, typeof(:n) AS n, CAST(:t AS STRING) AS t",
                    # the connector's own names: ``scale`` is the digits in all, ``precision`` those after the point
                    [p.DecimalParameter(decimal.Decimal("1.5"), name="d", scale=10, precision=4),
                     p.BigIntegerParameter(7, name="b"),
                     p.TimestampNTZParameter(dt.datetime(2026, 1, 2, 3, 4, 5), name="n"),
                     p.TimestampParameter(dt.datetime(2026, 1, 2, 3, 4, 5), name="t")])
        row = cur.fetchone()
    assert (row.d, row.v, row.b, row.n) == ("decimal(10,4)", decimal.Decimal("1.5000"), "bigint", "timestamp_ntz")
    assert row.t == "2026-01-02 03:04:05"  # read in the session's zone, shown in it

    w = WorkspaceClient(host=server.url, token=server.token)
    answer = w.statement_execution.execute_statement(
        "SELECT typeof(:d) AS d, CAST(:d AS STRING) AS v, typeof(:z) AS z, :z AS zv", LOCAL_WAREHOUSE_ID,
        parameters=[StatementParameterListItem(name="d", value="1.5", type="DECIMAL(10,3)"),
                    StatementParameterListItem(name="z", type="INT")], wait_timeout="30s")
    assert answer.status.state.value == "SUCCEEDED", answer.status.error
    assert answer.result.data_array == [["decimal(10,3)", "1.500", "int", None]]


def test_an_empty_array_literal_comes_back_empty_through_both_sql_apis(server):
    """``array()`` is an array of void whose elements are never null, which Arrow cannot hold: it failed with "A
    null type field may not be non-nullable"."""
    from databricks.sdk import WorkspaceClient

    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT array() AS none, array(NULL) AS one_null, 1 AS n")
        row = cur.fetchone()
    assert (list(row.none), list(row.one_null), row.n) == ([], [None], 1)
    w = WorkspaceClient(host=server.url, token=server.token)
    answer = w.statement_execution.execute_statement("SELECT array() AS none", LOCAL_WAREHOUSE_ID, wait_timeout="30s")
    assert answer.status.state.value == "SUCCEEDED", answer.status.error
    assert answer.result.data_array == [["[]"]]


def test_intervals_maps_and_floats_come_back_as_databricks_writes_them_through_both_sql_apis(server):
    """Intervals failed in both APIs (a year-month interval is an Arrow type pyarrow cannot read; a day-time one a
    timedelta JSON cannot hold), ``map()`` failed through Thrift (void keys), and a FLOAT cell showed its float64
    expansion. Intervals are Hive-style text, as Spark's results write them (``make_dt_interval(100, 13)`` is
    ``100 13:00:00.000000000`` in its documentation), with their interval type in the column description."""
    from databricks.sdk import WorkspaceClient

    statement = ("SELECT INTERVAL '1-2' YEAR TO MONTH AS ym, INTERVAL '-3' MONTH AS mo, make_dt_interval(100, 13) AS dt, "
                 "INTERVAL '-1 02:03:04.5' DAY TO SECOND AS neg, CAST(NULL AS INTERVAL DAY) AS none, "
                 "array(INTERVAL '1' DAY) AS days, map() AS empty, CAST(1.1 AS FLOAT) AS f, "
                 "array(CAST(2.2 AS FLOAT)) AS fs")
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
        kinds = {d[0]: d[1] for d in cur.description}
    assert (row.ym, row.mo, row.dt, row.neg, row.none) == ("1-2", "-0-3", "100 13:00:00.000000000",
                                                           "-1 02:03:04.500000000", None)
    assert (kinds["ym"], kinds["dt"]) == ("interval_year_month", "interval_day_time")
    assert len(row.empty) == 0 and row.f == pytest.approx(1.1)  # a float32 the client widens itself
    w = WorkspaceClient(host=server.url, token=server.token)
    answer = w.statement_execution.execute_statement(statement, LOCAL_WAREHOUSE_ID, wait_timeout="30s")
    assert answer.status.state.value == "SUCCEEDED", answer.status.error
    assert answer.result.data_array == [["1-2", "-0-3", "100 13:00:00.000000000", "-1 02:03:04.500000000", None,
                                         '["1 00:00:00.000000000"]', "{}", "1.1", "[2.2]"]]
    types = [(c.type_name.value, c.type_text) for c in answer.manifest.schema.columns]
    assert types[:3] == [("INTERVAL", "INTERVAL YEAR TO MONTH"), ("INTERVAL", "INTERVAL MONTH"),
                         ("INTERVAL", "INTERVAL DAY TO SECOND")]
    # a column of the same name as an interval is its own (columns are matched by position)
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT INTERVAL '1' MONTH AS x, 5 AS x")
        assert tuple(cur.fetchone()) == ("0-1", 5)
    answer = w.statement_execution.execute_statement("SELECT INTERVAL '1' MONTH AS x, 5 AS x", LOCAL_WAREHOUSE_ID,
                                                     wait_timeout="30s")
    assert answer.result.data_array == [["0-1", "5"]]


def test_large_results_arrive_whole_over_several_fetches(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, id * 2 AS twice FROM range({BIG_ROWS})")
        table = cur.fetchall_arrow()
    ids = table.column("id").to_pylist()
    assert len(ids) == BIG_ROWS and len(set(ids)) == BIG_ROWS and max(ids) == BIG_ROWS - 1  # each row once
    assert sum(table.column("twice").to_pylist()) == BIG_ROWS * (BIG_ROWS - 1)


def test_metadata_calls_answer_from_the_catalog(server, connector_tables):
    with connect(server) as conn, conn.cursor() as cur:
        assert [r.TABLE_CAT for r in cur.catalogs().fetchall()] == ["main"]
        schemas = [r.TABLE_SCHEM for r in cur.schemas(catalog_name="main").fetchall()]
        assert {"default", "conn", "information_schema"} <= set(schemas)
        assert [r.TABLE_SCHEM for r in cur.schemas(catalog_name="main", schema_name="con%").fetchall()] == ["conn"]
        tables = cur.tables(catalog_name="main", schema_name="conn").fetchall()
        assert [(t.TABLE_NAME, t.TABLE_TYPE, t.REMARKS) for t in tables] == [("typed", "TABLE", "typed values")]
        assert cur.tables(catalog_name="main", schema_name="conn", table_name="nope%").fetchall() == []
        columns = cur.columns(catalog_name="main", schema_name="conn", table_name="typed").fetchall()
        assert [(c.COLUMN_NAME, c.TYPE_NAME, c.ORDINAL_POSITION) for c in columns] == [
            ("id", "INT", 0), ("agency", "STRING", 1), ("wht", "DECIMAL(18,2)", 2), ("day", "DATE", 3),
            ("at", "TIMESTAMP", 4), ("codes", "ARRAY<STRING>", 5)]
        wht = columns[2]
        assert (wht.DATA_TYPE, wht.COLUMN_SIZE, wht.DECIMAL_DIGITS) == (3, 18, 2)  # java.sql.Types.DECIMAL
        only = cur.columns(catalog_name="main", schema_name="conn", table_name="typed", column_name="a%").fetchall()
        assert [c.COLUMN_NAME for c in only] == ["agency", "at"]


def test_views_are_listed_read_and_replaced_through_the_warehouse_and_the_catalog_api(server, w):
    """A persistent view made over the SQL connector: BI tools list it as a VIEW, the Statement API reads it (its
    cached answer dropped when the view is replaced), the SDK's tables API lists, gets and deletes it."""
    from databricks.sdk.service.catalog import TableType

    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS viewed")
        cur.execute("CREATE OR REPLACE TABLE viewed.bills AS SELECT * FROM VALUES (1, 'RIM'), (2, 'BOM') AS b(id, agency)")
        cur.execute("CREATE OR REPLACE VIEW viewed.rim COMMENT 'RIM only' AS SELECT id FROM viewed.bills "
                    "WHERE agency = 'RIM'")
        listed = cur.tables(catalog_name="main", schema_name="viewed").fetchall()
        assert [(t.TABLE_NAME, t.TABLE_TYPE, t.REMARKS) for t in listed] == [("bills", "TABLE", ""),
                                                                            ("rim", "VIEW", "RIM only")]
        assert [c.COLUMN_NAME for c in cur.columns(catalog_name="main", schema_name="viewed",
                                                   table_name="rim").fetchall()] == ["id"]
    warehouse = next(iter(w.warehouses.list())).id

    def answer() -> list:
        return w.statement_execution.execute_statement("SELECT id FROM viewed.rim ORDER BY id", warehouse,
                                                       wait_timeout="30s").result.data_array

    assert answer() == [["1"]] and answer() == [["1"]]  # the second from the result cache
    w.statement_execution.execute_statement("CREATE OR REPLACE VIEW viewed.rim AS SELECT id FROM viewed.bills",
                                            warehouse, wait_timeout="30s")
    assert answer() == [["1"], ["2"]]  # not the cached answer of the view it replaced
    tables = {t.name: t for t in w.tables.list("main", "viewed")}
    assert tables["rim"].table_type == TableType.VIEW and tables["bills"].table_type == TableType.MANAGED
    view = w.tables.get("main.viewed.rim")
    assert view.view_definition == "SELECT id FROM viewed.bills" and [c.name for c in view.columns] == ["id"]
    assert w.tables.exists("main.viewed.rim").table_exists
    w.tables.delete("main.viewed.rim")
    assert not w.tables.exists("main.viewed.rim").table_exists
    assert w.tables.get("main.viewed.bills").table_type == TableType.MANAGED  # the table it read is kept


def test_each_connection_is_its_own_session(server):
    with connect(server) as one, connect(server) as two, one.cursor() as a, two.cursor() as b:
        a.execute("CREATE OR REPLACE TEMP VIEW mine AS SELECT 42 AS answer")
        a.execute("SET spark.sql.session.timeZone = Asia/Manila")
        a.execute("SELECT answer FROM mine")
        assert a.fetchone().answer == 42
        a.execute("SELECT current_timezone() AS tz")
        assert a.fetchone().tz == "Asia/Manila"
        b.execute("SELECT current_timezone() AS tz")
        assert b.fetchone().tz == "UTC"
        with pytest.raises(SqlError, match="mine"):
            b.execute("SELECT answer FROM mine")


def test_initial_catalog_schema_and_session_configuration(server, connector_tables):
    with connect(server, catalog="main", schema="conn", session_configuration={"TIMEZONE": "Asia/Manila"}) as conn, \
            conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM typed")
        assert cur.fetchone().n == 3
        cur.execute("SELECT current_timezone() AS tz")
        assert cur.fetchone().tz == "Asia/Manila"
    with pytest.raises(SqlError, match="NO_SUCH_PARAMETER"):
        connect(server, session_configuration={"NO_SUCH_PARAMETER": "1"})
    with pytest.raises(SqlError, match=r"Configuration spark\.sql\.ansi\.enabled = 'maybe' is invalid"):
        connect(server, session_configuration={"ANSI_MODE": "maybe"})


def test_databricks_sql_parameters_set_by_statement_take_effect(server):
    """``SET ANSI_MODE = false`` and ``SET TIME ZONE '…'``, as Databricks SQL documents them, change the session (the
    engine took ``ANSI_MODE`` as a setting nobody reads: the statement succeeded and division by zero still failed).
    Through the Statement API too, which shares the engine's rules."""
    from databricks.sdk import WorkspaceClient

    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(SqlError, match="DIVIDE_BY_ZERO"):
            cur.execute("SELECT 1/0 AS q")
        cur.execute("SET ANSI_MODE = false")
        cur.execute("SELECT 1/0 AS q")
        assert cur.fetchone().q is None
        cur.execute("SET ansi_mode = true;")
        with pytest.raises(SqlError, match="DIVIDE_BY_ZERO"):
            cur.execute("SELECT 1/0 AS q")
        cur.execute("SET TIME ZONE 'Asia/Manila'")
        cur.execute("SELECT current_timezone() AS tz")
        assert cur.fetchone().tz == "Asia/Manila"
        cur.execute("SET TIMEZONE = 'Asia/Tokyo' -- where the auditors are")
        cur.execute("SELECT current_timezone() AS tz")
        assert cur.fetchone().tz == "Asia/Tokyo"
        with pytest.raises(SqlError, match=r"INVALID_CONF_VALUE.*'No/Such_Zone' is not a time zone"):
            cur.execute("SET TIME ZONE 'No/Such_Zone'")
        cur.execute("SELECT current_timezone() AS tz")
        assert cur.fetchone().tz == "Asia/Tokyo"  # unchanged, and the session still answers
        cur.execute("SET ANSI_MODE = false")
        with pytest.raises(SqlError, match=r"INVALID_CONF_VALUE.*'maybe' in the config \"spark\.sql\.ansi\.enabled\""):
            cur.execute("SET ANSI_MODE = maybe")  # the engine kept it and failed every later statement
        cur.execute("SELECT 1/0 AS q")
        assert cur.fetchone().q is None  # still false: the session answers as before
        cur.execute("SET ANSI_MODE")
        assert tuple(cur.fetchone()) == ("spark.sql.ansi.enabled", "false")
        cur.execute("RESET ANSI_MODE")
        with pytest.raises(SqlError, match="DIVIDE_BY_ZERO"):
            cur.execute("SELECT 1/0 AS q")

    # The Statement API's result cache keys on the principal's settings as the engine reads them.
    w = WorkspaceClient(host=server.url, token=server.token)
    epoch = "SELECT CAST(CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS BIGINT) AS s"

    def run(statement: str) -> list:
        answer = w.statement_execution.execute_statement(statement, LOCAL_WAREHOUSE_ID, wait_timeout="30s")
        assert answer.status.state.value == "SUCCEEDED", answer.status.error
        return answer.result.data_array if answer.result else []

    run("SET TIME ZONE 'UTC'")
    assert run(epoch) == [["1704067200"]]
    run("SET TIME ZONE 'Asia/Manila'")
    assert run(epoch) == [["1704038400"]]  # eight hours earlier: not the cached UTC answer
    run("SET TIME ZONE 'UTC'")


def test_a_name_the_catalog_cannot_hold_is_refused_by_name_and_nothing_is_created(server):
    """A quoted name with a hyphen, a space or a non-ASCII letter: refused naming it and the rule, before the
    engine sent it to the catalog (whose refusal it reported as an HTTP error with an internal address)."""
    with connect(server) as conn, conn.cursor() as cur:
        for statement, name in (("CREATE SCHEMA `probe-dash`", "probe-dash"),
                                ("CREATE SCHEMA IF NOT EXISTS main.`probe_ü`", "probe_ü"),
                                ("CREATE TABLE default.`with space` (id INT)", "with space"),
                                ("CREATE VIEW default.`v-1` AS SELECT 1 AS one", "v-1")):
            with pytest.raises(SqlError, match=rf"INVALID_IDENTIFIER.*`{name}` cannot be used in the catalog: names "
                                               r"are ASCII letters, digits and underscores") as refused:
                cur.execute(statement)
            assert "http://" not in str(refused.value)
        cur.execute("SHOW SCHEMAS")
        assert not [r for r in cur.fetchall() if r[0].startswith("probe")]
        cur.execute("CREATE OR REPLACE TEMP VIEW `my-view` AS SELECT 1 AS one")  # a session's own: any name
        cur.execute("SELECT one FROM `my-view`")
        assert cur.fetchone().one == 1


def test_a_session_may_open_in_a_schema_it_creates_next(server):
    """dbt opens its session in its target schema before creating it: the session starts in ``default`` and enters
    the schema once it exists; a schema that never exists makes unqualified names fail naming them."""
    with connect(server, catalog="main", schema="made_later") as conn, conn.cursor() as cur:
        cur.execute("SELECT current_schema() AS s")
        assert cur.fetchone().s == "default"
        cur.execute("CREATE SCHEMA IF NOT EXISTS made_later")
        cur.execute("CREATE OR REPLACE TABLE made_later.t AS SELECT 7 AS x")
        cur.execute("SELECT x FROM t")  # unqualified: the session is in made_later now
        assert cur.fetchone().x == 7
        cur.execute("SELECT x AS y, y + 1 AS z FROM t")  # a lateral alias: t's columns looked up in made_later
        assert tuple(cur.fetchone()) == (7, 8)
        cur.execute("WITH v AS (SELECT x AS value_field, COUNT(*) AS n FROM t GROUP BY x) "
                    "SELECT * FROM v WHERE value_field NOT IN (1)")  # the shape of dbt's accepted_values test
        assert tuple(cur.fetchone()) == (7, 1)
        cur.execute("DELETE FROM t WHERE x = 7")  # resolved in the session's schema
        assert cur.rowcount == 1
    with connect(server, catalog="main", schema="never_made") as conn, conn.cursor() as cur, \
            pytest.raises(SqlError, match=r"TABLE_OR_VIEW_NOT_FOUND.*no_such_table"):
        cur.execute("SELECT * FROM no_such_table")
    with pytest.raises(SqlError, match="no_such_catalog"):
        connect(server, catalog="no_such_catalog", schema="made_later")  # a catalog is never waited for


def test_cancel_stops_a_running_statement_and_the_session_goes_on(server):
    from odoolake.workspace.engine.launcher import engine_status

    with connect(server) as conn, conn.cursor() as cur:
        cur.execute_async("SELECT SUM(a.id * b.id) AS s FROM range(200000) a CROSS JOIN range(200000) b")
        wait_until(lambda: cur.get_query_state().name in ("RUNNING", "PENDING"), what="the statement to run")
        cur.cancel()
        wait_until(lambda: cur.get_query_state().name in ("CANCELLED", "CLOSED"), what="the statement to stop")
        # and the engine's work ended too (the cross join alone would run for minutes)
        wait_until(lambda: engine_status(server.workspace.paths.home)["operations"] == 0,
                   what="the cancelled statement's engine operation to end")
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 AS one")
        assert cur.fetchone().one == 1


def test_bad_input_gets_clear_errors(server, connector_tables):
    with pytest.raises(SqlError, match="Warehouse nosuchwarehouse does not exist"):
        connect(server, http_path="/sql/1.0/warehouses/nosuchwarehouse")
    with pytest.raises(SqlError) as unauthenticated:
        connect(server, token="dapi-not-a-token")
    assert unauthenticated.value.context["http-code"] == 401
    assert "token" in unauthenticated.value.context["error-message"].lower()
    assert "Create a new token with `odoolake tokens create`" in str(unauthenticated.value)  # the fix, named
    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(SqlError, match=r"Invalid parameters\.when") as bad:
            cur.execute("SELECT :when AS w", [sql.parameters.DateParameter(name="when", value="not a date")])
        assert "not a valid DATE" in str(bad.value)
        with pytest.raises(SqlError, match="TABLE_OR_VIEW_NOT_FOUND"):
            cur.execute("SELECT * FROM conn.no_such_table")
        cur.execute("SELECT COUNT(*) AS n FROM conn.typed")  # the session survives its errors
        assert cur.fetchone().n == 3
    conn = connect(server)
    session_id = conn.get_session_id_hex()
    server.workspace.sql_sessions.close(session_id, server.workspace.user)  # closed behind the client's back
    try:
        with pytest.raises(SqlError, match=f"Session {session_id} does not exist or was closed"):
            conn.cursor().execute("SELECT 1")
    finally:
        conn.close()


@pytest.mark.parametrize(("statement", "error_class", "sql_state"), [
    ("SELECT * FROM conn.no_such_table", "TABLE_OR_VIEW_NOT_FOUND", "42P01"),
    ("SELECT no_such_col FROM conn.typed", "UNRESOLVED_COLUMN", "42703"),
    ("SELEC 1", "PARSE_SYNTAX_ERROR", "42601"),
    ("SELECT 1 / 0", "DIVIDE_BY_ZERO", "22012"),
    ("SELECT no_such_fn(1)", "UNRESOLVED_ROUTINE", "42883"),
    ("SELECT CAST(300 AS TINYINT)", "CAST_OVERFLOW", "22003"),
    ("SELECT element_at(array(1, 2), 5)", "INVALID_ARRAY_INDEX_IN_ELEMENT_AT", "22003"),
    ("SELECT assert_true(1 > 2)", "USER_RAISED_EXCEPTION", "P0001"),
    ("SELECT make_date(2026, 13, 1)", "DATETIME_FIELD_OUT_OF_BOUNDS", "22023"),
    ("SELECT CAST(12345.6 AS DECIMAL(3,1))", "NUMERIC_VALUE_OUT_OF_RANGE", "22003"),
])
def test_errors_carry_the_spark_error_class_and_sqlstate(server, connector_tables, statement, error_class,
                                                          sql_state):
    with connect(server) as conn, conn.cursor() as cur, pytest.raises(SqlError) as failed:
        cur.execute(statement)
    message = str(failed.value)
    assert message.startswith(f"[{error_class}") and message.endswith(f"SQLSTATE: {sql_state}")
    assert "ObjectName" not in message and "invalid argument" not in message  # the engine's own words are gone


def test_a_read_only_principal_reads_but_cannot_write_through_the_connector(server, connector_tables):
    server.workspace.roles.set_role("connector-reader@example.ph", "read_only")
    token = server.workspace.tokens.create("connector-reader@example.ph", "reader")[0]
    with connect(server, token=token) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM conn.typed")
        assert cur.fetchone().n == 3
        with pytest.raises(SqlError, match="READ_ONLY_PRINCIPAL"):
            cur.execute("DELETE FROM conn.typed")
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) AS n FROM conn.typed")
        assert cur.fetchone().n == 3  # nothing stored changed


def test_sessions_are_closed_with_their_connections(server):
    before = server.workspace.sql_sessions.count()
    done = threading.Event()

    def use() -> None:
        with connect(server) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        done.set()

    use()
    assert done.is_set() and server.workspace.sql_sessions.count() == before


def test_the_connector_is_told_no_feature_flags_are_on(server):
    import httpx

    answer = httpx.get(f"{server.url}/api/2.0/connector-service/feature-flags/PYTHON/4.9.0",
                       headers={"Authorization": f"Bearer {server.token}"})
    assert answer.status_code == 200 and answer.json() == {"flags": [], "ttl_seconds": 900}


def test_a_body_that_is_not_thrift_is_refused_naming_the_protocol(server):
    import httpx

    answer = httpx.post(f"{server.url}/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}", content=b"SELECT 1",
                        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/x-thrift"})
    assert answer.status_code == 400
    assert "not a TCLIService call in Thrift's binary protocol" in answer.headers["x-thriftserver-error-message"]


@pytest.mark.parametrize("cloud_fetch", [True, False], ids=["external-links", "inline"])
def test_use_sea_runs_in_a_session_of_the_statement_execution_api(server, connector_tables, cloud_fetch):
    """``use_sea=True``: the connector opens ``POST /api/2.0/sql/sessions`` and sends each statement with its
    ``session_id``; with its default cloud fetch the results are ARROW_STREAM chunks behind EXTERNAL_LINKS, which its
    own HTTP client downloads (trusting the workspace CA), otherwise JSON_ARRAY inline."""
    before = server.workspace.sql_sessions.count()
    with connect(server, use_sea=True, use_cloud_fetch=cloud_fetch) as conn, conn.cursor() as cur:
        assert server.workspace.sql_sessions.count() == before + 1
        cur.execute("SELECT id, agency, wht, day, at FROM conn.typed WHERE agency = :agency ORDER BY id",
                    {"agency": "RIM"})
        rows = cur.fetchall()
        assert [r.id for r in rows] == [1, 3]  # the parameter filtered
        assert rows[0].wht == decimal.Decimal("1234.56") and rows[0].day == dt.date(2026, 1, 31)
        assert rows[0].at.replace(tzinfo=None) == dt.datetime(2026, 1, 31, 10, 15)
        cur.execute("SELECT id FROM conn.typed WHERE id > 100")
        assert cur.fetchall() == []  # an empty result: no chunk at all
        cur.execute("CREATE TEMP VIEW sea_only AS SELECT 41 + 1 AS answer")
        cur.execute("SELECT answer FROM sea_only")  # the session kept its temp view
        assert cur.fetchone().answer == 42
        with connect(server) as other, other.cursor() as elsewhere, pytest.raises(SqlError, match="sea_only"):
            elsewhere.execute("SELECT answer FROM sea_only")
        with pytest.raises(SqlError, match="TABLE_OR_VIEW_NOT_FOUND"):
            cur.execute("SELECT * FROM conn.no_such_table")
    assert server.workspace.sql_sessions.count() == before  # closed with the connection


# What the SEA metadata test creates (the independent expectation): schema -> table -> declared columns.
SEA_META = {
    "seameta_a": {"wht_2307": [("id", "INT"), ("payee_tin", "STRING"), ("amount", "DECIMAL(12,2)")],
                  "wht_2316": [("id", "BIGINT"), ("payee_tin", "STRING"), ("paid_on", "DATE")],
                  "vat_relief": [("period", "STRING"), ("amount", "DOUBLE")]},
    "seameta_b": {"wht_2307": [("code", "STRING")]},
}
# Databricks' result columns of the SHOW statements the connector sends with use_sea (see show_metadata's docstring
# for the recorded answers they come from).
SEA_TABLE_COLUMNS = ["namespace", "tableName", "isTemporary", "information", "catalogName", "tableType", "remarks"]
SEA_COLUMN_COLUMNS = ["col_name", "catalogName", "namespace", "tableName", "columnType", "columnSize",
                      "decimalDigits", "radix", "isNullable", "remarks", "ordinalPosition", "isAutoIncrement",
                      "isGenerated"]


@pytest.fixture(scope="module")
def sea_metadata_tables(server):
    with server.workspace.engine.spark() as spark:
        for schema, tables in SEA_META.items():
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for table, columns in tables.items():
                spark.sql(f"DROP TABLE IF EXISTS {schema}.{table}")
                spark.sql(f"CREATE TABLE {schema}.{table} ({', '.join(f'{c} {t}' for c, t in columns)})")
    return SEA_META


@pytest.mark.parametrize("cloud_fetch", [True, False], ids=["external-links", "inline"])
def test_use_sea_metadata_calls_answer_the_show_statements_from_the_catalog(server, sea_metadata_tables, cloud_fetch):
    """``catalogs()``, ``schemas()``, ``tables()`` and ``columns()`` with ``use_sea=True`` send SHOW statements over
    the Statement Execution API; the rows are the schemas, tables and declared columns this test created, in the
    columns Databricks answers with (the connector filters table types on the column at index 5 itself)."""
    with connect(server, use_sea=True, use_cloud_fetch=cloud_fetch) as conn, conn.cursor() as cur:
        cur.catalogs()
        assert [d[0] for d in cur.description] == ["catalog"]
        assert [r.catalog for r in cur.fetchall()] == ["main"]

        cur.schemas(catalog_name="main", schema_name="seameta%")
        assert [d[0] for d in cur.description] == ["databaseName"]
        assert sorted(r.databaseName for r in cur.fetchall()) == sorted(SEA_META)
        assert [r.databaseName for r in cur.schemas(catalog_name="main", schema_name="SEAMETA_B").fetchall()] == [
            "seameta_b"]  # case-insensitive

        cur.tables(catalog_name="main", schema_name="seameta_a")
        assert [d[0] for d in cur.description] == SEA_TABLE_COLUMNS
        rows = cur.fetchall()
        assert sorted((r.catalogName, r.namespace, r.tableName, r.tableType) for r in rows) == sorted(
            ("main", "seameta_a", t, "TABLE") for t in SEA_META["seameta_a"])
        assert {r.isTemporary for r in rows} == {False}
        both = cur.tables(catalog_name="main", schema_name="seameta_%", table_name="wht%").fetchall()
        assert sorted((r.namespace, r.tableName) for r in both) == [
            ("seameta_a", "wht_2307"), ("seameta_a", "wht_2316"), ("seameta_b", "wht_2307")]
        anywhere = cur.tables(schema_name="seameta*", table_name="vat_relief").fetchall()  # IN ALL CATALOGS
        assert [(r.catalogName, r.namespace, r.tableName) for r in anywhere] == [("main", "seameta_a", "vat_relief")]
        typed = cur.tables(catalog_name="main", schema_name="seameta_b", table_types=["TABLE"]).fetchall()
        assert [r.tableName for r in typed] == ["wht_2307"]
        assert cur.tables(catalog_name="main", schema_name="seameta_b", table_types=["VIEW"]).fetchall() == []

        cur.columns(catalog_name="main", schema_name="seameta_a", table_name="wht_2307")
        assert [d[0] for d in cur.description] == SEA_COLUMN_COLUMNS
        columns = cur.fetchall()
        assert [(c.col_name, c.columnType, c.ordinalPosition, c.isNullable) for c in columns] == [
            (name, kind, i, "true") for i, (name, kind) in enumerate(SEA_META["seameta_a"]["wht_2307"])]
        amount = columns[2]
        assert (amount.columnSize, amount.decimalDigits, amount.radix) == (12, 2, 10)
        payees = cur.columns(catalog_name="main", schema_name="seameta_a", table_name="wht%",
                             column_name="payee%").fetchall()
        assert sorted((c.tableName, c.col_name) for c in payees) == [("wht_2307", "payee_tin"),
                                                                    ("wht_2316", "payee_tin")]


def test_show_statements_take_databricks_patterns_through_every_sql_client(server, sea_metadata_tables):
    """The SHOW forms as written by hand or by the JDBC/ADBC drivers (``*``, ``.`` for one character, ``|`` between
    alternatives, a backquoted catalog), through the Statement Execution API and Thrift's ExecuteStatement alike."""
    statement = ("SHOW TABLES IN CATALOG `main` SCHEMA LIKE 'seameta.a' LIKE 'wht.2316 | vat*'")
    expected = [("seameta_a", "vat_relief"), ("seameta_a", "wht_2316")]
    with connect(server, use_sea=True) as sea, sea.cursor() as cur:
        cur.execute(statement)
        assert sorted((r.namespace, r.tableName) for r in cur.fetchall()) == expected
        cur.execute("SHOW SCHEMAS IN ALL CATALOGS LIKE 'seameta_b'")
        assert [(r.databaseName, r.catalog) for r in cur.fetchall()] == [("seameta_b", "main")]
        cur.execute("SHOW SCHEMAS LIKE 'seameta*'")  # the current catalog
        assert sorted(r.databaseName for r in cur.fetchall()) == sorted(SEA_META)
    with connect(server) as thrift, thrift.cursor() as cur:
        cur.execute(statement)
        assert sorted((r.namespace, r.tableName) for r in cur.fetchall()) == expected
        cur.execute("SHOW COLUMNS IN CATALOG main SCHEMA LIKE 'seameta_b' TABLE LIKE 'wht_2307'")
        assert [(c.col_name, c.columnType) for c in cur.fetchall()] == SEA_META["seameta_b"]["wht_2307"]
        cur.execute("SHOW DATABASES FROM spark_catalog LIKE 'SEAMETA_A'")
        assert [r.databaseName for r in cur.fetchall()] == ["seameta_a"]


@pytest.mark.parametrize("use_sea", [True, False], ids=["sea", "thrift"])
def test_show_statements_on_an_unknown_catalog_fail_naming_it(server, use_sea):
    with connect(server, use_sea=use_sea) as conn, conn.cursor() as cur:
        for statement in ("SHOW TABLES IN CATALOG nope SCHEMA LIKE 'gold'", "SHOW SCHEMAS IN nope",
                          "SHOW COLUMNS IN CATALOG `nope` TABLE LIKE 't'"):
            with pytest.raises(SqlError, match=r"\[NO_SUCH_CATALOG_EXCEPTION\] The catalog `nope` was not found.*"
                                               r"SQLSTATE: 42704"):
                cur.execute(statement)
        with pytest.raises(SqlError, match=r"\[PARSE_SYNTAX_ERROR\] Syntax error at or near 'gold'.*SQLSTATE: 42601"):
            cur.execute("SHOW TABLES IN CATALOG main SCHEMA 'gold'")
        if use_sea:  # what the connector's own calls send
            with pytest.raises(SqlError, match=r"NO_SUCH_CATALOG_EXCEPTION.*`nope`"):
                cur.columns(catalog_name="nope")
            with pytest.raises(SqlError, match=r"NO_SUCH_CATALOG_EXCEPTION.*`nope`"):
                cur.tables(catalog_name="nope")


SEA_ROWS = 1_000_000


def test_use_sea_fetches_a_million_rows_over_several_external_links_row_for_row(server, monkeypatch):
    """The connector's default with ``use_sea=True``: a result of several ARROW_STREAM chunks, each downloaded
    without the token; every row arrives once, in order (the oracle is Python's arithmetic on range), and closing the
    cursor releases the chunk files and their links."""
    statements = server.workspace.statements
    downloads: list = []
    original = statements.download

    def counted(link_id: str):
        downloads.append(statements.links.resolve(link_id))
        return original(link_id)

    monkeypatch.setattr(statements, "download", counted)
    with connect(server, use_sea=True) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, id * 2 AS twice, concat('r', CAST(id AS STRING)) AS label FROM range({SEA_ROWS}) "
                    "ORDER BY id")
        table = cur.fetchall_arrow()
    assert table.num_rows == SEA_ROWS
    assert table.column("id").to_pylist() == list(range(SEA_ROWS))
    assert table.column("twice").to_pylist() == [2 * i for i in range(SEA_ROWS)]
    labels = table.column("label").to_pylist()
    assert labels[0] == "r0" and labels[-1] == f"r{SEA_ROWS - 1}"
    chunks = sorted({link.chunk_index for link in downloads})
    assert len(chunks) > 1 and chunks == list(range(len(chunks)))  # several chunks, each fetched
    statement_id = downloads[0].statement_id
    assert not statements.files.directory(statement_id).exists()  # closed with the cursor
    gone = httpx.get(f"{server.url}{RESULT_LINK_PATH}/{downloads[0].link_id}")
    assert gone.status_code == 404


@pytest.mark.parametrize("use_sea", [False, True], ids=["thrift", "sea-external-links"])
def test_the_connector_trusts_the_workspace_ca_from_odoolake_env(server, tmp_path, monkeypatch, use_sea):
    """No ``_tls_trusted_ca_file``: the environment ``odoolake env`` prints is enough, for the connector's API calls
    and for the result links its own HTTP client downloads."""
    from odoolake.workspace.frontdoor.trust import exports, write_profile

    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "databrickscfg"))
    write_profile("odoolake", server.https_url, server.token, server.workspace.tls.ca_bundle, None)
    for line in exports("odoolake"):
        variable, value = line.removeprefix("export ").split("=", 1)
        monkeypatch.setenv(variable, value.strip("'"))
    port = int(server.url.rsplit(":", 1)[1])
    with sql.connect(server_hostname="127.0.0.1", _port=port, http_path=f"/sql/1.0/warehouses/{LOCAL_WAREHOUSE_ID}",
                     access_token=server.token, enable_telemetry=False, _retry_stop_after_attempts_count=1,
                     use_sea=use_sea) as conn, conn.cursor() as cur:
        cur.execute("SELECT id * 10 AS tens FROM range(3) ORDER BY id")
        assert [r.tens for r in cur.fetchall()] == [0, 10, 20]


def test_statements_with_an_unknown_session_id_are_refused_naming_it(server, w):
    from databricks.sdk.errors import DatabricksError

    with pytest.raises(DatabricksError, match="Session nosuchsession does not exist or was closed"):
        w.api_client.do("POST", "/api/2.0/sql/statements", body={
            "warehouse_id": LOCAL_WAREHOUSE_ID, "session_id": "nosuchsession", "statement": "SELECT 1"})



def test_a_warehouse_id_of_any_characters_is_refused_naming_it(server):
    import httpx

    answer = httpx.post(f"{server.url}/sql/1.0/warehouses/æœﬀ", content=b"",
                        headers={"Authorization": f"Bearer {server.token}"})
    assert answer.status_code == 404
    assert answer.text.startswith("Warehouse æœﬀ does not exist")
    assert answer.headers["x-thriftserver-error-message"].startswith("Warehouse \\xe6\\u0153\\ufb00 does not exist")
