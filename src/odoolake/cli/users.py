"""``odoolake users …``: workspace users and their roles (owner mode: acts on $ODOOLAKE_HOME/workspace.db)."""

from __future__ import annotations

import typer
from rich.table import Table

from odoolake.cli.common import HomeOpt, Output, OutputOpt, console, emit, handle_errors
from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

app = typer.Typer(no_args_is_help=True)


def _roles(home: str | None):
    from odoolake.config import local_user
    from odoolake.workspace.db import Database
    from odoolake.workspace.identity.roles import Roles

    db_file = WorkspacePaths.from_env(home).home / "workspace.db"
    if not db_file.exists():
        raise OdoolakeError(f"No local workspace at {db_file.parent}: start one with odoolake up.")
    return Roles(Database(db_file), local_user())


@app.command("set")
@handle_errors
def set_cmd(user: str = typer.Argument(..., help="e.g. ci-deployer@example.ph"),
            role: str = typer.Argument(..., help="admin, developer, service_principal or read_only"),
            home: str = HomeOpt) -> None:
    """Add a user, or change their role; then mint them a token with `odoolake tokens create --user`."""
    _roles(home).set_role(user, role)
    console.print(f"{user}: {role}")


@app.command("list")
@handle_errors
def list_cmd(home: str = HomeOpt, output: Output = OutputOpt) -> None:
    """Users and their roles (users without a row are developers)."""
    users = _roles(home).users()
    table = Table("user", "role")
    for user, role in users:
        table.add_row(user, role)
    emit(output, {"users": [{"user_name": u, "role": r} for u, r in users]}, lambda: console.print(table))


@app.command("remove")
@handle_errors
def remove_cmd(user: str = typer.Argument(...), home: str = HomeOpt) -> None:
    """Remove a user's role row (their tokens stay valid with the default developer role: revoke them too)."""
    _roles(home).remove(user)
    console.print(f"removed {user}")


@app.command("secret")
@handle_errors
def secret_cmd(client_id: str = typer.Argument(..., help="A service principal (odoolake users set NAME "
                                                        "service_principal)."),
               home: str = HomeOpt) -> None:
    """Create an OAuth client secret for a service principal (machine-to-machine, as CI uses it); shown once."""
    from odoolake.workspace.identity.oauth import OAuthService
    from odoolake.workspace.identity.tokens import TokenService

    roles = _roles(home)
    value = OAuthService(roles.db, roles, TokenService(roles.db)).create_secret(client_id)
    console.print(f"DATABRICKS_CLIENT_ID={client_id}")
    console.print(f"DATABRICKS_CLIENT_SECRET={value}  (shown once; store it as a CI secret)")
