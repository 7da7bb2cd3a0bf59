"""Run the seed's gold query on a SQL warehouse (the seed's script, corrected).

Changes from the seed: the SDK has no ``w.sql``; statements are ``w.statement_execution``. The warehouse is
found by listing instead of a hard-coded id, and year/month are bound parameters (default: last month).
"""

import sys
from datetime import date

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

w = WorkspaceClient()
today = date.today()
year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
if len(sys.argv) == 3:
    year, month = int(sys.argv[1]), int(sys.argv[2])

warehouse_id = next(iter(w.warehouses.list())).id
result = w.statement_execution.execute_statement(
    warehouse_id=warehouse_id,
    statement="""
        SELECT agency, SUM(withholding_tax) as total_wht
        FROM gold.bir_transactions
        WHERE year = :year AND month = :month
        GROUP BY agency
        ORDER BY agency
    """,
    parameters=[StatementParameterListItem(name="year", value=str(year), type="INT"),
                StatementParameterListItem(name="month", value=str(month), type="INT")],
    wait_timeout="30s",
)

if result.status.state != StatementState.SUCCEEDED:
    sys.exit(f"Query {result.status.state.value}: {result.status.error.message if result.status.error else ''}")
for row in result.result.data_array or []:
    print(f"Agency: {row[0]}, Total WHT: {row[1]}")
