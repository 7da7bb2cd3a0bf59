"""The odoolake MCP server (``mcp`` 2.x ``MCPServer``), a client of the workspace REST API through the SDK.

Tools return structured results. Every failure reaches the client as a ``ToolError`` with a message the
user can act on. Over streamable HTTP, each request's bearer token is checked against the workspace
(``scim/v2/Me``) and then used for that request's API calls, so the caller's rights apply. The SQL tool is
read-only whoever calls it: it refuses DDL and DML before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from odoolake.workspace.jobs.lifecycle import latest_task_runs
from odoolake.workspace.sql.readonly import NotReadOnly, check_read_only

DEFAULT_SCHEMAS = ("gold", "silver", "bronze")
TABLE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*){0,2}$")
NUMERIC = {"BYTE": int, "SHORT": int, "INT": int, "LONG": int, "FLOAT": float, "DOUBLE": float, "DECIMAL": float}
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class TableResult(BaseModel):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool


class TableInfo(BaseModel):
    name: str
    schema_name: str


class ColumnInfo(BaseModel):
    name: str
    type: str


class TableSchema(BaseModel):
    name: str
    columns: list[ColumnInfo]
    rows: int


class JobInfo(BaseModel):
    job_id: int
    name: str
    schedule: str | None
    paused: bool | None


class TaskSummary(BaseModel):
    task_key: str
    state: str
    result: str | None
    message: str | None
    output: str | None = None


class RunSummary(BaseModel):
    run_id: int
    job_id: int | None
    state: str
    result: str | None
    message: str | None
    url: str | None
    tasks: list[TaskSummary]


class Prediction(BaseModel):
    agency: str
    period: str
    predicted_withholding_tax: float  # the median forecast (p50)
    low: float  # p10
    high: float  # p90
    origin: str  # the last closed month the forecast used
    method: str
    served_model: str | None
    endpoint: str


class Deadline(BaseModel):
    form: str
    period: str
    due: str
    statutory_due: str
    moved: bool
    description: str


def build_server(client_factory: Callable[[str | None], Any], warehouse_id: str | None = None, **server_kwargs: Any):
    """``client_factory(token)`` returns the WorkspaceClient for a request (token: the HTTP caller's, or None)."""
    mcp = MCPServer("odoolake", instructions=(
        "The odoo-ce finance lakehouse: Odoo accounting data in Delta tables (bronze → silver → gold), BIR "
        "withholding and VAT, and the bir_tax_forecaster model. Start with list_tables and describe_table; "
        "gold.bir_transactions (agency × year × month) answers most questions."), **server_kwargs)

    def client():
        token = get_access_token()
        return client_factory(token.token if token else None)

    def warehouse(w) -> str:
        if warehouse_id:
            return warehouse_id
        found = list(w.warehouses.list())
        if not found:
            raise ToolError("The workspace has no SQL warehouse to run statements on.")
        return found[0].id

    def run_sql(sql: str, row_limit: int | None = None) -> TableResult:
        from databricks.sdk.errors import DatabricksError
        from databricks.sdk.service.sql import StatementState

        w = client()
        try:
            resp = w.statement_execution.execute_statement(statement=sql, warehouse_id=warehouse(w), wait_timeout="30s",
                                                           row_limit=row_limit)
            deadline = time.time() + 600
            while resp.status.state in (StatementState.PENDING, StatementState.RUNNING) and time.time() < deadline:
                time.sleep(0.5)
                resp = w.statement_execution.get_statement(resp.statement_id)
        except DatabricksError as exc:
            raise ToolError(f"The workspace refused the statement: {exc}") from None
        if resp.status.state != StatementState.SUCCEEDED:
            error = resp.status.error.message if resp.status.error else resp.status.state.value
            raise ToolError(f"SQL failed: {error}")
        columns = resp.manifest.schema.columns or []
        casts = [NUMERIC.get(c.type_name.value if c.type_name else "STRING") for c in columns]
        data = list((resp.result.data_array if resp.result else None) or [])
        chunk = resp.result.next_chunk_index if resp.result else None
        while chunk is not None:
            part = w.statement_execution.get_statement_result_chunk_n(resp.statement_id, chunk)
            data.extend(part.data_array or [])
            chunk = part.next_chunk_index
        rows = [[v if v is None or cast is None else cast(v) for v, cast in zip(row, casts, strict=False)]
                for row in data]
        truncated = bool(resp.manifest.truncated)
        return TableResult(columns=[c.name for c in columns],
                           types=[c.type_text or (c.type_name.value if c.type_name else "") for c in columns],
                           rows=rows, row_count=len(rows), truncated=truncated)

    def table_name(name: str) -> str:
        if not TABLE_NAME.match(name):
            raise ToolError(f"{name!r} is not a table name (schema.table or catalog.schema.table)")
        return name

    @mcp.tool()
    def list_tables(schema: str | None = None) -> list[TableInfo]:
        """Tables of the lakehouse: bronze (raw Odoo), silver (conformed lines, quarantine), gold (BIR figures)."""
        schemas = [table_name(schema)] if schema else list(DEFAULT_SCHEMAS)
        out: list[TableInfo] = []
        for s in schemas:
            try:
                result = run_sql(f"SHOW TABLES IN {s}")
            except ToolError:
                if schema:
                    raise
                continue
            idx = result.columns.index("tableName") if "tableName" in result.columns else 1
            out.extend(TableInfo(name=f"{s}.{row[idx]}", schema_name=s) for row in result.rows)
        return sorted(out, key=lambda t: t.name)

    def describe(name: str) -> TableSchema:
        name = table_name(name)
        empty = run_sql(f"SELECT * FROM {name} LIMIT 0")
        count = run_sql(f"SELECT COUNT(*) AS n FROM {name}").rows[0][0]
        return TableSchema(name=name, columns=[ColumnInfo(name=c, type=t) for c, t in zip(empty.columns, empty.types,
                                                                                           strict=True)],
                           rows=int(count))

    @mcp.tool()
    def describe_table(name: str) -> TableSchema:
        """Columns, types and row count of a table, e.g. gold.bir_transactions."""
        return describe(name)

    @mcp.tool()
    def query(sql: str, limit: int = 200) -> TableResult:
        """Run one read-only SQL statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN); DDL and DML are refused."""
        try:
            statement = check_read_only(sql)
        except NotReadOnly as exc:
            raise ToolError(f"Refused: {exc}") from None
        if not 1 <= limit <= 10_000:
            raise ToolError(f"limit must be between 1 and 10000, got {limit}")
        return run_sql(statement, row_limit=limit)

    @mcp.tool()
    def list_jobs(name_contains: str | None = None) -> list[JobInfo]:
        """Jobs in the workspace (e.g. bir_etl, the BIR month-end)."""
        out = []
        for job in client().jobs.list():
            settings = job.settings
            if name_contains and name_contains.lower() not in (settings.name or "").lower():
                continue
            schedule = settings.schedule
            out.append(JobInfo(job_id=job.job_id, name=settings.name or "", schedule=schedule.quartz_cron_expression
                               if schedule else None,
                               paused=(schedule.pause_status.value == "PAUSED") if schedule and schedule.pause_status
                               else None))
        return out

    def summary(w, run, with_output: bool) -> RunSummary:
        state = run.state
        tasks = []
        for t in latest_task_runs(run.tasks or []):
            output = None
            if with_output and t.state and t.state.life_cycle_state and t.state.life_cycle_state.value in TERMINAL:
                out = w.jobs.get_run_output(t.run_id)
                output = out.error or (out.notebook_output.result if out.notebook_output else None)
            tasks.append(TaskSummary(task_key=t.task_key,
                                     state=t.state.life_cycle_state.value if t.state and t.state.life_cycle_state else "",
                                     result=t.state.result_state.value if t.state and t.state.result_state else None,
                                     message=t.state.state_message if t.state else None, output=output))
        return RunSummary(run_id=run.run_id, job_id=run.job_id,
                          state=state.life_cycle_state.value if state and state.life_cycle_state else "",
                          result=state.result_state.value if state and state.result_state else None,
                          message=state.state_message if state else None, url=run.run_page_url, tasks=tasks)

    def resolve_job(w, job: str) -> int:
        if job.isdigit():
            return int(job)
        matches = [j for j in w.jobs.list(name=job)]
        if not matches:
            known = sorted(j.settings.name for j in w.jobs.list() if j.settings and j.settings.name)
            raise ToolError(f"No job named {job!r}; jobs: {', '.join(known) or 'none'}")
        return matches[0].job_id

    @mcp.tool()
    async def run_job(job: str, parameters: dict[str, str] | None = None, wait: bool = True,
                      timeout_minutes: int = 60, ctx: Context | None = None) -> RunSummary:
        """Start a job (by id or exact name) with optional job parameters; by default wait until it ends."""
        from databricks.sdk.errors import DatabricksError

        w = client()
        try:
            job_id = await asyncio.to_thread(resolve_job, w, job)
            started = await asyncio.to_thread(w.jobs.run_now, job_id=job_id, job_parameters=parameters or None)
            run_id = started.run_id
            deadline = time.time() + timeout_minutes * 60
            while True:
                run = await asyncio.to_thread(w.jobs.get_run, run_id)
                ended = run.state and run.state.life_cycle_state and run.state.life_cycle_state.value in TERMINAL
                if ended or not wait:
                    return await asyncio.to_thread(summary, w, run, bool(ended))
                if time.time() > deadline:
                    raise ToolError(f"Run {run_id} is still {run.state.life_cycle_state.value} after "
                                    f"{timeout_minutes} min; check it later with get_run({run_id}).")
                if ctx is not None:
                    tasks = latest_task_runs(run.tasks or [])
                    done = sum(1 for t in tasks if t.state and t.state.life_cycle_state
                               and t.state.life_cycle_state.value in TERMINAL)
                    await ctx.report_progress(done, len(tasks) or 1, f"run {run_id}: {done} task(s) done")
                await asyncio.sleep(1.0)
        except DatabricksError as exc:
            raise ToolError(f"The workspace refused: {exc}") from None

    @mcp.tool()
    def get_run(run_id: int) -> RunSummary:
        """State of a run and of each task, with the tasks' output or error once they ended."""
        from databricks.sdk.errors import DatabricksError

        w = client()
        try:
            return summary(w, w.jobs.get_run(run_id), True)
        except DatabricksError as exc:
            raise ToolError(f"Run {run_id}: {exc}") from None

    @mcp.tool()
    def predict_withholding_tax(agency: str, period: str, endpoint: str = "bir-forecast") -> Prediction:
        """Forecast of an agency's expanded withholding tax to remit for a month (YYYY-MM), with its p10-p90
        interval, from the served bir_tax_forecaster."""
        from databricks.sdk.errors import DatabricksError

        try:
            answer = client().serving_endpoints.query(endpoint, dataframe_records=[{"agency": agency,
                                                                                    "period": period}])
        except DatabricksError as exc:
            raise ToolError(f"Serving endpoint {endpoint!r}: {exc} (deploy the bundle, or create the endpoint, "
                            "after bir_etl has trained the model)") from None
        row = answer.predictions[0]
        return Prediction(agency=row["agency"], period=row["period"], predicted_withholding_tax=float(row["p50"]),
                          low=float(row["p10"]), high=float(row["p90"]), origin=row["origin"], method=row["method"],
                          served_model=answer.served_model_name, endpoint=endpoint)

    @mcp.tool()
    def bir_deadlines(within_days: int = 60, form: str | None = None, today: str | None = None) -> list[Deadline]:
        """BIR filing deadlines due in the next `within_days` days (weekends and PH holidays applied)."""
        from odoolake.bir.calendar import HolidayTable, obligations_for_year

        try:
            start = date.fromisoformat(today) if today else date.today()
        except ValueError:
            raise ToolError(f"today must be YYYY-MM-DD, got {today!r}") from None
        end = start + timedelta(days=within_days)
        table = HolidayTable.philippines(range(start.year, end.year + 2))
        out = []
        for year in range(start.year - 1, end.year + 1):
            for ob in obligations_for_year(year, table):
                if start <= ob.due <= end and (form is None or ob.form.lower() == form.lower()):
                    out.append(Deadline(form=ob.form, period=ob.period, due=ob.due.isoformat(),
                                        statutory_due=ob.statutory_due.isoformat(), moved=ob.moved,
                                        description=ob.description))
        return sorted(out, key=lambda d: (d.due, d.form))

    @mcp.resource("lake://tables", mime_type="application/json")
    def tables_resource() -> str:
        """Every table of the lakehouse."""
        return json.dumps([t.model_dump() for t in list_tables()])

    @mcp.resource("lake://tables/{name}/schema", mime_type="application/json")
    def table_schema_resource(name: str) -> str:
        """Columns and types of one table."""
        return describe(name).model_dump_json()

    return mcp
