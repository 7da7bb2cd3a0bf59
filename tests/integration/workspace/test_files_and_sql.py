import base64
import decimal
import io

import httpx
import pytest
from databricks.sdk.errors import BadRequest, InvalidParameterValue, ResourceAlreadyExists
from databricks.sdk.service.compute import State
from databricks.sdk.service.sql import State as WarehouseState
from databricks.sdk.service.sql import StatementParameterListItem, StatementState
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

from odoolake.testing.waiting import wait_until
from odoolake.workspace.sql.statements import INLINE_LIMIT_EXCEEDED, LOCAL_WAREHOUSE_ID


def test_clusters_list_get_start(w):
    clusters = list(w.clusters.list())
    assert len(clusters) == 1 and clusters[0].state == State.RUNNING
    cid = clusters[0].cluster_id
    w.clusters.delete(cid).result()
    try:  # the cluster is every test's: it is started again whatever happens here
        assert w.clusters.get(cid).state == State.TERMINATED
    finally:
        w.clusters.start(cid).result()
    assert w.clusters.get(cid).state == State.RUNNING
    w.clusters.restart(cid).result()
    assert w.clusters.get(cid).state == State.RUNNING
    with pytest.raises(BadRequest, match=f"Cluster {cid} is the embedded engine.*cannot be edited"):
        w.clusters.edit(cid, spark_version="15.4.x-scala2.12", num_workers=4)
    with pytest.raises(BadRequest, match=f"Cluster {cid} is the embedded engine.*cannot be resized"):
        w.clusters.resize(cid, num_workers=4)
    with pytest.raises(BadRequest, match=f"Cluster {cid} is the embedded engine and cannot be permanently deleted"):
        w.clusters.permanent_delete(cid)
    with pytest.raises(InvalidParameterValue, match="Cluster 0000-000000-nosuch does not exist"):  # as Databricks
        w.clusters.resize("0000-000000-nosuch", num_workers=1)
    assert w.clusters.get(cid).state == State.RUNNING


def test_the_sdks_runtime_and_node_type_pickers_answer(w):
    """select_spark_version and select_node_type (how SDK users fill a job cluster) answered 501."""
    assert w.clusters.select_spark_version(long_term_support=True) == "16.4.x-scala2.12"
    assert w.clusters.select_spark_version(long_term_support=True, scala="2.13") == "17.3.x-scala2.13"
    assert w.clusters.select_node_type(local_disk=True) == "Standard_D4ds_v5"
    assert w.clusters.select_node_type(min_memory_gb=48) == "Standard_E8ds_v5"
    keys = {v.key for v in w.clusters.spark_versions().versions}
    assert w.clusters.get(next(iter(w.clusters.list())).cluster_id).spark_version in keys


def test_the_warehouse_stops_refuses_statements_and_starts_again(w):
    warehouse = next(iter(w.warehouses.list()))
    assert w.warehouses.get(warehouse.id).state == WarehouseState.RUNNING
    w.warehouses.stop(warehouse.id)
    try:  # the warehouse is every test's: it is started again whatever happens here
        assert w.warehouses.get(warehouse.id).state == WarehouseState.STOPPED
        with pytest.raises(BadRequest, match=f"Warehouse {warehouse.id} is stopped; start it first"):
            w.statement_execution.execute_statement("SELECT 1", warehouse.id, wait_timeout="30s")
    finally:
        w.warehouses.start(warehouse.id)
    assert w.warehouses.get(warehouse.id).state == WarehouseState.RUNNING
    done = w.statement_execution.execute_statement("SELECT 1", warehouse.id, wait_timeout="30s")
    assert done.status.state == StatementState.SUCCEEDED


def test_a_directory_is_exported_as_a_zip_of_its_notebooks_and_files(w):
    """It was refused ("is a directory"); Databricks exports a directory in SOURCE or AUTO format."""
    import base64
    import zipfile

    source = b"# Databricks notebook source\nprint('hi')\n"
    w.workspace.upload("/Shared/exp/etl/nb", source, format=ImportFormat.SOURCE, language=Language.PYTHON,
                       overwrite=True)
    w.workspace.upload("/Shared/exp/conf.json", b'{"a": 1}', format=ImportFormat.AUTO, overwrite=True)
    exported = w.workspace.export("/Shared/exp", format=ExportFormat.SOURCE)
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(exported.content)))
    assert sorted(archive.namelist()) == ["exp/conf.json", "exp/etl/nb.py"]
    assert archive.read("exp/etl/nb.py") == source and archive.read("exp/conf.json") == b'{"a": 1}'
    with pytest.raises(BadRequest, match="a directory is exported in SOURCE or AUTO format"):
        w.workspace.export("/Shared/exp", format=ExportFormat.JUPYTER)
    w.workspace.delete("/Shared/exp", recursive=True)


def test_workspace_upload_export_list_delete(w):
    source = b"# Databricks notebook source\nprint('hi')\n"
    w.workspace.upload("/Users/me/nb", source, format=ImportFormat.SOURCE, language=Language.PYTHON)
    assert w.workspace.get_status("/Users/me/nb").object_type == ObjectType.NOTEBOOK
    assert w.workspace.download("/Users/me/nb").read() == source
    exported = w.workspace.export("/Users/me/nb", format=ExportFormat.SOURCE)
    assert exported.content
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload("/Users/me/nb", source, format=ImportFormat.SOURCE, language=Language.PYTHON)
    assert [o.path for o in w.workspace.list("/Users/me")] == ["/Users/me/nb"]
    w.workspace.delete("/Users/me", recursive=True)
    assert not [o for o in w.workspace.list("/Users") if o.path == "/Users/me"]


def test_workspace_paths_cannot_traverse(server):
    headers = {"Authorization": f"Bearer {server.token}"}
    r = httpx.get(f"{server.url}/api/2.0/workspace/get-status", params={"path": "/Users/../../etc"}, headers=headers)
    assert r.status_code == 400 and "path" in r.json()["message"]
    r = httpx.get(f"{server.url}/api/2.0/dbfs/get-status", params={"path": "/../../etc/passwd"}, headers=headers)
    assert r.status_code == 400


def test_dbfs_round_trip_with_blocks(w):
    data = bytes(range(256)) * 9000  # > 1 MiB: create / add-block / close
    w.dbfs.upload("/tmp/odoolake/blob.bin", io.BytesIO(data), overwrite=True)
    assert w.dbfs.get_status("/tmp/odoolake/blob.bin").file_size == len(data)
    assert w.dbfs.download("/tmp/odoolake/blob.bin").read() == data
    assert [f.path for f in w.dbfs.list("/tmp/odoolake")] == ["/tmp/odoolake/blob.bin"]
    w.dbfs.move_("/tmp/odoolake/blob.bin", "/tmp/odoolake/moved.bin")
    w.dbfs.delete("/tmp/odoolake", recursive=True)
    assert not w.dbfs.exists("/tmp/odoolake")


def test_dbfs_read_reads_half_a_mebibyte_by_default_and_refuses_more_than_one(w):
    """As Databricks' dbfs/read: length defaults to 524288 and past 1 MiB is MAX_READ_SIZE_EXCEEDED (it was cut
    to 1 MiB without a word, and the default was 1 MiB)."""
    data = bytes(range(256)) * 8000  # 2 MB
    w.dbfs.upload("/tmp/odoolake-read/blob.bin", io.BytesIO(data), overwrite=True)
    first = w.dbfs.read("/tmp/odoolake-read/blob.bin")
    assert first.bytes_read == 524288 and base64.b64decode(first.data) == data[:524288]
    whole = w.dbfs.read("/tmp/odoolake-read/blob.bin", offset=524288, length=1024 * 1024)
    assert whole.bytes_read == 1024 * 1024 and base64.b64decode(whole.data) == data[524288:524288 + 1024 * 1024]
    with pytest.raises(BadRequest, match="reads at most 1048576") as err:
        w.dbfs.read("/tmp/odoolake-read/blob.bin", length=1024 * 1024 + 1)
    assert err.value.error_code == "MAX_READ_SIZE_EXCEEDED"
    assert w.dbfs.download("/tmp/odoolake-read/blob.bin").read() == data  # the SDK's 1 MiB pieces
    w.dbfs.delete("/tmp/odoolake-read", recursive=True)


def test_the_dbfs_api_refuses_volume_paths_and_names_the_files_api(w, server):
    """A dbfs/put to /Volumes/… wrote under the DBFS root, where neither Spark nor the Files API reads a volume."""
    with httpx.Client(headers={"Authorization": f"Bearer {server.token}"}) as http:
        for raw in ("/Volumes/main/default/raw/x.csv", "dbfs:/Volumes/main/default/raw/x.csv"):
            r = http.post(f"{server.url}/api/2.0/dbfs/put",
                          json={"path": raw, "contents": base64.b64encode(b"a,b\n").decode()})
            assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
            assert "use the Files API" in r.json()["message"]
    assert not (server.workspace.paths.dbfs_root / "Volumes").exists()
    w.dbfs.upload("/Volumes/main/default/raw/x.csv", io.BytesIO(b"a,b\n"), overwrite=True)  # the SDK: Files API
    assert w.files.download("/Volumes/main/default/raw/x.csv").contents.read() == b"a,b\n"
    w.files.delete("/Volumes/main/default/raw/x.csv")


def test_paths_inside_a_file_or_a_move_into_itself_are_named_errors(w, server):
    """They answered 500 with the server's own path (NotADirectoryError) and dropped the connection."""
    home = str(server.workspace.paths.home)
    w.dbfs.put("/r3/file", contents="eA==", overwrite=True)
    for make in (lambda: w.dbfs.put("/r3/file/child", contents="eA=="), lambda: w.dbfs.mkdirs("/r3/file/sub"),
                 lambda: w.dbfs.create("/r3/file/child"), lambda: w.dbfs.move("/r3/other", "/r3/file/x")):
        w.dbfs.put("/r3/other", contents="eA==", overwrite=True)
        with pytest.raises(ResourceAlreadyExists, match="A file already exists at /r3/file: /r3/file/") as err:
            make()
        assert home not in str(err.value)
    with pytest.raises(InvalidParameterValue, match=r"Cannot move /r3 into itself \(/r3/inner\)"):
        w.dbfs.move("/r3", "/r3/inner")
    assert w.dbfs.read("/r3/file").data == "eA=="  # nothing lost
    base = "/Volumes/main/default/raw/parents"
    w.files.upload(f"{base}/f.csv", io.BytesIO(b"a\n"), overwrite=True)
    with pytest.raises(ResourceAlreadyExists, match=f"A file already exists at {base}/f.csv"):
        w.files.upload(f"{base}/f.csv/g.csv", io.BytesIO(b"b\n"))
    with pytest.raises(ResourceAlreadyExists, match=f"A file already exists at {base}/f.csv"):
        w.files.create_directory(f"{base}/f.csv/sub")
    with httpx.Client(headers={"Authorization": f"Bearer {server.token}"}) as client:  # the connection stays usable
        for _ in range(5):
            assert client.post(f"{server.url}/api/2.0/dbfs/mkdirs", json={"path": "/r3/file/sub"}).status_code == 409
            assert client.get(f"{server.url}/api/2.0/dbfs/get-status", params={"path": "/r3/file"}).status_code == 200
    w.files.delete(f"{base}/f.csv")
    w.files.delete_directory(base)
    w.dbfs.delete("/r3", recursive=True)


def test_files_api_round_trip(w):
    w.files.upload("/Volumes/main/default/raw/a.csv", io.BytesIO(b"x,y\n1,2\n"), overwrite=True)
    assert w.files.download("/Volumes/main/default/raw/a.csv").contents.read() == b"x,y\n1,2\n"
    names = [e.name for e in w.files.list_directory_contents("/Volumes/main/default/raw")]
    assert names == ["a.csv"]
    w.files.delete("/Volumes/main/default/raw/a.csv")


def test_files_api_keeps_names_as_sent_and_overwrites_unless_told_not_to(w, server):
    """A name with a percent-escape in it is its own file (it was decoded twice and replaced ``Q1 report.csv``);
    an upload without ``overwrite`` replaces the file, as Databricks' Files API does."""
    base = "/Volumes/main/default/raw/names"
    w.files.upload(f"{base}/Q1 report.csv", io.BytesIO(b"the real report"), overwrite=True)
    from databricks.sdk.errors import AlreadyExists

    with pytest.raises(AlreadyExists, match="already exists"):
        w.files.upload(f"{base}/Q1 report.csv", io.BytesIO(b"kept"), overwrite=False)
    w.files.upload(f"{base}/Q1%20report.csv", io.BytesIO(b"another file"), overwrite=False)
    assert sorted(e.name for e in w.files.list_directory_contents(base)) == ["Q1 report.csv", "Q1%20report.csv"]
    assert w.files.download(f"{base}/Q1 report.csv").contents.read() == b"the real report"
    assert w.files.download(f"{base}/Q1%20report.csv").contents.read() == b"another file"
    w.files.create_directory(f"{base}/sub%20dir")
    assert "sub%20dir" in {e.name for e in w.files.list_directory_contents(base)}
    headers = {"Authorization": f"Bearer {server.token}"}
    answer = httpx.put(f"{server.url}/api/2.0/fs/files{base}/Q1%20report.csv", content=b"replaced", headers=headers)
    assert answer.status_code == 204  # no overwrite parameter: replaced
    assert w.files.download(f"{base}/Q1 report.csv").contents.read() == b"replaced"
    w.workspace.mkdirs("/Shared/names")
    r = httpx.post(f"{server.url}/api/2.0/workspace-files/import-file/Shared/names/a%2520b.txt", content=b"x",
                   headers=headers)
    assert r.status_code == 200
    assert [o.path for o in w.workspace.list("/Shared/names")] == ["/Shared/names/a%20b.txt"]


def test_files_api_writes_only_into_a_catalog_and_schema_that_exist(w):
    """A typo in the catalog (``mian``) made a folder no table or Spark read would find."""
    from databricks.sdk.errors import NotFound

    with pytest.raises(NotFound, match=r"Catalog 'mian' does not exist .*this workspace has main"):
        w.files.upload("/Volumes/mian/finance/landing/gl_2026_11.csv", io.BytesIO(b"a\n"))
    with pytest.raises(NotFound, match=r"Schema 'main.finanse' does not exist"):
        w.files.create_directory("/Volumes/main/finanse/landing")
    assert "mian" not in {e.name for e in w.files.list_directory_contents("/Volumes")}


def test_files_api_metadata_and_directories(w):
    from databricks.sdk.errors import NotFound

    base = "/Volumes/main/default/raw/dirs"
    w.files.create_directory(f"{base}/inner")
    w.files.get_directory_metadata(f"{base}/inner")  # exists: no error
    w.files.upload(f"{base}/inner/b.csv", io.BytesIO(b"a,b\n1,2\n3,4\n"), overwrite=True)
    meta = w.files.get_metadata(f"{base}/inner/b.csv")
    assert meta.content_length == 12 and meta.last_modified
    assert [e.name for e in w.files.list_directory_contents(base)] == ["inner"]
    with pytest.raises(BadRequest, match=f"The directory {base}/inner is not empty"):  # as Databricks: kept
        w.files.delete_directory(f"{base}/inner")
    assert w.files.download(f"{base}/inner/b.csv").contents.read() == b"a,b\n1,2\n3,4\n"  # nothing lost
    w.files.delete(f"{base}/inner/b.csv")
    w.files.delete_directory(f"{base}/inner")
    with pytest.raises(NotFound):
        w.files.get_directory_metadata(f"{base}/inner")
    with pytest.raises(NotFound):
        w.files.get_metadata(f"{base}/inner/b.csv")


def test_seed_gold_query_through_the_warehouse(w, server):
    spark = server.workspace.engine.session()
    spark.sql("CREATE SCHEMA IF NOT EXISTS gold")
    spark.createDataFrame([("RIM", 2026, 1, 100.5), ("RIM", 2026, 1, 0.25), ("BOM", 2026, 1, 7.0),
                           ("BOM", 2025, 12, 1.0)], "agency string, year int, month int, withholding_tax double") \
        .write.format("delta").mode("overwrite").saveAsTable("gold.bir_transactions")
    server.workspace.engine.stop_session(spark)
    warehouse = next(iter(w.warehouses.list()))
    result = w.statement_execution.execute_statement(
        warehouse_id=warehouse.id, wait_timeout="30s",
        statement="SELECT agency, SUM(withholding_tax) AS total_wht FROM gold.bir_transactions "
                  "WHERE year = :year AND month = :month GROUP BY agency ORDER BY agency",
        parameters=[StatementParameterListItem(name="year", value="2026", type="INT"),
                    StatementParameterListItem(name="month", value="1", type="INT")])
    assert result.status.state == StatementState.SUCCEEDED
    assert result.result.data_array == [["BOM", "7.0"], ["RIM", "100.75"]]
    assert [c.name for c in result.manifest.schema.columns] == ["agency", "total_wht"]


def test_statement_injection_is_a_bound_value(w):
    warehouse = next(iter(w.warehouses.list())).id
    r = w.statement_execution.execute_statement(
        warehouse_id=warehouse, wait_timeout="30s", statement="SELECT :v AS v",
        parameters=[StatementParameterListItem(name="v", value="x'; DROP TABLE gold.bir_transactions; --")])
    assert r.result.data_array == [["x'; DROP TABLE gold.bir_transactions; --"]]


def test_failed_statement_is_200_failed_with_the_engine_message(w):
    warehouse = next(iter(w.warehouses.list())).id
    r = w.statement_execution.execute_statement(warehouse_id=warehouse, statement="SELECT * FROM no_such_table",
                                                wait_timeout="30s")
    assert r.status.state == StatementState.FAILED
    assert "no_such_table" in r.status.error.message


def test_async_statement_polls_to_success_and_chunks(w):
    warehouse = next(iter(w.warehouses.list())).id
    r = w.statement_execution.execute_statement(warehouse_id=warehouse, statement="SELECT id FROM range(12000)",
                                                wait_timeout="0s")
    assert r.status.state in (StatementState.PENDING, StatementState.RUNNING, StatementState.SUCCEEDED)

    def finished():
        got = w.statement_execution.get_statement(r.statement_id)
        return got if got.status.state == StatementState.SUCCEEDED else None

    got = wait_until(finished, what="the statement to succeed")  # 200 quick polls were too few on a loaded machine
    assert got.manifest.total_row_count == 12000 and got.manifest.total_chunk_count == 3
    second = w.statement_execution.get_statement_result_chunk_n(r.statement_id, 1)
    assert second.row_offset == 5000 and len(second.data_array) == 5000


def test_a_cancelled_statement_stops_and_byte_limit_truncates(w, server):
    from odoolake.workspace.engine.launcher import engine_status

    warehouse = next(iter(w.warehouses.list())).id
    slow = w.statement_execution.execute_statement(
        warehouse_id=warehouse, wait_timeout="0s",
        statement="SELECT SUM(id * 7 % 13) FROM range(0, 200000000000)")  # minutes of work for the engine
    wait_until(lambda: engine_status(server.workspace.paths.home)["operations"] >= 1,
               what="the slow statement's query to run in the engine")
    w.statement_execution.cancel_execution(slow.statement_id)
    stopped = wait_until(lambda: (got := w.statement_execution.get_statement(slow.statement_id)).status.state
                         not in (StatementState.PENDING, StatementState.RUNNING) and got,
                         what="the cancelled statement to stop")
    assert stopped.status.state == StatementState.CANCELED
    # and the engine's work ended too (the query alone would run for minutes)
    wait_until(lambda: engine_status(server.workspace.paths.home)["operations"] == 0,
               what="the cancelled statement's engine operation to end")
    quick = w.statement_execution.execute_statement(warehouse_id=warehouse, wait_timeout="30s", statement="SELECT 1")
    assert quick.status.state == StatementState.SUCCEEDED  # the engine is free again

    whole = w.statement_execution.execute_statement(warehouse_id=warehouse, wait_timeout="30s",
                                                    statement="SELECT id FROM range(12000)")
    assert whole.manifest.total_row_count == 12000 and not whole.manifest.truncated
    cut = w.statement_execution.execute_statement(warehouse_id=warehouse, wait_timeout="30s", byte_limit=1000,
                                                  statement="SELECT id FROM range(12000)")
    assert cut.status.state == StatementState.SUCCEEDED and cut.manifest.truncated
    rows = [int(r[0]) for r in cut.result.data_array]
    assert 0 < len(rows) < 12000 and rows == list(range(len(rows)))  # as many rows as fit, from the first
    assert cut.manifest.total_row_count == len(rows) and cut.manifest.total_byte_count <= 1000
    # Past 25 MiB without a byte_limit, an INLINE statement fails, as on Databricks (it answered part of the rows)
    big = w.statement_execution.execute_statement(warehouse_id=warehouse, wait_timeout="50s",
                                                  statement="SELECT repeat('x', 1000) AS s FROM range(30000)")
    assert big.status.state == StatementState.FAILED and big.result is None
    assert big.status.error.message == INLINE_LIMIT_EXCEEDED and "26214400 bytes" in INLINE_LIMIT_EXCEEDED


def _download(link: str) -> bytes:
    """What a client does with an external link: a GET with NO workspace token (the link is the credential)."""
    answer = httpx.get(link)
    assert answer.status_code == 200, answer.text
    return answer.content


def test_external_links_arrow_stream_through_the_sdk_in_several_chunks(w, server, monkeypatch):
    """``disposition=EXTERNAL_LINKS, format=ARROW_STREAM``: the manifest lists the chunks, each chunk's link is
    fetched without the token and is an Arrow IPC stream; walking ``next_chunk_index`` gives every row once, in order.
    The oracle is Python's own arithmetic on range(n), not the engine."""
    import pyarrow as pa
    from databricks.sdk.service.sql import Disposition, Format

    monkeypatch.setattr(server.workspace.statements.files, "chunk_bytes", 64 * 1024)  # many chunks from few rows
    n = 20_000
    warehouse = next(iter(w.warehouses.list())).id
    r = w.statement_execution.execute_statement(
        warehouse_id=warehouse, wait_timeout="30s", disposition=Disposition.EXTERNAL_LINKS, format=Format.ARROW_STREAM,
        statement=f"SELECT id, id * 3 AS thrice, CAST(id AS DECIMAL(12,2)) / 4 AS quarter FROM range({n}) ORDER BY id")
    assert r.status.state == StatementState.SUCCEEDED
    manifest = r.manifest
    assert manifest.format == Format.ARROW_STREAM and manifest.total_row_count == n
    assert manifest.total_chunk_count > 2 and len(manifest.chunks) == manifest.total_chunk_count
    assert [c.row_offset for c in manifest.chunks] == \
        [sum(c.row_count for c in manifest.chunks[:i]) for i in range(len(manifest.chunks))]
    assert r.result.data_array is None
    link = r.result.external_links[0]
    assert link.chunk_index == 0 and link.row_offset == 0 and link.next_chunk_index == 1
    assert link.next_chunk_internal_link == f"/api/2.0/sql/statements/{r.statement_id}/result/chunks/1"
    assert link.external_link.startswith(server.url) and server.token not in link.external_link
    tables, index = [], 0
    while True:
        body = _download(link.external_link)
        assert len(body) == link.byte_count == manifest.chunks[index].byte_count
        table = pa.ipc.open_stream(body).read_all()
        assert table.num_rows == link.row_count
        tables.append(table)
        if link.next_chunk_index is None:
            break
        index = link.next_chunk_index
        link = w.statement_execution.get_statement_result_chunk_n(r.statement_id, index).external_links[0]
        assert link.chunk_index == index
    assert index == manifest.total_chunk_count - 1
    whole = pa.concat_tables(tables)
    assert whole.column("id").to_pylist() == list(range(n))
    assert whole.column("thrice").to_pylist() == [3 * i for i in range(n)]
    assert pa.types.is_decimal(whole.schema.field("quarter").type)
    assert whole.column("quarter")[n - 1].as_py() == decimal.Decimal(n - 1) / 4


def test_external_links_csv_and_json_array_carry_the_inline_strings(w):
    """CSV (RFC 4180, NULL as ``null``, the header in the first chunk) and JSON_ARRAY chunk files, written out by hand
    from the API reference's description."""
    from databricks.sdk.service.sql import Disposition, Format

    warehouse = next(iter(w.warehouses.list())).id
    sql = "SELECT * FROM VALUES (1, 'a,b', NULL), (2, 'say \"hi\"', 2.5) AS t(id, s, x) ORDER BY id"
    run = lambda fmt: w.statement_execution.execute_statement(  # noqa: E731
        warehouse_id=warehouse, wait_timeout="30s", statement=sql, disposition=Disposition.EXTERNAL_LINKS, format=fmt)
    csv = run(Format.CSV)
    assert csv.manifest.format == Format.CSV and csv.manifest.total_row_count == 2
    assert _download(csv.result.external_links[0].external_link) == \
        b'id,s,x\r\n1,"a,b",null\r\n2,"say ""hi""",2.5\r\n'
    json_array = run(Format.JSON_ARRAY)
    assert httpx.get(json_array.result.external_links[0].external_link).json() == \
        [["1", "a,b", None], ["2", 'say "hi"', "2.5"]]
    limited = w.statement_execution.execute_statement(
        warehouse_id=warehouse, wait_timeout="30s", statement="SELECT id FROM range(10) ORDER BY id", row_limit=4,
        disposition=Disposition.EXTERNAL_LINKS, format=Format.CSV)
    assert limited.manifest.truncated and limited.manifest.total_row_count == 4
    assert _download(limited.result.external_links[0].external_link) == b"id\r\n0\r\n1\r\n2\r\n3\r\n"
    empty = w.statement_execution.execute_statement(
        warehouse_id=warehouse, wait_timeout="30s", statement="SELECT id FROM range(0)",
        disposition=Disposition.EXTERNAL_LINKS, format=Format.ARROW_STREAM)
    assert empty.manifest.total_chunk_count == 0 and empty.manifest.total_row_count == 0
    assert not empty.result or not empty.result.external_links


def test_result_links_expire_and_go_with_their_statement(w, server, monkeypatch):
    """An expired link is 403 naming its statement and chunk (and where a fresh one comes from); a fresh link comes
    from result/chunks/{n}; once the statement is closed its links are 404 and its files are gone."""
    from databricks.sdk.service.sql import Disposition, Format

    statements = server.workspace.statements
    warehouse = next(iter(w.warehouses.list())).id
    monkeypatch.setattr(statements.links, "seconds", 0)  # every link minted now is already expired
    r = w.statement_execution.execute_statement(
        warehouse_id=warehouse, wait_timeout="30s", statement="SELECT 7 AS seven",
        disposition=Disposition.EXTERNAL_LINKS, format=Format.ARROW_STREAM)
    stale = r.result.external_links[0].external_link
    refused = httpx.get(stale)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert f"chunk 0 of statement {r.statement_id} expired" in refused.json()["message"]
    assert f"/api/2.0/sql/statements/{r.statement_id}/result/chunks/0" in refused.json()["message"]
    monkeypatch.undo()
    fresh = w.statement_execution.get_statement_result_chunk_n(r.statement_id, 0).external_links[0]
    assert fresh.external_link != stale and len(_download(fresh.external_link)) == fresh.byte_count
    directory = statements.files.directory(r.statement_id)
    assert directory.is_dir()
    w.api_client.do("DELETE", f"/api/2.0/sql/statements/{r.statement_id}")
    assert not directory.exists()
    gone = httpx.get(fresh.external_link)
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    link_id = fresh.external_link.rsplit("/", 1)[1]
    assert gone.json()["message"].startswith(f"Result link {link_id} does not exist")
    with pytest.raises(BadRequest, match="format ARROW_STREAM requires disposition EXTERNAL_LINKS"):
        w.statement_execution.execute_statement(warehouse_id=warehouse, statement="SELECT 1",
                                                format=Format.ARROW_STREAM)


def test_bad_wait_timeout_is_400(w):
    warehouse = next(iter(w.warehouses.list())).id
    with pytest.raises(BadRequest, match="wait_timeout"):
        w.statement_execution.execute_statement(warehouse_id=warehouse, statement="SELECT 1", wait_timeout="3s")


def test_workspace_files_import_file(server, w):
    headers = {"Authorization": f"Bearer {server.token}"}
    nb = b"# Databricks notebook source\nprint(1)\n"
    r = httpx.post(f"{server.url}/api/2.0/workspace-files/import-file/Shared/bundle/files/nb.py",
                   params={"overwrite": "true"}, content=nb, headers=headers)
    assert r.status_code == 200
    assert w.workspace.get_status("/Shared/bundle/files/nb").object_type == ObjectType.NOTEBOOK
    r = httpx.post(f"{server.url}/api/2.0/workspace-files/import-file/Shared/bundle/files/conf.json",
                   content=b'{"a": 1}', headers=headers)
    assert w.workspace.get_status("/Shared/bundle/files/conf.json").object_type == ObjectType.FILE
    got = httpx.get(f"{server.url}/api/2.0/workspace-files/Shared/bundle/files/conf.json", headers=headers)
    assert got.content == b'{"a": 1}'


def test_repeated_read_only_statements_are_answered_from_the_result_cache_until_a_table_changes(w, server):
    wh = next(iter(w.warehouses.list())).id
    run = lambda sql: w.statement_execution.execute_statement(statement=sql, warehouse_id=wh,  # noqa: E731
                                                              wait_timeout="30s")
    run("CREATE OR REPLACE TABLE default.cache_demo AS SELECT 1 AS x")
    cache = server.workspace.statements.cache
    query = "SELECT COUNT(*) AS n FROM default.cache_demo"
    assert run(query).result.data_array == [["1"]]
    entries = len(cache._entries)
    assert run(query).result.data_array == [["1"]] and len(cache._entries) == entries  # a hit, not a new entry
    run("INSERT INTO default.cache_demo VALUES (2)")
    assert run(query).result.data_array == [["2"]]  # the commit changed the table: recomputed
    assert run("SELECT current_timestamp() AS t").status.state.value == "SUCCEEDED"
    assert cache.key("me", "SELECT current_timestamp()", None, None, None, None, 1, (), {}) is None  # never cached
    assert cache.key("me", "DELETE FROM default.cache_demo", None, None, None, None, 1, (), {}) is None


@pytest.mark.parametrize("statement", [
    "SELECT curdate()", "SELECT localtimestamp()", "SELECT unix_timestamp()", "SELECT current_date()",
    "SELECT date_sub(CURRENT_DATE, 7)", "SELECT now()", "SELECT uniform(1, 10)", "SELECT randstr(4)",
    "SELECT input_file_name() FROM default.cache_demo", "SELECT spark_partition_id() FROM default.cache_demo"])
def test_statements_whose_answer_changes_without_a_table_changing_are_never_cached(server, statement):
    assert server.workspace.statements.cache.key("me", statement, None, None, None, None, 1, (), {}) is None


def test_a_table_of_plain_files_is_recomputed_when_a_file_lands(w, server):
    """A CSV table has no Delta log whose time changes: the files themselves are what the cache keys on."""
    landing = server.workspace.paths.dbfs_root / "landing" / "remittances"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "day1.csv").write_text("x\n1\n2\n")
    run = lambda sql: w.statement_execution.execute_statement(statement=sql, warehouse_id=LOCAL_WAREHOUSE_ID,  # noqa: E731
                                                              wait_timeout="30s")
    created = run("CREATE TABLE default.landed_csv (x INT) USING csv OPTIONS (header 'true') "
                  "LOCATION 'dbfs:/landing/remittances'")
    assert created.status.state.value == "SUCCEEDED", created.status
    query = "SELECT COUNT(*) AS n FROM default.landed_csv"
    assert run(query).result.data_array == [["2"]]
    assert run(query).result.data_array == [["2"]]
    (landing / "day2.csv").write_text("x\n3\n4\n5\n")
    assert run(query).result.data_array == [["5"]]
    (landing / "day1.csv").write_text("x\n1\n")  # rewritten in place: the directory itself does not change
    assert run(query).result.data_array == [["4"]]


def test_jupyter_and_raw_imports_round_trip_and_dbc_html_are_refused(w, server):
    import base64
    import json

    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Remittances\n", "by agency"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["x = 1\n", "print(x + 1)"]}]}
    w.workspace.mkdirs("/Shared/fmt")
    w.workspace.import_("/Shared/fmt/nb", content=base64.b64encode(json.dumps(notebook).encode()).decode(),
                        format=ImportFormat.JUPYTER)
    status = w.workspace.get_status("/Shared/fmt/nb")
    assert status.object_type == ObjectType.NOTEBOOK and status.language == Language.PYTHON
    source = base64.b64decode(w.workspace.export("/Shared/fmt/nb", format=ExportFormat.SOURCE).content).decode()
    assert source.startswith("# Databricks notebook source\n")
    assert "# MAGIC %md # Remittances\n# MAGIC by agency" in source and "x = 1\nprint(x + 1)" in source
    back = json.loads(base64.b64decode(w.workspace.export("/Shared/fmt/nb", format=ExportFormat.JUPYTER).content))
    assert [(c["cell_type"], "".join(c["source"]).strip()) for c in back["cells"]] == [
        ("markdown", "# Remittances\nby agency"), ("code", "x = 1\nprint(x + 1)")]

    raw = b"# Databricks notebook source\nprint('kept as a file')\n"
    w.workspace.import_("/Shared/fmt/plain.py", content=base64.b64encode(raw).decode(), format=ImportFormat.RAW)
    assert w.workspace.get_status("/Shared/fmt/plain.py").object_type == ObjectType.FILE
    assert w.workspace.download("/Shared/fmt/plain.py").read() == raw

    auth = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(f"{server.url}/api/2.0/workspace/import", headers=auth, json={
        "path": "/Shared/fmt/archive", "format": "DBC", "content": base64.b64encode(b"PK").decode()})
    assert r.status_code == 501 and "DBC" in r.json()["message"]
    for fmt in ("HTML", "DBC"):
        r = httpx.get(f"{server.url}/api/2.0/workspace/export", headers=auth,
                      params={"path": "/Shared/fmt/nb", "format": fmt})
        assert r.status_code == 501 and f"format {fmt}" in r.json()["message"]
