"""Personal access tokens: minted once, shown once, stored as SHA-256 hashes, revocable, optionally expiring."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from odoolake.workspace.db import Database, ReadCache
from odoolake.workspace.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceDoesNotExist,
    Unauthenticated,
)

# How to get a token that works, said wherever one is refused (REST, the SQL warehouse, Spark Connect)
NEW_TOKEN = "Create a new token with `odoolake tokens create` or `odoolake up --write-profile NAME`."

TOKEN_PREFIX = "dapi"
MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    comment: str
    creation_time: int
    expiry_time: int
    created_by_username: str

    def as_dict(self) -> dict:
        return {"token_id": self.token_id, "comment": self.comment, "creation_time": self.creation_time,
                "expiry_time": self.expiry_time, "created_by_username": self.created_by_username}


class TokenService:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        # hash -> (user, expiry ms) or None; dropped when any commit lands (a token revoked by the CLI included).
        self._cache = ReadCache(db)

    def create(self, user_name: str, comment: str = "", lifetime_seconds: int | None = None,
               task: bool = False) -> tuple[str, TokenInfo]:
        """A new token; ``task`` marks one the job runner made for a task attempt (``revoke_task_tokens``)."""
        if lifetime_seconds is not None and (lifetime_seconds < 0 or lifetime_seconds > MAX_LIFETIME_SECONDS):
            raise InvalidParameterValue(
                f"lifetime_seconds must be between 0 and {MAX_LIFETIME_SECONDS}, got {lifetime_seconds}.")
        now = int(self.clock() * 1000)
        expiry = now + lifetime_seconds * 1000 if lifetime_seconds else -1
        value = TOKEN_PREFIX + secrets.token_hex(16)
        token_id = secrets.token_hex(32)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO tokens(token_id, token_hash, comment, user_name, creation_time, expiry_time, task) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (token_id, _hash(value), comment or "", user_name, now, expiry, int(task)))
        self._cache.clear()
        return value, TokenInfo(token_id, comment or "", now, expiry, user_name)

    def list(self, user_name: str | None = None) -> list[TokenInfo]:
        sql = "SELECT * FROM tokens WHERE revoked = 0" + (" AND user_name = ?" if user_name else "")
        rows = self.db.connect().execute(sql + " ORDER BY creation_time", (user_name,) if user_name else ())
        return [TokenInfo(r["token_id"], r["comment"], r["creation_time"], r["expiry_time"], r["user_name"])
                for r in rows]

    def revoke(self, token_id: str, requester: str | None = None, is_admin: bool = False) -> None:
        """Revoke a token. Through the API (``requester`` given) only its owner or an admin may; the machine's owner
        acting on the database directly (the CLI in owner mode) passes no requester."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT user_name FROM tokens WHERE token_id = ? AND revoked = 0",
                               (token_id,)).fetchone()
            if row is None:
                raise ResourceDoesNotExist(f"Token {token_id} does not exist.")
            if requester is not None and not is_admin and row["user_name"] != requester:
                raise PermissionDenied(f"Token {token_id} belongs to another user: only its owner or an admin may "
                                       "revoke it.")
            conn.execute("UPDATE tokens SET revoked = 1 WHERE token_id = ?", (token_id,))
        self._cache.clear()

    def revoke_task_tokens(self) -> int:
        """Revoke every token made for a task attempt that is still valid; returns how many."""
        with self.db.transaction() as conn:
            count = conn.execute("UPDATE tokens SET revoked = 1 WHERE task = 1 AND revoked = 0").rowcount
        self._cache.clear()
        return int(count)

    def count(self) -> int:
        return self.db.connect().execute("SELECT COUNT(*) FROM tokens WHERE revoked = 0").fetchone()[0]

    def authenticate(self, value: str | None) -> str:
        """The user a bearer token belongs to; Unauthenticated for a missing, unknown, revoked or expired token."""
        if not value:
            raise Unauthenticated("Missing Authorization header: expected 'Authorization: Bearer <token>'.")
        digest = _hash(value)

        def load() -> tuple[str, int, bool] | None:
            row = self.db.connect().execute("SELECT * FROM tokens WHERE token_hash = ?", (digest,)).fetchone()
            return None if row is None else (row["user_name"], row["expiry_time"], bool(row["revoked"]))

        cached = self._cache.get(digest, load)
        if cached is None:
            raise Unauthenticated(f"Invalid access token. {NEW_TOKEN}")
        if cached[2]:
            raise Unauthenticated(f"Invalid access token: the token has been revoked. {NEW_TOKEN}")
        user, expiry, _ = cached
        if expiry != -1 and expiry <= self.clock() * 1000:
            raise Unauthenticated(f"Invalid access token: the token has expired. {NEW_TOKEN}")
        return user
