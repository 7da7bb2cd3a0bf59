"""``odoolake bundle validate | summary | deploy | run | destroy``: the bundle as Databricks reads it, through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from odoolake.cli.common import (
    Output,
    OutputOpt,
    ProfileOpt,
    TargetOpt,
    console,
    emit,
    err_console,
    handle_errors,
    workspace_client,
)
from odoolake.workspace.jobs.lifecycle import SUCCEEDED, latest_task_runs

app = typer.Typer(no_args_is_help=True)

VarOpt = typer.Option(None, "--var", help="Set a variable: --var name=value (repeatable).")
DirOpt = typer.Option(None, "--bundle-dir", help="Folder with databricks.yml (default: the current folder or the "
                                                  "nearest above it that has one, else ./databricks).")
DEFAULT_BUNDLE_DIR = "databricks"  # the project's own bundle, from the repository's root
ParamsOpt = typer.Option(None, "--params", help="Job parameter name=value (repeatable).")
RefreshOpt = typer.Option(None, "--refresh", help="Pipelines: refresh only this dataset (repeatable).")
FullRefreshOpt = typer.Option(None, "--full-refresh", help="Pipelines: reset and rebuild this dataset (repeatable).")


def _vars(pairs: list[str] | None, option: str = "--var") -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"{option} {pair!r}: expected name=value")
        name, value = pair.split("=", 1)
        out[name.strip()] = value
    return out


def _bundle_root(bundle_dir: str | None) -> Path:
    """The bundle's folder: the one named, else the current folder or the nearest above it with a databricks.yml
    (as the Databricks CLI finds it), else ./databricks."""
    if bundle_dir is not None:
        return Path(bundle_dir)
    from odoolake.bundles.loader import BundleError, Diagnostic

    here = Path.cwd()
    found = next((folder for folder in (here, *here.parents) if (folder / "databricks.yml").is_file()), None)
    if found is None and not (Path(DEFAULT_BUNDLE_DIR) / "databricks.yml").is_file():
        raise BundleError([Diagnostic("error", f"no databricks.yml in {here}, the folders above it or "
                                               f"./{DEFAULT_BUNDLE_DIR}: run this in the bundle's folder, or name it "
                                               "with --bundle-dir")])
    return found if found is not None else Path(DEFAULT_BUNDLE_DIR)


def _load(bundle_dir: str | None, target: str | None, var: list[str] | None):
    from odoolake.bundles.loader import load_bundle
    from odoolake.config import local_user

    return load_bundle(_bundle_root(bundle_dir), target, _vars(var), user=local_user())


def _client(bundle, profile: str | None):
    return workspace_client(profile, bundle.config["workspace"].get("host"))


@app.command("validate")
@handle_errors
def validate(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str | None = DirOpt,
             output: Output = OutputOpt) -> None:
    """Load, merge the target, resolve variables and references, and validate (-o json prints the resolved config)."""
    bundle = _load(bundle_dir, target, var)
    for diagnostic in bundle.diagnostics:
        err_console.print(f"[yellow]{escape(str(diagnostic))}[/]", soft_wrap=True)
    emit(output, {k: v for k, v in bundle.config.items() if k != "targets"}, lambda: console.print(
        f"Name: {bundle.name}\nTarget: {bundle.target}\nWorkspace: {bundle.config['workspace'].get('host', '')} "
        f"{bundle.config['workspace']['root_path']}\n"
        + ("[green]Validation OK![/]" if not bundle.diagnostics else
           f"[yellow]Validation OK, with {len(bundle.diagnostics)} warning(s)[/]"), soft_wrap=True))


@app.command("summary")
@handle_errors
def summary(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str | None = DirOpt,
            output: Output = OutputOpt) -> None:
    """Name, target, workspace paths and every resource of the bundle."""
    bundle = _load(bundle_dir, target, var)
    resources = [{"type": kind, "key": key, "name": str((spec or {}).get("name", ""))}
                 for kind, items in (bundle.config.get("resources") or {}).items() for key, spec in (items or {}).items()]
    data = {"name": bundle.name, "target": bundle.target, "mode": bundle.config.get("mode"),
            "host": bundle.config["workspace"].get("host", ""), "root_path": bundle.config["workspace"]["root_path"],
            "resources": resources}

    def text() -> None:
        console.print(f"Name: {bundle.name}  Target: {bundle.target}  Mode: {bundle.config.get('mode', '-')}")
        console.print(f"Workspace: {data['host']}  root {data['root_path']}")
        table = Table("type", "key", "name", show_edge=False)
        for r in resources:
            table.add_row(r["type"], r["key"], escape(r["name"]))
        console.print(table)

    emit(output, data, text)


@app.command("deploy")
@handle_errors
def deploy_cmd(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str | None = DirOpt,
               profile: str = ProfileOpt, output: Output = OutputOpt) -> None:
    """Build artifacts, upload files, create or update experiments, models, jobs, pipelines and serving endpoints."""
    from odoolake.bundles.deploy import deploy

    bundle = _load(bundle_dir, target, var)
    client = _client(bundle, profile)
    with console.status("deploying…") as status:
        result = deploy(client, bundle, on_step=lambda step: status.update(f"deploying: {step}…"))
    actions = [{"action": a.kind, "resource": a.resource, "id": result.ids.get(a.resource)
                or result.ids.get("adopted." + a.resource, ""), "detail": a.detail} for a in result.actions]

    def text() -> None:
        console.print(f"Uploaded {result.files} file(s) to {bundle.config['workspace']['file_path']}"
                      + (f" ({result.unchanged_files} unchanged since the last deploy)" if result.unchanged_files else ""))
        for artifact in result.artifacts:
            console.print(f"Built and uploaded {artifact}")
        for a in actions:
            console.print(f"  {a['action']:9} {a['resource']} {a['id']} {a['detail']}".rstrip())
        console.print("[green]Deployment complete![/]")

    emit(output, {"files": result.files, "unchanged_files": result.unchanged_files, "artifacts": result.artifacts,
                  "actions": actions}, text)


QUEUED = "QUEUED"  # a run's life_cycle_state while max_concurrent_runs holds it back


class _RunProgress:
    """Prints a line whenever the run or one of its tasks changes state (what `bundle run` shows while it waits)."""

    def __init__(self, quiet: bool) -> None:
        self.seen: dict[str, str] = {}
        self.queued = False
        self.quiet = quiet

    def __call__(self, run: Any) -> None:
        if "run" not in self.seen and not self.quiet:
            console.print(f"Run {run.run_id}: {run.run_page_url or ''}".rstrip())
            self.seen["run"] = "started"
        queued = run.state is not None and run.state.life_cycle_state is not None and \
            run.state.life_cycle_state.value == QUEUED
        if queued and not self.queued and not self.quiet:  # its tasks say only PENDING meanwhile
            console.print(f"  queued: {run.state.state_message or 'waiting for its turn'}")
        self.queued = queued
        # the tasks that ended first first (a task whose upstream failed ends after that one)
        for task in sorted(latest_task_runs(run.tasks or []), key=lambda t: t.end_time or float("inf")):
            state = _state(task.state)
            if self.seen.get(task.task_key) != state:
                self.seen[task.task_key] = state
                if not self.quiet:
                    console.print(f"  {task.task_key:24} {state}")


def _state(state: Any) -> str:
    if state is None or state.life_cycle_state is None:
        return "PENDING"
    if state.result_state is not None:
        return state.result_state.value
    return state.life_cycle_state.value


@app.command("run")
@handle_errors
def run_cmd(key: str = typer.Argument(..., help="Job key in the bundle, e.g. bir_etl."), target: str = TargetOpt,
            var: list[str] = VarOpt, bundle_dir: str | None = DirOpt, profile: str = ProfileOpt,
            params: list[str] = ParamsOpt, output: Output = OutputOpt,
            refresh: list[str] = RefreshOpt, full_refresh: list[str] = FullRefreshOpt,
            full_refresh_all: bool = typer.Option(False, "--full-refresh-all", help="Pipelines: reset and rebuild "
                                                  "every dataset."),
            validate_only: bool = typer.Option(False, "--validate-only", help="Pipelines: analyse every dataset, "
                                               "write nothing.")) -> None:
    """Run a deployed job (or start a pipeline update), show each task's state as it changes, and wait."""
    from odoolake.bundles.deploy import run, run_pipeline_update

    bundle = _load(bundle_dir, target, var)
    client = _client(bundle, profile)
    if key in bundle.resources("pipelines"):
        with console.status(f"pipeline {key}: updating…"):
            update = run_pipeline_update(client, bundle, key, full_refresh=full_refresh_all, refresh=refresh,
                                         reset=full_refresh, validate_only=validate_only)
        emit(output, {"pipeline": key, "state": update.state, "update_id": update.update_id,
                      "reason": update.reason},
             lambda: console.print(f"Pipeline {key}: {update.state}" + (f" {escape(update.reason)}"
                                                                         if update.reason else "")))
        if update.state != "COMPLETED":
            raise typer.Exit(1)
        return
    if refresh or full_refresh or full_refresh_all or validate_only:
        raise typer.BadParameter(f"{key} is a job: --refresh, --full-refresh, --full-refresh-all and "
                                 f"--validate-only are for pipelines.")
    finished = run(client, bundle, key, _vars(params, "--params"), on_update=_RunProgress(output == Output.json))
    result = _state(finished.state)
    tasks = [{"task_key": t.task_key, "state": _state(t.state), "message": (t.state.state_message or "")
              if t.state else ""} for t in latest_task_runs(finished.tasks or [])]

    def text() -> None:
        console.print(f"Run {finished.run_id}: {result} {finished.run_page_url or ''}".rstrip())
        for t in tasks:
            if t["state"] not in SUCCEEDED and t["message"]:
                console.print(f"  {t['task_key']:24} {t['state']} {escape(t['message'])}")

    emit(output, {"run_id": finished.run_id, "state": result, "run_page_url": finished.run_page_url, "tasks": tasks},
         text)
    if result not in SUCCEEDED:
        raise typer.Exit(1)


@app.command("destroy")
@handle_errors
def destroy_cmd(target: str = TargetOpt, var: list[str] = VarOpt, bundle_dir: str | None = DirOpt, profile: str = ProfileOpt,
                auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
                output: Output = OutputOpt) -> None:
    """Delete what this bundle deployed to the target (and nothing else), then its root folder."""
    from odoolake.bundles.deploy import destroy

    bundle = _load(bundle_dir, target, var)
    if not auto_approve and not typer.confirm(f"Destroy bundle {bundle.name} in target {bundle.target}?"):
        raise typer.Exit(1)
    with console.status("destroying…"):
        removed = destroy(_client(bundle, profile), bundle)
    emit(output, {"removed": removed, "root_path": bundle.config["workspace"]["root_path"]}, lambda: console.print(
        f"Removed {', '.join(removed) or 'nothing'} and {bundle.config['workspace']['root_path']}"))


