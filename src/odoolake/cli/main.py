"""Root of the ``odoolake`` CLI. Groups are added here explicitly, one module each."""

from __future__ import annotations

import logging
import os

import typer

from odoolake.cli import bir, bundle, common, demo, lake, mcp, ml, notebook, odoo, server, superset, tokens, users
from odoolake.cli.common import handle_all

app = typer.Typer(no_args_is_help=True, help="odoolake: the Odoo finance lakehouse, local-first.")
app.command("demo")(demo.demo)
app.add_typer(lake.app, name="lake", help="Generate data and run the month-end on the embedded engine.")
app.command("up")(server.up)
app.command("mcp")(mcp.mcp)
app.command("down")(server.down)
app.command("env")(server.env)
app.add_typer(bundle.app, name="bundle", help="Databricks Asset Bundles: validate, summary, deploy, run, destroy.")
app.add_typer(bir.app, name="bir", help="BIR filing calendar, remittances, 2307 certificates and forms, DAT files "
                                         "(QAP, SAWT, 1604-E, 1604-F, SLSP).")
app.add_typer(ml.app, name="ml", help="The withholding-tax forecaster: train, score, list versions, MLflow UI.")
app.add_typer(odoo.app, name="odoo", help="Odoo: check the connection, extract into raw drops, write predictions back.")
app.add_typer(notebook.app, name="notebook", help="Run a Databricks source notebook locally (debuggable).")
app.add_typer(superset.app, name="superset", help="Publish gold to DuckDB for Superset; write the dashboard export.")
app.add_typer(users.app, name="users", help="Workspace users and roles (admin, developer, service_principal, read_only).")
app.add_typer(tokens.app, name="tokens", help="Personal access tokens (as the Databricks CLI's tokens commands).")


handle_all(app)  # every command answers a failure with one line (common.handle_errors)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs.")) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # MLflow keeps its own INFO logger (database migrations, uv exports) that would print over the progress bars.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if debug else "WARNING")
    common.DEBUG = debug


if __name__ == "__main__":
    app()
