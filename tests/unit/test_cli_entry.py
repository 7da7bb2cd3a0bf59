"""Which command lines start the engine host before the CLI's imports (odoolake.cli.entry), and for which root."""

from __future__ import annotations

import pytest

from odoolake.cli.entry import EARLY_COMMANDS, GLOBAL_FLAGS, HELP_FLAGS, early_home
from odoolake.workspace.engine.session import REMOTE_ENV

LAKE_SQL = list(EARLY_COMMANDS[0])


@pytest.mark.parametrize(("argv", "home"), [
    ([*LAKE_SQL, "SELECT 1"], ""),
    ([*LAKE_SQL, "SELECT 1", "--home", "/lakes/a"], "/lakes/a"),
    ([*LAKE_SQL, "--home=/lakes/b", "SELECT 1", "--output", "json"], "/lakes/b"),
    ([GLOBAL_FLAGS[0], *LAKE_SQL, "SELECT 1", "--home", "/lakes/c"], "/lakes/c"),
])
def test_lake_sql_starts_the_host_of_the_root_it_names(argv, home):
    assert early_home(argv, environ={}) == home


@pytest.mark.parametrize("argv", [
    ["lake", "run"],
    ["demo"],
    ["bir", "sql"],
    [],
    *[[*LAKE_SQL, "SELECT 1", flag] for flag in HELP_FLAGS],
])
def test_other_command_lines_start_nothing(argv):
    assert early_home(argv, environ={}) is None


def test_lake_sql_against_another_spark_connect_server_starts_nothing():
    assert early_home([*LAKE_SQL, "SELECT 1"], environ={REMOTE_ENV: "sc://elsewhere:15002"}) is None
