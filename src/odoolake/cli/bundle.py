"""``odoolake bundle validate | summary``: load the bundle as Databricks would and report every problem."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
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
            table.add_row(kind, key, escape(str((spec or {}).get("name", ""))))
    console.print(table)


def _client(bundle, profile: str | None):
    from databricks.sdk import WorkspaceClient

    from odoolake.workspace.frontdoor.trust import trust_profile

    host = bundle.config["workspace"].get("host")
    if profile:
        trust_profile(profile)
        return WorkspaceClient(profile=profile)
    return WorkspaceClient(host=host) if host else WorkspaceClient()


ProfileOpt = typer.Option(None, "--profile", "-p", help="~/.databrickscfg profile (default: env or the target host).")
ParamsOpt = typer.Option(None, "--params", help="Job parameter name=value (repeatable).")


@app.command("deploy")
@handle_errors
def deploy_cmd(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str = DirOpt,
               profile: str = ProfileOpt) -> None:
    """Build artifacts, upload files, create or update experiments, models, jobs, pipelines and serving endpoints."""
    from odoolake.bundles.deploy import deploy

    bundle = _load(bundle_dir, target, var)
    result = deploy(_client(bundle, profile), bundle)
    console.print(f"Uploaded {result.files} file(s) to {bundle.config['workspace']['file_path']}")
    for artifact in result.artifacts:
        console.print(f"Built and uploaded {artifact}")
    for action in result.actions:
        ident = result.ids.get(action.resource) or result.ids.get("adopted." + action.resource, "")
        console.print(f"  {action.kind:9} {action.resource} {ident} {action.detail}".rstrip())
    console.print("[green]Deployment complete![/]")


@app.command("run")
@handle_errors
def run_cmd(key: str = typer.Argument(..., help="Job key in the bundle, e.g. bir_etl."), target: str = TargetOpt,
            var: list[str] = VarOpt, bundle_dir: str = DirOpt, profile: str = ProfileOpt,
            params: list[str] = ParamsOpt) -> None:
    """Run a deployed job (or start a pipeline update), wait for it, and print the result."""
    from odoolake.bundles.deploy import run, run_pipeline_update

    bundle = _load(bundle_dir, target, var)
    if key in bundle.resources("pipelines"):
        state = run_pipeline_update(_client(bundle, profile), bundle, key)
        console.print(f"Pipeline {key}: {state}")
        if state != "COMPLETED":
            raise typer.Exit(1)
        return
    finished = run(_client(bundle, profile), bundle, key, _vars(params))
    console.print(f"Run {finished.run_id}: {finished.state.result_state.value if finished.state.result_state else ''} "
                  f"{finished.run_page_url or ''}")
    for task in finished.tasks or []:
        state = task.state.result_state.value if task.state and task.state.result_state else "-"
        console.print(f"  {task.task_key:20} {state} {task.state.state_message or ''}".rstrip())
    if not finished.state.result_state or finished.state.result_state.value != "SUCCESS":
        raise typer.Exit(1)


@app.command("destroy")
@handle_errors
def destroy_cmd(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str = DirOpt, profile: str = ProfileOpt,
                auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation.")) -> None:
    """Delete what this bundle deployed to the target (and nothing else), then its root folder."""
    from odoolake.bundles.deploy import destroy

    bundle = _load(bundle_dir, target, var)
    if not auto_approve and not typer.confirm(f"Destroy bundle {bundle.name} in target {bundle.target}?"):
        raise typer.Exit(1)
    removed = destroy(_client(bundle, profile), bundle)
    console.print(f"Removed {', '.join(removed) or 'nothing'} and {bundle.config['workspace']['root_path']}")
