"""``odoolake mcp``: the MCP server over stdio (for an editor or assistant) or streamable HTTP with bearer auth."""

from __future__ import annotations

import typer

from odoolake.cli.common import ProfileOpt, handle_errors, workspace_client


@handle_errors
def mcp(
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP (bearer tokens) instead of stdio."),
    host: str = typer.Option("127.0.0.1", help="HTTP interface (loopback unless you know why)."),
    port: int = typer.Option(8766, help="HTTP port; the endpoint is /mcp."),
    profile: str = ProfileOpt,
    warehouse_id: str = typer.Option(None, "--warehouse-id", envvar="DATABRICKS_WAREHOUSE_ID",
                                     help="SQL warehouse for statements (default: the first one)."),
) -> None:
    """Serve the lakehouse to MCP clients: tables, read-only SQL, jobs, runs, the forecaster, BIR deadlines."""
    from databricks.sdk import WorkspaceClient

    from odoolake.mcp.server import build_server

    base = workspace_client(profile)

    def client_for(token: str | None):
        # Over HTTP each caller's own workspace token is used; over stdio the configured profile.
        return WorkspaceClient(host=base.config.host, token=token) if token else base

    if not http:
        build_server(client_for, warehouse_id).run()
        return
    from mcp.server.auth.settings import AuthSettings
    from pydantic import AnyHttpUrl

    from odoolake.mcp.auth import WorkspaceTokenVerifier

    server = build_server(client_for, warehouse_id, token_verifier=WorkspaceTokenVerifier(base.config.host),
                          auth=AuthSettings(issuer_url=base.config.host,
                                            resource_server_url=AnyHttpUrl(f"http://{host}:{port}/mcp"),
                                            # workspace tokens name no resource: the verifier asks the workspace
                                            # about each (unset, the SDK warned twice at start and did the same)
                                            validate_token_resource=False))
    server.run("streamable-http", host=host, port=port, stateless_http=True, json_response=True)
