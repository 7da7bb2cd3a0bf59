"""``odoolake bundle validate | summary``: load the bundle as Databricks would and report every problem."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from odoolake.cli.common import console, err_console, handle_errors

app = typer.Typer(no_args_is_help=True)

TargetOpt = typer.Option(None, "--target", "-t", help="Target to resolve (default: the bundle's default target).")
VarOpt = typer.Option(None, "--var", help="Set a variable: --var name=value (repeatable).")
DirOpt = typer.Option("databricks", "--bundle-dir", help="Folder with databricks.yml.")


def _vars(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"--var {pair!r}: expected name=value")
        name, value = pair.split("=", 1)
        out[name.strip()] = value
    return out


def _load(bundle_dir: str, target: str | None, var: list[str] | None):
    from odoolake.bundles.loader import load_bundle
    from odoolake.workspace.app import local_user

    return load_bundle(bundle_dir, target, _vars(var), user=local_user())


@app.command("validate")
@handle_errors
def validate(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str = DirOpt,
             output: str = typer.Option("text", "--output", "-o", help="text, or json for the resolved config")) -> None:
    """Load, merge the target, resolve variables and references, and validate."""
    bundle = _load(bundle_dir, target, var)
    for diagnostic in bundle.diagnostics:
        err_console.print(f"[yellow]{diagnostic}[/]")
    if output == "json":
        print(json.dumps({k: v for k, v in bundle.config.items() if k != "targets"}, indent=2, default=str))
        return
    console.print(f"Name: {bundle.name}\nTarget: {bundle.target}\nWorkspace: "
                  f"{bundle.config['workspace'].get('host', '')} {bundle.config['workspace']['root_path']}")
    console.print("[green]Validation OK![/]")


@app.command("summary")
@handle_errors
def summary(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str = DirOpt) -> None:
    """Name, target, workspace paths and every resource of the bundle."""
    bundle = _load(bundle_dir, target, var)
    console.print(f"Name: {bundle.name}  Target: {bundle.target}  Mode: {bundle.config.get('mode', '-')}")
    console.print(f"Workspace: {bundle.config['workspace'].get('host', '')}  root {bundle.config['workspace']['root_path']}")
    table = Table("type", "key", "name", show_edge=False)
    for kind, items in (bundle.config.get("resources") or {}).items():
        for key, spec in (items or {}).items():
            table.add_row(kind, key, str((spec or {}).get("name", "")))
    console.print(table)
