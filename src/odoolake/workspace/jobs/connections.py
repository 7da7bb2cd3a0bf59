"""How a task process reaches the engine: through the workspace's front door, as the run's principal.

Each task attempt gets its own token for the principal the run runs as (``run_as``, else its creator), valid for the
task's timeout and ``SLACK_SECONDS`` more; a task without a timeout (Databricks' default) may run for days, so its
token has no expiry. Either way the token is revoked when the attempt ends, and those of attempts a stopped server
left behind are revoked when the server starts again (``revoke_leftovers``), after their processes were killed.
The task connects with it like any Databricks Connect client (TLS, bearer token), so the engine applies that
principal's rules. When the attempt ends — success, failure, cancel, timeout or a killed process — ``close()`` first
interrupts every engine operation the token started and waits for each to end, then revokes the token: nothing the
task started can commit after the run is marked terminal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from odoolake.workspace.engine.launcher import interrupt_token
from odoolake.workspace.errors import ResourceDoesNotExist
from odoolake.workspace.identity.tokens import TokenService

LOG = logging.getLogger(__name__)

TOKEN_COMMENT = "job task"
SLACK_SECONDS = 3600  # a token outlives its task's timeout by this much, in case the server misses the end


@dataclass
class TaskConnection:
    remote: str
    env: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    token_id: str | None = None


class TaskConnections:
    def __init__(self, tokens: TokenService, home: Path, spark_url: str | None, ca_bundle: Path | None,
                 owner: str, remote: str | None = None) -> None:
        self.tokens = tokens
        self.owner = owner
        self.home = home
        self.spark_url = spark_url
        self.ca_bundle = ca_bundle
        self.remote = remote  # a Spark Connect server elsewhere (ODOOLAKE_SPARK_REMOTE): used as it is

    def open(self, principal: str | None, timeout: float | None) -> TaskConnection:
        """A connection for one task attempt run as ``principal`` (the workspace owner when None)."""
        if self.remote or self.spark_url is None:
            return TaskConnection(self.remote or "")
        lifetime = int(timeout) + SLACK_SECONDS if timeout else None
        value, info = self.tokens.create(principal or self.owner, TOKEN_COMMENT, lifetime_seconds=lifetime, task=True)
        env = {"SPARK_CONNECT_AUTHENTICATE_TOKEN": value}
        if self.ca_bundle is not None:  # gRPC (Spark Connect), requests (the SDK) and urllib (secrets) trust the CA
            for variable in ("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
                env[variable] = str(self.ca_bundle)
        return TaskConnection(self.spark_url, env, value, info.token_id)

    def revoke_leftovers(self) -> int:
        """Revoke the tokens of task attempts that were running when the server stopped (their processes are gone:
        ``JobRunner.recover`` killed them); returns how many."""
        return self.tokens.revoke_task_tokens()

    def close(self, connection: TaskConnection) -> None:
        if connection.token is None or connection.token_id is None:
            return
        try:
            interrupt_token(self.home, connection.token)
        finally:
            try:
                self.tokens.revoke(connection.token_id)
            except ResourceDoesNotExist:  # already revoked by an admin: the point is that it no longer works
                pass
            except Exception:  # left valid until the next start revokes it (revoke_leftovers): said, not hidden
                LOG.warning("the token of a finished task could not be revoked", exc_info=True)
