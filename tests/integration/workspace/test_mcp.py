"""The MCP server driven by the MCP SDK's own client: in-process, over stdio, and over streamable HTTP with bearer
tokens, against the local workspace server."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys

import pytest

from odoolake.mcp.server import build_server
from odoolake.testing.waiting import wait_until
from odoolake.workspace.sql.readonly import NotReadOnly, check_read_only

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def lake(w):
    """A small gold table and a one-task job in the shared workspace."""
    from databricks.sdk.service.jobs import NotebookTask, Task
    from databricks.sdk.service.workspace import ImportFormat, Language

    wh = next(iter(w.warehouses.list())).id
    for sql in ("CREATE SCHEMA IF NOT EXISTS gold",
                "CREATE OR REPLACE TABLE gold.mcp_bir AS SELECT * FROM VALUES ('RIM', 2026, 10, 1200.5), "
                "('BOM', 2026, 10, 300.25) AS t(agency, year, month, withholding_tax)"):
        assert w.statement_execution.execute_statement(statement=sql, warehouse_id=wh,
                                                       wait_timeout="30s").status.state.value == "SUCCEEDED"
    w.workspace.mkdirs("/Shared/mcp")
    source = "# Databricks notebook source\ndbutils.notebook.exit('closed 2026-10')\n"
    w.workspace.import_("/Shared/mcp/close", content=base64.b64encode(source.encode()).decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    job = w.jobs.create(name="mcp month close", tasks=[Task(task_key="close",
                                                           notebook_task=NotebookTask(notebook_path="/Shared/mcp/close"))])
    return job.job_id


def test_read_only_guard():
    assert check_read_only("SELECT 'drop table x' AS s;") == "SELECT 'drop table x' AS s"
    assert check_read_only("with t as (select 1) select * from t") == "with t as (select 1) select * from t"
    for bad, why in [("DROP TABLE gold.x", "not DROP"), ("SELECT 1; DROP TABLE gold.x", "one statement"),
                     ("INSERT INTO gold.x VALUES (1)", "not INSERT"),
                     ("WITH t AS (SELECT 1) INSERT INTO gold.x SELECT * FROM t", "contains INSERT"),
                     ("select 1 -- harmless\n; delete from gold.x", "one statement"), ("  ", "empty")]:
        with pytest.raises(NotReadOnly, match=why):
            check_read_only(bad)


async def test_tools_in_process(w, lake):
    from mcp import Client

    async with Client(build_server(lambda token: w)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"list_tables", "describe_table", "query", "list_jobs", "run_job", "get_run",
                         "predict_withholding_tax", "bir_deadlines"}

        rows = await client.call_tool("query", {"sql": "SELECT agency, withholding_tax FROM gold.mcp_bir ORDER BY agency"})
        assert not rows.is_error
        assert rows.structured_content["rows"] == [["BOM", 300.25], ["RIM", 1200.5]]
        refused = await client.call_tool("query", {"sql": "DROP TABLE gold.mcp_bir"})
        assert refused.is_error and "Refused: only SELECT" in refused.content[0].text
        failed = await client.call_tool("query", {"sql": "SELECT nope FROM gold.mcp_bir"})
        assert failed.is_error and "SQL failed" in failed.content[0].text

        tables = (await client.call_tool("list_tables", {"schema": "gold"})).structured_content["result"]
        assert {"name": "gold.mcp_bir", "schema_name": "gold"} in tables
        schema = (await client.call_tool("describe_table", {"name": "gold.mcp_bir"})).structured_content
        assert schema["rows"] == 2 and [c["name"] for c in schema["columns"]] == ["agency", "year", "month",
                                                                                  "withholding_tax"]
        bad_name = await client.call_tool("describe_table", {"name": "gold.x; drop"})
        assert bad_name.is_error and "is not a table name" in bad_name.content[0].text
        resource = await client.read_resource("lake://tables/gold.mcp_bir/schema")
        assert '"withholding_tax"' in resource.contents[0].text

        jobs = (await client.call_tool("list_jobs", {"name_contains": "mcp"})).structured_content["result"]
        assert [j["job_id"] for j in jobs] == [lake]
        run = (await client.call_tool("run_job", {"job": "mcp month close"})).structured_content
        assert run["state"] == "TERMINATED" and run["result"] == "SUCCESS"
        assert run["tasks"][0]["output"] == "closed 2026-10"
        again = (await client.call_tool("get_run", {"run_id": run["run_id"]})).structured_content
        assert again["result"] == "SUCCESS"
        unknown = await client.call_tool("run_job", {"job": "no such job"})
        assert unknown.is_error and "No job named 'no such job'" in unknown.content[0].text

        deadlines = (await client.call_tool("bir_deadlines", {"today": "2026-10-01", "within_days": 45,
                                                              "form": "1601-EQ"})).structured_content["result"]
        assert [(d["form"], d["period"]) for d in deadlines] == [("1601-EQ", "2026Q3")]
        missing = await client.call_tool("predict_withholding_tax", {"agency": "RIM", "period": "2026-11",
                                                                     "endpoint": "no-endpoint"})
        assert missing.is_error and "Serving endpoint 'no-endpoint'" in missing.content[0].text


async def test_stdio(server, lake):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "odoolake.cli.main", "mcp"],
                                   env={"DATABRICKS_HOST": server.url, "DATABRICKS_TOKEN": server.token})
    async with Client(params) as client:
        result = await client.call_tool("query", {"sql": "SELECT COUNT(*) AS n FROM gold.mcp_bir"})
        assert not result.is_error and result.structured_content["rows"] == [[2]]


async def test_streamable_http_with_bearer_tokens(server, lake, tmp_path):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = (tmp_path / "mcp.err").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "odoolake.cli.main", "mcp", "--http", "--port", str(port)],
                            env={**__import__("os").environ, "DATABRICKS_HOST": server.url,
                                 "DATABRICKS_TOKEN": server.token}, stdout=subprocess.DEVNULL,
                            stderr=err)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the MCP HTTP server exited with code {proc.returncode}")
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True

        wait_until(listening, what="the MCP HTTP server to listen")
        headers = {"Authorization": f"Bearer {server.token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("query", {"sql": "SELECT agency FROM gold.mcp_bir ORDER BY agency"})
            assert result.structured_content["rows"] == [["BOM"], ["RIM"]]
        async with httpx2.AsyncClient(timeout=10) as http:
            anonymous = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                        headers={"Accept": "application/json, text/event-stream"})
            wrong = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                    headers={"Authorization": "Bearer dapi-wrong",
                                             "Accept": "application/json, text/event-stream"})
        assert anonymous.status_code == 401 and wrong.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        err.close()
    # the server says nothing alarming at start (the SDK's warning that tokens were not checked against the URL,
    # twice, although every token is checked with the workspace)
    assert "validate_token_resource" not in (tmp_path / "mcp.err").read_text()
