"""MCP server over the workspace API: tables, read-only SQL, jobs, the forecaster and BIR deadlines."""
