"""``odoolake tokens create | list | revoke``, as the Databricks CLI's ``tokens`` commands.

With credentials (``--profile``, or ``DATABRICKS_HOST``/``DATABRICKS_TOKEN``) the commands call the Token API
through the SDK, so they work against any workspace. Without them, on the machine that owns the local
workspace, they act on its state directly: that is how the first token is minted.
"""

from __future__ import annotations

import json
import os

import typer
from rich.table import Table

from odoolake.cli.common import console, handle_errors
from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

app = typer.Typer(no_args_is_help=True)

OutputOpt = typer.Option("text", "--output", "-o", help="text or json")
ProfileOpt = typer.Option(None, "--profile", "-p", help="A ~/.databrickscfg profile to use.")
HomeOpt = typer.Option(None, "--home", envvar="ODOOLAKE_HOME", help="Local workspace root (owner mode).")


def _client(profile: str | None):
    if profile or os.environ.get("DATABRICKS_TOKEN") or os.environ.get("DATABRICKS_CONFIG_PROFILE"):
        from databricks.sdk import WorkspaceClient

        from odoolake.workspace.frontdoor.trust import trust_profile

        trust_profile(profile)
        return WorkspaceClient(profile=profile) if profile else WorkspaceClient()
    return None


def _local(home: str | None):
    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.tokens import TokenService

    paths = WorkspacePaths.from_env(home)
    db_file = paths.home / "workspace.db"
    if not db_file.exists():
        raise OdoolakeError(f"No local workspace at {paths.home} and no credentials given: start one with "
                            "odoolake up, or pass --profile / set DATABRICKS_HOST and DATABRICKS_TOKEN.")
    return TokenService(Database(db_file))


def _emit(output: str, data: object, table: Table | None = None) -> None:
    if output == "json":
        print(json.dumps(data, indent=2))
    elif table is not None:
        console.print(table)


@app.command("create")
@handle_errors
def create(
    comment: str = typer.Option("", "--comment"),
    lifetime_seconds: int = typer.Option(None, "--lifetime-seconds", min=0),
    user: str = typer.Option(None, "--user", help="Owner mode only: mint the token for this workspace user "
                                                  "(see odoolake users) instead of yourself."),
    output: str = OutputOpt, profile: str = ProfileOpt, home: str = HomeOpt,
) -> None:
    """Create a personal access token; its value is shown once."""
    client = _client(profile)
    if client is not None:
        if user:
            raise OdoolakeError("--user needs owner mode (no --profile or DATABRICKS_HOST): through the API a "
                                "token is always for the caller.")
        created = client.tokens.create(comment=comment, lifetime_seconds=lifetime_seconds).as_dict()
    else:
        from odoolake.workspace.app import local_user

        value, info = _local(home).create(user or local_user(), comment, lifetime_seconds)
        created = {"token_value": value, "token_info": info.as_dict()}
    if output == "json":
        _emit(output, created)
    else:
        console.print(f"token_value: [bold]{created['token_value']}[/]  (shown once; store it safely)")
        console.print(f"token_id: {created['token_info']['token_id']}")


@app.command("list")
@handle_errors
def list_tokens(output: str = OutputOpt, profile: str = ProfileOpt, home: str = HomeOpt) -> None:
    """List tokens (never their values)."""
    client = _client(profile)
    infos = ([t.as_dict() for t in client.tokens.list()] if client is not None
             else [t.as_dict() for t in _local(home).list()])
    table = Table("token_id", "comment", "creation_time", "expiry_time")
    for t in infos:
        table.add_row(t["token_id"], t.get("comment", ""), str(t.get("creation_time")), str(t.get("expiry_time")))
    _emit(output, {"token_infos": infos}, table)


@app.command("revoke")
@handle_errors
def revoke(token_id: str = typer.Argument(...), profile: str = ProfileOpt, home: str = HomeOpt) -> None:
    """Revoke a token by id."""
    client = _client(profile)
    if client is not None:
        client.tokens.delete(token_id)
    else:
        _local(home).revoke(token_id)
    console.print(f"revoked {token_id}")
