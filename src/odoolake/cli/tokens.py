"""``odoolake tokens create | list | revoke``, as the Databricks CLI's ``tokens`` commands.

With credentials (``--profile``, or ``DATABRICKS_HOST``/``DATABRICKS_TOKEN``) the commands call the Token API
through the SDK, so they work against any workspace. Without them, on the machine that owns the local
workspace, they act on its state directly: that is how the first token is minted.
"""

from __future__ import annotations

import os

import typer

from odoolake.cli.common import HomeOpt, Output, OutputOpt, ProfileOpt, console, emit, handle_errors, workspace_client
from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

app = typer.Typer(no_args_is_help=True)


def _client(profile: str | None):
    if profile or os.environ.get("DATABRICKS_TOKEN") or os.environ.get("DATABRICKS_CONFIG_PROFILE"):
        return workspace_client(profile)
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


@app.command("create")
@handle_errors
def create(
    comment: str = typer.Option("", "--comment"),
    lifetime_seconds: int = typer.Option(None, "--lifetime-seconds", min=0),
    user: str = typer.Option(None, "--user", help="Owner mode only: mint the token for this workspace user "
                                                  "(see odoolake users) instead of yourself."),
    output: Output = OutputOpt, profile: str = ProfileOpt, home: str = HomeOpt,
) -> None:
    """Create a personal access token; its value is shown once."""
    client = _client(profile)
    if client is not None:
        if user:
            raise OdoolakeError("--user needs owner mode (no --profile or DATABRICKS_HOST): through the API a "
                                "token is always for the caller.")
        created = client.tokens.create(comment=comment, lifetime_seconds=lifetime_seconds).as_dict()
    else:
        from odoolake.config import local_user

        value, info = _local(home).create(user or local_user(), comment, lifetime_seconds)
        created = {"token_value": value, "token_info": info.as_dict()}
    emit(output, created, lambda: console.print(
        f"token_value: [bold]{created['token_value']}[/]  (shown once; store it safely)\n"
        f"token_id: {created['token_info']['token_id']}"))


@app.command("list")
@handle_errors
def list_tokens(output: Output = OutputOpt, profile: str = ProfileOpt, home: str = HomeOpt) -> None:
    """List tokens (never their values)."""
    client = _client(profile)
    infos = ([t.as_dict() for t in client.tokens.list()] if client is not None
             else [t.as_dict() for t in _local(home).list()])
    def text() -> None:  # each id whole on its own line (``tokens revoke`` needs it), at any terminal width
        for t in infos:
            console.print(t["token_id"], soft_wrap=True)
            console.print(f"  comment: {t.get('comment') or '-'}   created: {_when(t.get('creation_time'))}   "
                          f"expires: {_when(t.get('expiry_time'))}", highlight=False)
        if not infos:
            console.print("No tokens.")
    emit(output, {"token_infos": infos}, text)


def _when(epoch_ms: int | None) -> str:
    """A token time for people (UTC, to the minute); JSON output keeps the API's epoch milliseconds."""
    from datetime import UTC, datetime

    if epoch_ms is None or epoch_ms < 0:
        return "never"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


@app.command("revoke")
@handle_errors
def revoke(token_id: str = typer.Argument(...), profile: str = ProfileOpt, home: str = HomeOpt,
           output: Output = OutputOpt) -> None:
    """Revoke a token by id (your own; an admin may revoke anyone's)."""
    client = _client(profile)
    if client is not None:
        client.tokens.delete(token_id)
    else:
        _local(home).revoke(token_id)
    emit(output, {"revoked": token_id}, lambda: console.print(f"revoked {token_id}"))
