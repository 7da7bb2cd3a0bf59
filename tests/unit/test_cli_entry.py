"""Which command lines start the engine host before the CLI's imports (odoolake.cli.entry), and for which root."""

from __future__ import annotations

import pytest

from odoolake.cli.entry import EARLY_COMMANDS, GLOBAL_FLAGS, SQL_OPTIONS, early_home
from odoolake.workspace.engine.session import REMOTE_ENV

LAKE_SQL = list(EARLY_COMMANDS[0])


@pytest.mark.parametrize(("argv", "home"), [
    ([*LAKE_SQL, "SELECT 1"], ""),
    ([*LAKE_SQL, "SELECT 1", "--home", "/lakes/a"], "/lakes/a"),
    ([*LAKE_SQL, "--home=/lakes/b", "SELECT 1", "--output", "json", "--limit", "5"], "/lakes/b"),
    ([GLOBAL_FLAGS[0], *LAKE_SQL, "SELECT 1", "--home", "/lakes/c"], "/lakes/c"),
    ([*LAKE_SQL, "--home", "/lakes/d", "--", "--home=/lakes/e SELECT 1"], "/lakes/d"),  # after --, a statement
])
def test_lake_sql_starts_the_host_of_the_root_it_names(argv, home):
    assert early_home(argv, environ={}) == home


@pytest.mark.parametrize("argv", [
    ["lake", "run"],
    ["demo"],
    ["bir", "sql"],
    [],
    [*LAKE_SQL],  # no statement
    [*LAKE_SQL, "SELECT 1", "SELECT 2"],  # two
    [*LAKE_SQL, "--home", "SELECT 1"],  # --home took the statement
    [*LAKE_SQL, "SELECT 1", "--home"],
    [*LAKE_SQL, "SELECT 1", "--hmoe", "/lakes/a"],  # an option the command does not have
    [*LAKE_SQL, "SELECT 1", "--limit", "-1"],
    [*LAKE_SQL, "SELECT 1", "--limit=ten"],
    [*LAKE_SQL, "SELECT 1", "--help"],
    [*LAKE_SQL, "-h"],
])
def test_lines_the_cli_would_not_run_start_nothing(argv):
    assert early_home(argv, environ={}) is None


def test_lake_sql_against_another_spark_connect_server_starts_nothing():
    assert early_home([*LAKE_SQL, "SELECT 1"], environ={REMOTE_ENV: "sc://elsewhere:15002"}) is None


def test_the_options_read_early_are_the_commands_own():
    """SQL_OPTIONS must be what `lake sql` takes, or a line it runs would start no host early (or one it refuses would)."""
    import typer.main

    from odoolake.cli.main import app

    command = typer.main.get_command(app).commands["lake"].commands["sql"]  # type: ignore[attr-defined]
    options = {opt for param in command.params if param.param_type_name == "option" for opt in param.opts}
    assert options == set(SQL_OPTIONS)
