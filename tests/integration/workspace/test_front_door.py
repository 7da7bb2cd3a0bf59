"""One authenticated front door: REST and Spark Connect on the workspace's port over TLS, the catalog served as Unity
Catalog, and the Statement API running each principal in their own session. Spark Connect is driven by the genuine
pyspark client in its own process, as a user's script would be."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import sys
import textwrap

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.sql import StatementState

from odoolake.workspace.engine.rewrite import MAX_NESTING, MAX_SQL_TOKENS
from odoolake.workspace.frontdoor.router import alpn_offers, is_grpc
from odoolake.workspace.sql.statements import LOCAL_WAREHOUSE_ID

CLIENT = textwrap.dedent("""
    import json, sys
    from pyspark.sql import SparkSession
    url, script = sys.argv[1], sys.argv[2]
    out = {}
    try:
        spark = SparkSession.builder.remote(url).create()
        exec(script)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out, default=str))
""")


def spark_client(server, script: str, token: str | None = None, extra: str = "", timeout: float = 300) -> dict:
    """Run ``script`` (it fills ``out``) in a fresh process with a Spark Connect session on the front door."""
    proc = run_client(server, script, token, extra, timeout)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_client(server, script: str, token: str | None = None, extra: str = "",
               timeout: float = 300) -> subprocess.CompletedProcess:
    url = server.spark_url + (f";token={token}" if token else "") + extra
    client = server.workspace.paths.home / "spark_client.py"
    client.write_text(CLIENT)
    return subprocess.run([sys.executable, str(client), url, textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=timeout, env={"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": server.ca_bundle,
                                                           "PATH": "/usr/bin:/bin"})


def tls_client(server, token: str | None = None) -> WorkspaceClient:
    """The SDK over TLS; requests reads the CA bundle from the environment at each call."""
    import os

    os.environ["REQUESTS_CA_BUNDLE"] = server.ca_bundle
    return WorkspaceClient(host=server.https_url, token=token or server.token)


def test_rest_over_tls_with_the_workspace_ca(server):
    context = ssl.create_default_context(cafile=server.ca_bundle)
    response = httpx.get(f"{server.https_url}/api/2.0/clusters/list", verify=context,
                         headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 200 and response.http_version == "HTTP/1.1"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.https_url}/_odoolake/health", verify=ssl.create_default_context())
    health = httpx.get(f"{server.https_url}/_odoolake/health", verify=context).json()
    assert set(health) == {"status", "workspace_id"}  # the engine's address is never advertised


def test_spark_connect_on_the_rest_port_with_a_token(server):
    out = spark_client(server, """
        out["one"] = spark.sql("SELECT 1 AS one").first()[0]
        spark.sql("CREATE SCHEMA IF NOT EXISTS fd")
        spark.createDataFrame([(1, "RIM")], "id int, agency string").write.mode("overwrite").saveAsTable("fd.made")
        out["rows"] = spark.table("fd.made").count()
    """, token=server.token)
    assert out == {"one": 1, "rows": 1}
    # The SDK, the SQL warehouse and the catalog see what the Spark Connect client wrote.
    w = tls_client(server)
    info = w.tables.get("main.fd.made")
    assert [c.name for c in info.columns] == ["id", "agency"] and info.table_type.value == "MANAGED"
    assert "made" in [t.name for t in w.tables.list("main", "fd")]
    assert "fd" in [s.name for s in w.schemas.list("main")]
    assert [c.name for c in w.catalogs.list()] == ["main"]
    result = w.statement_execution.execute_statement("SELECT COUNT(*) FROM made", LOCAL_WAREHOUSE_ID,
                                                     catalog="main", schema="fd", wait_timeout="30s")
    assert result.status.state == StatementState.SUCCEEDED and result.result.data_array == [["1"]]
    with pytest.raises(NotFound):
        w.tables.get("main.fd.missing")


def test_clients_that_exit_without_stop_exit_and_ml_is_refused_by_name(server):
    """Most scripts never call ``spark.stop()``: at exit PySpark asks the server to clean its ML cache. Answered as
    done, the client exited before the call's status arrived and grpc deadlocked finalizing it (7 hung exits in 25);
    refused, the client waits for the status. Each of several clients must exit, quietly."""
    script = """
        from pyspark.sql.connect.proto import Command
        out["one"] = spark.sql("SELECT 1").first()[0]
        command = Command()
        command.ml_command.get_cache_info.SetInParent()
        try:
            spark.client.execute_command(command)
        except Exception as exc:
            out["ml"] = str(exc)
    """
    for _ in range(6):
        proc = run_client(server, script, token=server.token, timeout=60)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["one"] == 1 and "Spark ML's estimators and models (pyspark.ml) are not supported" in out["ml"]
        assert proc.returncode == 0 and "GRPC Error received" not in proc.stderr


@pytest.mark.parametrize("token,extra,expected", [
    (None, "", "Missing credentials"),
    ("dapi-not-a-token", "", "Invalid access token"),
    ("<valid>", ";x-databricks-cluster-id=0000-000000-nope", "Unknown cluster id"),
])
def test_bad_credentials_are_refused_with_the_fix_named(server, token, extra, expected):
    out = spark_client(server, 'out["one"] = spark.sql("SELECT 1").first()[0]',
                       token=server.token if token == "<valid>" else token, extra=extra)
    assert expected in out["error"] and "one" not in out
    if token is None or token.startswith("dapi-"):
        assert "UNAUTHENTICATED" in out["error"] and "odoolake" in out["error"]


def test_the_local_cluster_id_is_accepted(server):
    out = spark_client(server, 'out["one"] = spark.sql("SELECT 1").first()[0]', token=server.token,
                       extra=";x-databricks-cluster-id=0101-000000-odoolake")
    assert out == {"one": 1}


def test_a_read_only_token_cannot_write_through_spark_connect(server):
    server.workspace.roles.set_role("reader@example.com", "read_only")
    token, _ = server.workspace.tokens.create("reader@example.com", "test")
    out = spark_client(server, """
        out["count"] = spark.sql("SELECT 1").count()
        try:
            spark.range(1).write.mode("overwrite").saveAsTable("default.by_reader")
        except Exception as exc:
            out["write"] = str(exc)
        try:
            spark.sql("SELECT * FROM text.`/etc/hostname`").collect()
        except Exception as exc:
            out["file"] = str(exc)
    """, token=token)
    assert out["count"] == 1
    assert "READ_ONLY_PRINCIPAL" in out["write"] and "PATH_OUTSIDE_LAKE" in out["file"]
    assert not tls_client(server).tables.exists("main.default.by_reader").table_exists


def test_statements_run_in_each_principals_own_session(server):
    server.workspace.roles.set_role("ana@example.com", "developer")
    server.workspace.roles.set_role("ben@example.com", "developer")
    ana = tls_client(server, server.workspace.tokens.create("ana@example.com", "t")[0])
    ben = tls_client(server, server.workspace.tokens.create("ben@example.com", "t")[0])

    def run(client, sql):
        return client.statement_execution.execute_statement(sql, LOCAL_WAREHOUSE_ID, wait_timeout="30s")

    assert run(ana, "CREATE TEMP VIEW anas AS SELECT 1 AS x").status.state == StatementState.SUCCEEDED
    assert run(ana, "SELECT x FROM anas").result.data_array == [["1"]]
    missing = run(ben, "SELECT x FROM anas")
    assert missing.status.state == StatementState.FAILED and "TABLE_OR_VIEW_NOT_FOUND" in missing.status.error.message
    # SET stays in the caller's session, and the result cache keys on it.
    query = "SELECT hour(to_utc_timestamp(TIMESTAMP '2026-01-01 00:00:00', current_timezone()))"
    assert run(ana, query).result.data_array == [["0"]]
    run(ana, "SET spark.sql.session.timeZone = Asia/Manila")
    assert run(ana, query).result.data_array == [["16"]]
    assert run(ben, query).result.data_array == [["0"]]


def test_a_volume_is_one_folder_for_the_files_api_spark_and_sql(server):
    """Found by an audit: the Files API kept /Volumes/x apart from where Spark read it, so an uploaded file read as
    an empty DataFrame and a file Spark wrote was not found by the Files API."""
    import io

    w = tls_client(server)
    base = "/Volumes/main/default/shared_vol"
    w.files.upload(f"{base}/in/sales.csv", io.BytesIO(b"id,amount\n1,10.50\n2,7.25\n"), overwrite=True)
    out = spark_client(server, f"""
        out["read"] = [tuple(r) for r in spark.read.csv("{base}/in/sales.csv", header=True).collect()]
        out["dbfs_scheme"] = spark.read.csv("dbfs:{base}/in/sales.csv", header=True).count()
        out["sql"] = spark.sql("SELECT count(*) FROM csv.`{base}/in/sales.csv`").collect()[0][0]
        spark.range(3).write.mode("overwrite").parquet("{base}/out/p")
    """, token=server.token)
    assert "error" not in out, out["error"]
    assert out["read"] == [["1", "10.50"], ["2", "7.25"]] and out["dbfs_scheme"] == 2
    assert out["sql"] == 3  # the header line is a row to csv.`…`
    written = [e.name for e in w.files.list_directory_contents(f"{base}/out/p")]
    assert written and all(name.endswith(".parquet") for name in written if not name.startswith("_"))
    assert [e.name for e in w.files.list_directory_contents(base)] == ["in", "out"]  # no layout files listed
    w.files.delete(f"{base}/in/sales.csv")


def test_files_outside_the_lake_are_refused_over_rest_for_non_admins(server):
    server.workspace.roles.set_role("dev2@example.com", "developer")
    dev = tls_client(server, server.workspace.tokens.create("dev2@example.com", "t")[0])
    result = dev.statement_execution.execute_statement("SELECT * FROM text.`/etc/hostname`", LOCAL_WAREHOUSE_ID,
                                                       wait_timeout="30s")
    assert result.status.state == StatementState.FAILED and result.status.sql_state == "42501"
    assert "PATH_OUTSIDE_LAKE" in result.status.error.message


def test_alpn_decides_where_a_tls_connection_goes():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    hellos = {}
    for name, protocols in (("grpc", ["grpc-exp", "h2"]), ("browser", ["h2", "http/1.1"]), ("sdk", None)):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if protocols:
            context.set_alpn_protocols(protocols)
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
        tls = context.wrap_socket(client, do_handshake_on_connect=False)
        tls.setblocking(False)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        hellos[name] = conn.recv(16384)
        for s in (tls, conn):
            s.close()
    listener.close()
    assert is_grpc(alpn_offers(hellos["grpc"]) or [])
    assert not is_grpc(alpn_offers(hellos["browser"]) or [])  # browsers offer h2 and http/1.1: REST
    assert alpn_offers(hellos["sdk"]) == []  # requests offers no ALPN: REST
    assert alpn_offers(b"\x16\x03\x01\x00") is None  # incomplete record


def test_unity_catalog_api_through_the_sdk(server):
    w = tls_client(server)
    schema = w.schemas.create(name="uc_api", catalog_name="main", comment="made by the SDK")
    assert schema.full_name == "main.uc_api" and w.schemas.get("main.uc_api").comment == "made by the SDK"
    out = spark_client(server, 'spark.sql("CREATE TABLE uc_api.t (id BIGINT, note STRING)"); out["ok"] = 1',
                       token=server.token)
    assert out == {"ok": 1}
    table = w.tables.get("main.uc_api.t")
    assert table.data_source_format.value == "DELTA" and table.storage_location.startswith("file://")
    assert [(c.name, c.type_text, c.position) for c in table.columns] == [("id", "bigint", 0), ("note", "string", 1)]
    assert w.tables.exists("main.uc_api.t").table_exists
    with pytest.raises(Exception, match="not empty"):
        w.schemas.delete("main.uc_api")
    w.tables.delete("main.uc_api.t")
    w.schemas.delete("main.uc_api")
    assert "uc_api" not in [s.name for s in w.schemas.list("main")]
    headers = {"Authorization": f"Bearer {server.token}"}
    refused = httpx.post(f"{server.url}/api/2.1/unity-catalog/catalogs", json={"name": "other"}, headers=headers)
    assert refused.status_code == 400 and "one catalog, 'main'" in refused.json()["message"]
    staging = httpx.post(f"{server.url}/api/2.1/unity-catalog/staging-tables",
                         json={"name": "x", "catalog_name": "main", "schema_name": "default"}, headers=headers)
    assert staging.status_code == 501 and staging.json()["error_code"] == "NOT_IMPLEMENTED"


def test_oauth_access_tokens_work_on_spark_connect(server):
    server.workspace.roles.set_role("etl-principal", "service_principal")
    secret = server.workspace.oauth.create_secret("etl-principal")
    answer = httpx.post(f"{server.url}/oidc/v1/token", auth=("etl-principal", secret),
                        data={"grant_type": "client_credentials", "scope": "all-apis"})
    assert answer.status_code == 200, answer.text
    out = spark_client(server, 'out["me"] = spark.sql("SELECT 1 AS one").first()[0]',
                       token=answer.json()["access_token"])
    assert out == {"me": 1}


def test_cli_commands_use_the_spark_connect_server_named_in_the_environment(server, tmp_path):
    """ODOOLAKE_SPARK_REMOTE sends a CLI command's Spark work to another server (here the workspace's front door,
    with a token): the command's own home has no engine and no tables, so the answer can only come from there."""
    spark_client(server, 'spark.sql("CREATE SCHEMA IF NOT EXISTS remote_check"); '
                         'spark.sql("CREATE OR REPLACE TABLE remote_check.answer AS SELECT 42 AS answer")',
                 token=server.token)
    env = {"PATH": "/usr/bin:/bin", "ODOOLAKE_HOME": str(tmp_path / "elsewhere"),
           "ODOOLAKE_SPARK_REMOTE": f"{server.spark_url};token={server.token}",
           "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": server.ca_bundle}
    proc = subprocess.run([sys.executable, "-m", "odoolake.cli.main", "lake", "sql",
                           "SELECT answer FROM remote_check.answer", "--output", "json"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["rows"] == [{"answer": 42}]
    assert not (tmp_path / "elsewhere" / "run" / "engine.json").exists()  # no local engine was started



def test_a_table_over_files_made_with_the_catalog_api_obeys_the_path_rule(server):
    """``spark.catalog.createTable(name, path=…)`` sends no SQL: its path is checked as ``CREATE TABLE … LOCATION``'s
    (before 2026-12-02 a developer could list /etc this way)."""
    server.workspace.roles.set_role("dev9@example.com", "developer")
    token, _ = server.workspace.tokens.create("dev9@example.com", "test")
    notes = server.workspace.paths.dbfs_to_local("dbfs:/shared/notes/today.txt")
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text("first line\n")
    out = spark_client(server, """
        from pyspark.sql.types import StringType, StructField, StructType
        schema = StructType([StructField("value", StringType())])
        for name, make in (
                ("etc", lambda: spark.catalog.createTable("default.etc_a", path="/etc", source="text", schema=schema)),
                ("etc_external", lambda: spark.catalog.createExternalTable("default.etc_b", path="/etc/ssl",
                                                                           source="text", schema=schema)),
                ("lake", lambda: spark.catalog.createTable("default.notes", path="dbfs:/shared/notes", source="text",
                                                           schema=schema))):
            try:
                make()
                out[name] = [r.value for r in spark.table(f"default.{name == 'lake' and 'notes' or 'etc_a'}").collect()]
            except Exception as exc:
                out[name] = str(exc)
    """, token=token)
    assert "PATH_OUTSIDE_LAKE" in out["etc"] and "'/etc' is outside them" in out["etc"]
    assert "PATH_OUTSIDE_LAKE" in out["etc_external"] and "/etc/ssl" in out["etc_external"]
    assert out["lake"] == ["first line"]
    assert not tls_client(server).tables.exists("main.default.etc_a").table_exists


def test_the_unity_catalog_api_registers_tables_only_over_the_lakes_files(server):
    """``POST /api/2.1/unity-catalog/tables`` obeys ``LAKE_ROOTS`` like ``CREATE TABLE … LOCATION``: a developer's
    EXTERNAL TEXT table over /etc would let every reader of tables read it (possible before 2026-12-02)."""
    server.workspace.roles.set_role("dev10@example.com", "developer")
    token, _ = server.workspace.tokens.create("dev10@example.com", "test")
    url = f"{server.url}/api/2.1/unity-catalog/tables"
    notes = server.workspace.paths.dbfs_to_local("dbfs:/shared/uc_notes/today.txt")
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text("noted\n")

    def create(name: str, location: str, who: str) -> httpx.Response:
        body = {"catalog_name": "main", "schema_name": "default", "name": name, "table_type": "EXTERNAL",
                "data_source_format": "TEXT", "storage_location": location}
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {who}"})

    for name, location in (("etc_uc", "/etc"), ("etc_uc_file", "file:///etc/ssl"),
                           ("escape_uc", str(server.workspace.paths.warehouse / ".." / ".."))):
        refused = create(name, location, token)
        assert refused.status_code == 403, refused.text
        body = refused.json()
        assert body["error_code"] == "PERMISSION_DENIED" and "[PATH_OUTSIDE_LAKE] dev10@example.com (developer)" \
            in body["message"] and "storage_location" in body["message"]
        assert not tls_client(server).tables.exists(f"main.default.{name}").table_exists
    escaping = create("escape_dbfs_uc", "dbfs:/../../etc", token)
    assert escaping.status_code == 400 and escaping.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "DBFS path escapes the DBFS root" in escaping.json()["message"], escaping.text
    made = create("notes_uc", "dbfs:/shared/uc_notes", token)
    assert made.status_code == 200, made.text
    out = spark_client(server, 'out["rows"] = [r.value for r in spark.table("default.notes_uc").collect()]',
                       token=token)
    assert out == {"rows": ["noted"]}
    admin = create("etc_uc_admin", "/etc/ssl", server.token)  # an admin may register any files
    assert admin.status_code == 200, admin.text
    tls_client(server).tables.delete("main.default.etc_uc_admin")


def test_dataframe_merge_into_names_a_catalog_table(server):
    """``df.mergeInto(name, …)`` writes a catalog table like ``MERGE INTO``: a read-only token is refused, a name that
    is a file path (``delta.`/tmp/x```) is not a table, and a developer's merge changes the table."""
    server.workspace.roles.set_role("dev11@example.com", "developer")
    developer, _ = server.workspace.tokens.create("dev11@example.com", "test")
    server.workspace.roles.set_role("reader11@example.com", "read_only")
    reader, _ = server.workspace.tokens.create("reader11@example.com", "test")
    outside = server.workspace.paths.home.parent / "merge_outside"
    script = f"""
        from pyspark.sql import functions as F
        updates = spark.createDataFrame([(1, "one!"), (3, "three")], "id BIGINT, note STRING").alias("u")
        def merge(target):
            (updates.mergeInto(target, F.expr(f"{{target.split('.')[-1]}}.id = u.id"))
                .whenMatched().updateAll().whenNotMatched().insertAll().merge())
        if TOKEN_ROLE == "developer":
            spark.sql("CREATE TABLE default.merged (id BIGINT, note STRING)")
            spark.sql("INSERT INTO default.merged VALUES (1, 'one'), (2, 'two')")
        for name, target in (("table", "default.merged"), ("path", "delta.`{outside}`")):
            try:
                merge(target)
                out[name] = "merged"
            except Exception as exc:
                out[name] = str(exc)
        out["rows"] = sorted(tuple(r) for r in spark.table("default.merged").collect())
    """
    wrote = spark_client(server, 'TOKEN_ROLE = "developer"\n' + textwrap.dedent(script), token=developer)
    assert wrote["table"] == "merged", wrote
    assert "TABLE_OR_VIEW_NOT_FOUND" in wrote["path"] and not outside.exists(), wrote
    assert wrote["rows"] == [[1, "one!"], [2, "two"], [3, "three"]]
    refused = spark_client(server, 'TOKEN_ROLE = "read_only"\n' + textwrap.dedent(script), token=reader)
    assert "READ_ONLY_PRINCIPAL" in refused["table"] and refused["rows"] == wrote["rows"], refused



def test_a_read_only_token_sends_no_code_to_run_in_the_engine(server):
    """A UDF runs inside the engine with the workspace's rights (files, the owner's profile): a read-only principal
    may query, not send code (before 2026-12-02 its UDF read /etc/hostname). A developer's UDF runs."""
    server.workspace.roles.set_role("reader9@example.com", "read_only")
    reader, _ = server.workspace.tokens.create("reader9@example.com", "test")
    server.workspace.roles.set_role("dev8@example.com", "developer")
    developer, _ = server.workspace.tokens.create("dev8@example.com", "test")
    script = """
        from pyspark.sql.functions import udf
        out["query"] = spark.sql("SELECT 40 + 2 AS n").first()[0]
        peek = udf(lambda _: "ran " + open("/etc/hostname").read().strip())
        attempts = {
            "udf": lambda: spark.range(1).select(peek("id")).first()[0],
            "udf_in_filter": lambda: spark.range(1).where(peek("id") != "x").count(),
            "register": lambda: spark.udf.register("peek", lambda: "ran"),
            "map_in_arrow": lambda: spark.range(1).mapInArrow(lambda batches: batches, "id long").count(),
        }
        for name, attempt in attempts.items():
            try:
                out[name] = str(attempt())
            except Exception as exc:
                out[name] = str(exc)
    """
    refused = spark_client(server, script, token=reader)
    assert refused["query"] == 42
    for name in ("udf", "udf_in_filter", "register", "map_in_arrow"):
        assert "CODE_FROM_READ_ONLY" in refused[name] and "reader9@example.com (read_only)" in refused[name], name
    ran = spark_client(server, script, token=developer)
    assert ran["udf"].startswith("ran ") and ran["udf_in_filter"] == "1" and ran["map_in_arrow"] == "1"


HOSTILE = """
    from pyspark.sql.connect.proto import commands_pb2, types_pb2

    def attempt(name, action):
        try:
            result = action()
            out[name] = "ran: " + repr(result)[:200]
        except Exception as exc:
            out[name] = str(exc)[:500]

    def nested_drop():
        cmd = commands_pb2.Command()
        cmd.sql_command.input.with_relations.root.with_relations.root.sql.query = "DROP TABLE main.default.keep_me"
        return spark.client.execute_command(cmd)

    def catalog_over_etc():
        cmd = commands_pb2.Command()
        create = cmd.sql_command.input.catalog.create_external_table
        create.table_name, create.path, create.source = "main.default.pw", "/etc", "text"
        create.schema.struct.fields.add(name="value", data_type=types_pb2.DataType(string=types_pb2.DataType.String()),
                                        nullable=True)
        return spark.client.execute_command(cmd)

    attempt("nested_drop", nested_drop)
    attempt("catalog_over_etc", catalog_over_etc)
    attempt("format_table", lambda: spark.read.table("text.`/etc/hostname`").collect())
    attempt("identifier", lambda: spark.sql("SELECT * FROM IDENTIFIER('text.`/etc/hostname`')").collect())
    attempt("identifier_param", lambda: spark.sql("SELECT * FROM IDENTIFIER(:p)",
                                                  args={"p": "text.`/etc/hostname`"}).collect())
    attempt("options_eq", lambda: spark.sql("CREATE TEMPORARY VIEW v1 USING text OPTIONS (path = '/etc/hostname')"))
    attempt("options_raw", lambda: spark.sql("CREATE TEMPORARY VIEW v2 USING text OPTIONS (path r'/etc/hostname')"))
    attempt("arrow", lambda: spark.sql("SELECT * FROM arrow.`/etc/hostname`").collect())
    attempt("brackets", lambda: spark.sql("SELECT " + "(" * 5000 + "1" + ")" * 5000).collect())
    attempt("brackets_ok", lambda: spark.sql("SELECT " + "(" * 200 + "1" + ")" * 200).first()[0])
    attempt("chain", lambda: spark.range(1).selectExpr(" + ".join(["1"] * 8300)).collect())
    attempt("hidden", lambda: spark.sql("SELECT 2 /*+ " + "(" * 20000 + "1" + ")" * 20000 + " /* */").collect())
    attempt("unicode_case", lambda: spark.sql("SELECT " + "caſe when true then " * 4200 + "1"
                                              + " end" * 4200).collect())
    # Each of these ended the engine host on Sail's default stack (before 2026-12-02):
    attempt("chain_ok", lambda: spark.range(1).selectExpr(" + ".join(["1"] * 600) + " AS n").first()[0])
    attempt("subqueries_ok", lambda: spark.sql("SELECT * FROM " + "(SELECT * FROM " * 300 + "range(7)"
                                               + ") t" * 300).count())
    attempt("case_ok", lambda: spark.sql("SELECT " + "CASE WHEN true THEN " * 600 + "5" + " END" * 600).first()[0])

    def filters():
        df = spark.range(3)
        for _ in range(300):
            df = df.filter("id >= 0")
        return df.count()

    attempt("filters_ok", filters)
    attempt("write_path_key", lambda: spark.range(1).write.format("delta").option("Path", "/tmp/outside").save())
    attempt("write_location", lambda: spark.range(1).write.format("delta").option("location", "/tmp/outside").save())
    out["still_up"] = spark.sql("SELECT 1 AS n").first()[0]
"""


def test_hostile_plans_are_refused_by_name_and_the_engine_stays_up(server):
    """Ways around the file, write and code rules found by review (2026-12-02), each refused by its rule's name;
    the engine answers afterwards. Read-only: nothing may write; developer: nothing may leave the lake."""
    admin = tls_client(server)
    made = spark_client(server, 'spark.sql("CREATE TABLE main.default.keep_me AS SELECT 1 AS n"); out["ok"] = 1',
                        token=server.token)
    assert made == {"ok": 1}
    server.workspace.roles.set_role("reader7@example.com", "read_only")
    reader, _ = server.workspace.tokens.create("reader7@example.com", "test")
    server.workspace.roles.set_role("dev7@example.com", "developer")
    developer, _ = server.workspace.tokens.create("dev7@example.com", "test")
    for token, role in ((reader, "read_only"), (developer, "developer")):
        out = spark_client(server, HOSTILE, token=token)
        assert out["still_up"] == 1, out
        write_rule = "READ_ONLY_PRINCIPAL" if role == "read_only" else "PATH_OUTSIDE_LAKE"
        if role == "read_only":  # a developer may drop tables
            assert "READ_ONLY_PRINCIPAL" in out["nested_drop"], out
            assert admin.tables.exists("main.default.keep_me").table_exists
        assert write_rule in out["catalog_over_etc"], (role, out)
        for name in ("format_table", "identifier", "identifier_param", "options_eq", "options_raw", "arrow"):
            assert "PATH_OUTSIDE_LAKE" in out[name], (role, name, out[name])
        assert f"The statement nests 5001 levels deep (brackets, CASEs and operators in one chain), past the " \
            f"{MAX_NESTING} the engine takes" in out["brackets"], (role, out["brackets"])
        assert f"The ExpressionString text holds more than {MAX_SQL_TOKENS} tokens" in out["chain"], out["chain"]
        assert f"The statement holds more than {MAX_SQL_TOKENS} tokens" in out["hidden"], out["hidden"]
        assert f"The statement holds more than {MAX_SQL_TOKENS} tokens" in out["unicode_case"], out["unicode_case"]
        assert out["brackets_ok"] == "ran: 1", out["brackets_ok"]
        assert (out["chain_ok"], out["subqueries_ok"], out["case_ok"], out["filters_ok"]) == \
            ("ran: 600", "ran: 7", "ran: 5", "ran: 3"), out
        for name in ("write_path_key", "write_location"):
            assert write_rule in out[name], (role, name, out[name])
    assert not admin.tables.exists("main.default.pw").table_exists


def test_a_spark_connect_interrupt_stops_the_query_and_names_it(server):
    """``interruptTag`` from another thread, as soon as the query is in the engine's door: the client is told which
    operation it stopped, the query ends with the stopped message, and the engine's work ends too."""
    import threading

    from odoolake.testing.waiting import wait_until
    from odoolake.workspace.engine.launcher import engine_status
    from odoolake.workspace.engine.proxy import STOPPED_MESSAGE

    spark = server.workspace.engine.session()
    outcome: list[str] = []

    def run() -> None:
        spark.addTag("long-query")  # tags are per thread
        try:
            spark.range(0, 200_000_000_000).selectExpr("SUM(id * 7 % 13) AS s").collect()  # minutes of work
            outcome.append("finished")
        except Exception as exc:
            outcome.append(str(exc))

    def operations() -> int:
        return (engine_status(server.workspace.paths.home) or {}).get("operations", -1)

    try:
        query = threading.Thread(target=run, daemon=True)
        query.start()
        wait_until(lambda: operations() >= 1, what="the query to reach the engine's door")
        assert len(spark.interruptTag("long-query")) == 1  # named, whether or not Sail had it yet
        query.join(timeout=120)
        assert not query.is_alive() and outcome and STOPPED_MESSAGE in outcome[0], outcome
        wait_until(lambda: operations() == 0, what="the interrupted query's engine work to end")
    finally:
        server.workspace.engine.stop_session(spark)


def served_certificate(server, protocols: list[str]) -> bytes:
    """The certificate a TLS handshake on the workspace's port gets, verified against the workspace's CA: ALPN
    ``h2`` alone goes to the engine's gRPC server, ``http/1.1`` to the REST app."""
    import socket

    context = ssl.create_default_context(cafile=server.ca_bundle)
    context.set_alpn_protocols(protocols)
    with socket.create_connection(("127.0.0.1", server.workspace.settings.port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        return conn.getpeercert(binary_form=True) or b""


def test_a_certificate_renewed_while_up_is_served_by_rest_and_spark_connect_without_a_restart(server):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from odoolake.workspace.frontdoor.tls import ensure_certificates

    def on_file() -> bytes:
        return x509.load_pem_x509_certificate(server.workspace.tls.server_cert.read_bytes()).public_bytes(Encoding.DER)

    before = on_file()
    assert served_certificate(server, ["http/1.1"]) == before
    assert served_certificate(server, ["h2"]) == before
    ensure_certificates(server.workspace.paths.home, ("renewed.example",))  # as another process renewing it would
    renewed = on_file()
    assert renewed != before
    assert server.front.refresh_certificates()  # the server's hourly check
    assert not server.front.refresh_certificates()  # and only once
    assert served_certificate(server, ["http/1.1"]) == renewed
    assert served_certificate(server, ["h2"]) == renewed  # the engine host follows the files at each handshake
    assert spark_client(server, """out["n"] = spark.sql("SELECT 41 + 1 AS n").first()["n"]""",
                        token=server.token) == {"n": 42}
