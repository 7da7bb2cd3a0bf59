"""``odoolake notebook run``: a Databricks source notebook as a local Python process, so breakpoints work.

Cells are compiled with their real file name and line numbers, so a debugger (VS Code's launch configuration
"Notebook: run this file") stops on breakpoints set in the notebook file itself.
"""

from __future__ import annotations

import typer

from odoolake.cli.common import HomeOpt, console, handle_errors, lake_session
from odoolake.config import WorkspacePaths
from odoolake.errors import OdoolakeError

app = typer.Typer(no_args_is_help=True)
ParamOpt = typer.Option(None, "--params", "--param", help="Widget value name=value (repeatable), as for bundle run.")


@app.command("run")
@handle_errors
def run_cmd(
    path: str = typer.Argument(..., help="Notebook file (.py or .sql in Databricks source format)."),
    param: list[str] = ParamOpt,
    home: str = HomeOpt,
    profile: str = typer.Option(None, "--profile", "-p", help="Run on the workspace of this profile (its Spark "
                                                              "Connect endpoint, with the profile's token)."),
) -> None:
    """Run a notebook on the embedded engine, on a workspace named by a profile, or on ODOOLAKE_SPARK_REMOTE."""
    import os

    from odoolake.workspace.notebooks import run_notebook

    if profile:
        from odoolake.workspace.frontdoor.trust import spark_remote

        os.environ["ODOOLAKE_SPARK_REMOTE"] = spark_remote(profile)

    params = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--param {item!r}: expected name=value")
        params[name] = value
    paths = WorkspacePaths.from_env(home).ensure()
    with lake_session(paths) as spark:
        try:
            result = run_notebook(path, spark, paths, params, echo=True)
        except ModuleNotFoundError as exc:
            if exc.name != "dlt":
                raise
            raise OdoolakeError(f"{path} imports dlt: it is a pipeline's notebook, run by a pipeline update "
                                "(odoolake bundle run <pipeline>, or w.pipelines.start_update), where dlt is "
                                "odoolake.dlt") from exc
    console.print(f"[green]{result.cells_run} cell(s) run[/]" + (f"; exit value: {result.exit_value}"
                                                                 if result.exit_value is not None else ""))
