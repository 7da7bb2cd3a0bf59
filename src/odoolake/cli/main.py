"""Root of the ``odoolake`` CLI. Groups are added here explicitly, one module each."""

from __future__ import annotations

import logging

import typer

from odoolake.cli import common, demo, lake

app = typer.Typer(no_args_is_help=True, help="odoolake: the Odoo finance lakehouse, local-first.")
app.command("demo")(demo.demo)
app.add_typer(lake.app, name="lake", help="Generate data and run the month-end on the embedded engine.")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs.")) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    common.DEBUG = debug
