"""OAuth machine-to-machine for service principals, as Databricks does it for CI (``client_credentials``).

A service principal gets a client secret (``odoolake users secret <name>``, shown once, stored hashed). The SDK
with ``client_id``/``client_secret`` discovers ``/oidc/.well-known/oauth-authorization-server`` and posts to
``/oidc/v1/token`` with HTTP Basic credentials; the answer is a bearer token valid for one hour, minted for the
service principal, which then goes through the same authentication and roles as any token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from odoolake.workspace.db import Database
from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.identity.roles import SERVICE_PRINCIPAL, Roles
from odoolake.workspace.identity.tokens import TokenService

ACCESS_TOKEN_SECONDS = 3600


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        self.error, self.description, self.status = error, description, status
        super().__init__(description)


class OAuthService:
    def __init__(self, db: Database, roles: Roles, tokens: TokenService) -> None:
        self.db, self.roles, self.tokens = db, roles, tokens

    def create_secret(self, client_id: str) -> str:
        if self.roles.role_of(client_id) != SERVICE_PRINCIPAL or not self.roles.exists(client_id):
            raise InvalidParameterValue(f"{client_id} is not a service principal; first run: "
                                        f"odoolake users set {client_id} service_principal")
        value = "dose" + secrets.token_hex(24)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO oauth_secrets(secret_id, client_id, secret_hash, created) VALUES (?, ?, ?, ?)",
                         (secrets.token_hex(8), client_id, _hash(value), int(time.time())))
        return value

    def token(self, client_id: str | None, client_secret: str | None, grant_type: str | None) -> dict:
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported; use "
                             "client_credentials")
        if not client_id or not client_secret:
            raise OAuthError("invalid_client", "client_id and client_secret are required", 401)
        rows = self.db.connect().execute("SELECT secret_hash FROM oauth_secrets WHERE client_id = ?",
                                         (client_id,)).fetchall()
        digest = _hash(client_secret)
        if not any(hmac.compare_digest(r["secret_hash"], digest) for r in rows):
            raise OAuthError("invalid_client", "Client authentication failed", 401)
        if self.roles.role_of(client_id) != SERVICE_PRINCIPAL:
            raise OAuthError("invalid_client", f"{client_id} is no longer a service principal", 401)
        value, _ = self.tokens.create(client_id, "oauth m2m access token", ACCESS_TOKEN_SECONDS)
        return {"access_token": value, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS, "scope": "all-apis"}
