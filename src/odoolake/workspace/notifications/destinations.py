"""Notification destinations (``/api/2.0/notification-destinations``, the SDK's ``w.notification_destinations``):
where job notifications are sent, by id from a job's ``webhook_notifications``.

Kinds: a generic HTTP webhook (a JSON payload, as Databricks posts it; basic auth when a user name and password are
set), a Slack or Microsoft Teams incoming webhook (a text message) and email addresses. URLs, user names and
passwords are kept sealed with the workspace's secrets key and answered only as ``url_set``-style flags, as
Databricks answers them. Only admins create, change or delete destinations.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from odoolake.workspace.db import Database
from odoolake.workspace.errors import InvalidParameterValue, PermissionDenied, ResourceDoesNotExist
from odoolake.workspace.identity.roles import Caller
from odoolake.workspace.secrets.crypto import seal, unseal

# config key -> destination_type
KINDS = {"generic_webhook": "WEBHOOK", "slack": "SLACK", "microsoft_teams": "MICROSOFT_TEAMS", "email": "EMAIL"}
REFUSED_KINDS = {
    "pagerduty": "PagerDuty's Events API is not reachable from a local workspace; use a generic_webhook",
    "databricks_app_slack": "the Databricks Slack app is Databricks' own; use a Slack incoming webhook (slack.url)",
    "databricks_app_teams": "the Databricks Teams app is Databricks' own; use a Teams incoming webhook "
                            "(microsoft_teams.url)",
}
FIELDS = {"generic_webhook": ("url", "username", "password"), "slack": ("url",), "microsoft_teams": ("url",),
          "email": ("addresses",)}
SECRET_FIELDS = ("url", "username", "password")  # kept sealed, answered as <field>_set
MAX_PAGE = 100
ADDRESS = re.compile(r"^[^@\s,;<>\"()]+@[^@\s,;<>\"()]+$")  # one address: no list separators, no display name
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def are_addresses(value: Any) -> bool:
    """A list of email addresses, each one address (the rule for destinations, jobs and pipelines alike)."""
    return isinstance(value, list) and all(isinstance(a, str) and ADDRESS.match(a) for a in value)


class NotificationDestinations:
    def __init__(self, db: Database, key: Callable[[], bytes]) -> None:
        self.db = db
        self._key = key
        self.used_by: Callable[[str], list[str]] = lambda dest_id: []  # the jobs naming a destination (the workspace)

    # -- the API ---------------------------------------------------------------------------------

    def create(self, display_name: Any, config: Any, caller: Caller | None = None) -> dict:
        _require_admin(caller, "create")
        if not isinstance(display_name, str) or not display_name.strip():
            raise InvalidParameterValue("Missing required field: display_name")
        kind, values = _config(config)
        _validate(kind, values)
        dest_id = str(uuid.uuid4())
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO notification_destinations(id, display_name, kind, config, created_time) "
                         "VALUES (?, ?, ?, ?, ?)", (dest_id, display_name.strip(), kind,
                                                    self._seal(dest_id, values), int(time.time() * 1000)))
        return self.get(dest_id)

    def get(self, dest_id: Any) -> dict:
        row = self._row(dest_id)
        kind, values = row["kind"], self._open(row)
        shown: dict[str, Any] = {}
        for name in FIELDS[kind]:
            if name in SECRET_FIELDS:
                shown[f"{name}_set"] = bool(values.get(name))
            else:
                shown[name] = values.get(name)
        return {"id": row["id"], "display_name": row["display_name"], "destination_type": KINDS[kind],
                "config": {kind: shown}}

    def list(self, page_size: int | None = None, page_token: str | None = None) -> dict:
        size = page_size or MAX_PAGE
        if not 1 <= size <= MAX_PAGE:
            raise InvalidParameterValue(f"Invalid page_size {page_size}: must be between 1 and {MAX_PAGE}.")
        start = 0
        if page_token:
            if not (page_token.isascii() and page_token.isdigit() and len(page_token) <= 9):
                raise InvalidParameterValue(f"Invalid page_token {page_token[:40]!r}: pass the next_page_token of "
                                            f"the previous page.")
            start = int(page_token)
        rows = self.db.connect().execute("SELECT id, display_name, kind FROM notification_destinations "
                                         "ORDER BY created_time, id LIMIT ? OFFSET ?", (size + 1, start)).fetchall()
        body: dict[str, Any] = {"results": [{"id": r["id"], "display_name": r["display_name"],
                                             "destination_type": KINDS[r["kind"]]} for r in rows[:size]]}
        if len(rows) > size:
            body["next_page_token"] = str(start + size)
        return body

    def update(self, dest_id: Any, display_name: Any = None, config: Any = None, caller: Caller | None = None) -> dict:
        """A changed field replaces the kept one; a secret left out stays as it is (its ``_set`` flag says so)."""
        _require_admin(caller, "change")
        row = self._row(dest_id)
        if display_name is None and config is None:
            raise InvalidParameterValue("Nothing to update: give display_name or config.")
        if display_name is not None and (not isinstance(display_name, str) or not display_name.strip()):
            raise InvalidParameterValue("Invalid display_name: expected a non-empty string.")
        values = self._open(row)
        if config is not None:
            kind, given = _config(config)
            if kind != row["kind"]:
                raise InvalidParameterValue(f"Invalid config: destination {dest_id} is a {row['kind']} destination; "
                                            f"a destination's type cannot change (create a new one).")
            values = {**values, **{k: v for k, v in given.items() if v is not None}}
            _validate(kind, values)
        with self.db.transaction() as conn:
            conn.execute("UPDATE notification_destinations SET display_name = ?, config = ? WHERE id = ?",
                         ((display_name or row["display_name"]).strip(), self._seal(row["id"], values), row["id"]))
        return self.get(row["id"])

    def delete(self, dest_id: Any, caller: Caller | None = None) -> None:
        _require_admin(caller, "delete")
        row = self._row(dest_id)
        users = self.used_by(row["id"])
        if users:
            raise InvalidParameterValue(f"Notification destination {row['id']} is named by {', '.join(users)}: remove "
                                        f"it from their webhook_notifications first.")
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM notification_destinations WHERE id = ?", (row["id"],))

    # -- for jobs and delivery -------------------------------------------------------------------

    def exists(self, dest_id: str) -> bool:
        return self.db.connect().execute("SELECT 1 FROM notification_destinations WHERE id = ?",
                                         (dest_id,)).fetchone() is not None

    def resolve(self, dest_id: str) -> tuple[str, dict[str, Any]] | None:
        """(kind, config with its secrets) of a destination, or None when it was deleted."""
        row = self.db.connect().execute("SELECT * FROM notification_destinations WHERE id = ?", (dest_id,)).fetchone()
        return (row["kind"], self._open(row)) if row else None

    # -- storage ---------------------------------------------------------------------------------

    def _row(self, dest_id: Any) -> Any:
        row = self.db.connect().execute("SELECT * FROM notification_destinations WHERE id = ?",
                                        (str(dest_id),)).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"Notification destination {dest_id} does not exist.")
        return row

    def _seal(self, dest_id: str, values: dict[str, Any]) -> bytes:
        return seal(self._key(), f"notification-destination/{dest_id}", json.dumps(values).encode())

    def _open(self, row: Any) -> dict[str, Any]:
        return json.loads(unseal(self._key(), f"notification-destination/{row['id']}", row["config"]))


def _require_admin(caller: Caller | None, action: str) -> None:
    if caller is not None and not caller.is_admin:
        raise PermissionDenied(f"{caller.user} may not {action} notification destinations: that needs a workspace "
                               f"admin.")


def _config(config: Any) -> tuple[str, dict[str, Any]]:
    """The one kind a config wraps, and its fields."""
    if not isinstance(config, dict) or not config:
        raise InvalidParameterValue(f"Missing required field: config (one of {', '.join(KINDS)}).")
    refused = [k for k in config if k in REFUSED_KINDS]
    if refused:
        raise InvalidParameterValue(f"config.{refused[0]} is not supported locally: {REFUSED_KINDS[refused[0]]}.")
    kinds = [k for k in config if config[k] is not None]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or len(kinds) != 1:
        raise InvalidParameterValue(f"Invalid config: it must wrap exactly one of {', '.join(KINDS)} "
                                    f"(got {', '.join(kinds) or 'none'}).")
    kind = kinds[0]
    values = config[kind]
    if not isinstance(values, dict):
        raise InvalidParameterValue(f"Invalid config.{kind}: expected an object.")
    extra = [k for k in values if k not in FIELDS[kind] and not k.endswith("_set")]
    if extra:
        raise InvalidParameterValue(f"config.{kind}.{extra[0]} is not supported locally (supported: "
                                    f"{', '.join(FIELDS[kind])}).")
    return kind, {k: values[k] for k in FIELDS[kind] if k in values}


def _validate(kind: str, values: dict[str, Any]) -> None:
    if kind == "email":
        addresses = values.get("addresses")
        if not addresses or not are_addresses(addresses):
            raise InvalidParameterValue(f"Invalid config.email.addresses: expected a list of email addresses, got "
                                        f"{addresses!r}.")
        return
    for name in ("username", "password"):
        value = values.get(name)
        if value is not None and (not isinstance(value, str) or CONTROL.search(value)):
            raise InvalidParameterValue(f"Invalid config.{kind}.{name}: expected a string without control "
                                        f"characters.")
    url = values.get("url")
    parts = urlsplit(url) if isinstance(url, str) and not CONTROL.search(url) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterValue(f"Invalid config.{kind}.url: expected an http(s) URL, got {url!r}.")
    if kind == "generic_webhook" and bool(values.get("username")) != bool(values.get("password")):
        raise InvalidParameterValue("Invalid config.generic_webhook: a username needs a password, and a password "
                                    "a username (basic authentication).")
