"""A task attempt's token: valid as long as the task may run, revoked when it ends or when a stopped server's tasks
are recovered, and never another user's token."""

from __future__ import annotations

import pytest

from odoolake.workspace.db import Database
from odoolake.workspace.errors import Unauthenticated
from odoolake.workspace.identity.tokens import TokenService
from odoolake.workspace.jobs.connections import SLACK_SECONDS, TOKEN_COMMENT, TaskConnections

HOUR = 3600


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path):
    clock = Clock()
    tokens = TokenService(Database(tmp_path / "workspace.db"), clock=clock)
    connections = TaskConnections(tokens, tmp_path, "sc://127.0.0.1:8765/;use_ssl=true", None, "owner@localhost")
    return clock, tokens, connections


def test_a_task_without_a_timeout_keeps_its_token_until_it_ends(setup):
    """Databricks tasks have no timeout by default and may run for days: their Spark Connect calls must go on."""
    clock, tokens, connections = setup
    connection = connections.open("ana@example.com", None)
    clock.now += 3 * 24 * HOUR
    assert tokens.authenticate(connection.token) == "ana@example.com"


def test_a_task_with_a_timeout_gets_a_token_for_its_timeout_and_the_slack(setup):
    clock, tokens, connections = setup
    connection = connections.open(None, 600)
    clock.now += 600 + SLACK_SECONDS - 1
    assert tokens.authenticate(connection.token) == "owner@localhost"
    clock.now += 2
    with pytest.raises(Unauthenticated, match="the token has expired"):
        tokens.authenticate(connection.token)


def test_leftover_task_tokens_are_revoked_and_users_tokens_kept(setup):
    _, tokens, connections = setup
    left = [connections.open("ana@example.com", None), connections.open(None, 60)]
    pat, _ = tokens.create("ana@example.com", "ci")
    lookalike, _ = tokens.create("ana@example.com", TOKEN_COMMENT)  # a user's token with a task token's comment

    assert connections.revoke_leftovers() == 2
    for connection in left:
        with pytest.raises(Unauthenticated, match="the token has been revoked"):
            tokens.authenticate(connection.token)
    assert tokens.authenticate(pat) == tokens.authenticate(lookalike) == "ana@example.com"
    assert [info.comment for info in tokens.list()] == ["ci", TOKEN_COMMENT]
    assert connections.revoke_leftovers() == 0
