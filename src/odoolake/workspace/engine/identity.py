"""Who is calling the engine: a principal from a gRPC call's metadata.

Two doors lead in, and they trust different things:
- the front door (TLS, reached through the workspace's port): a bearer token is required, as on Databricks;
  ``x-databricks-cluster-id``, when sent, must name the local cluster;
- the owner's socket (``<home>/run/engine.sock``, a Unix socket in an owner-only directory): whoever can open it
  is the machine's owner, who may act as a named principal (``x-odoolake-principal``) — that is how the
  workspace runs a statement for the user whose token the REST API checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from odoolake.workspace.errors import ApiError

PRINCIPAL_HEADER = "x-odoolake-principal"
CLUSTER_HEADER = "x-databricks-cluster-id"
LOCAL_CLUSTER_ID = "0101-000000-odoolake"  # the workspace's one cluster (workspace.compute reports it)


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    token: str | None = None  # the bearer token used, so a run's token can interrupt that run's work


class CallRefused(Exception):
    """Ends a call with a gRPC status: ``code`` is a ``grpc.StatusCode`` name, ``error_class`` the Spark one."""

    def __init__(self, code: str, message: str, error_class: str | None = None, sql_state: str | None = None,
                 classes: tuple[str, ...] = ()) -> None:
        self.code = code
        self.message = message
        self.error_class = error_class
        self.sql_state = sql_state
        self.classes = classes  # the JVM exception classes Spark raises it as; else chosen by ``code``
        super().__init__(message)


class Authenticator:
    def __init__(self, home, owner: str, trust_owner_socket: bool) -> None:
        from odoolake.workspace.db import Database
        from odoolake.workspace.identity.roles import Roles
        from odoolake.workspace.identity.tokens import TokenService

        db = Database(home / "workspace.db")
        self.tokens = TokenService(db)
        self.roles = Roles(db, owner)
        self.owner = owner
        self.trust_owner_socket = trust_owner_socket

    def principal(self, metadata: dict[str, str]) -> Principal:
        if self.trust_owner_socket:
            name = metadata.get(PRINCIPAL_HEADER) or self.owner
            return Principal(name, self.roles.role_of(name))
        cluster = metadata.get(CLUSTER_HEADER)
        if cluster and cluster != LOCAL_CLUSTER_ID:
            raise CallRefused("INVALID_ARGUMENT", f"Unknown cluster id {cluster!r}: this workspace has one cluster, "
                                                  f"{LOCAL_CLUSTER_ID}. Set cluster_id in your profile to it, or use "
                                                  "serverless.")
        auth = metadata.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if not token:
            raise CallRefused("UNAUTHENTICATED",
                              "[UNAUTHENTICATED] Missing credentials: send 'authorization: Bearer <token>' (a personal "
                              "access token or an OAuth access token of this workspace; `odoolake up --write-profile "
                              "NAME` writes a profile with one).")
        try:
            user = self.tokens.authenticate(token)
        except ApiError as exc:
            raise CallRefused("UNAUTHENTICATED", f"[UNAUTHENTICATED] {exc.message}") from None  # names the fix
        return Principal(user, self.roles.role_of(user), token)
