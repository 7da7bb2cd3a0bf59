"""The Pipelines API (``/api/2.0/pipelines``) for DLT-style pipelines run by ``odoolake.dlt``.

An update runs in a task process (like a job task): its notebooks are read from the workspace tree, datasets are
written to the pipeline's ``target`` (or ``schema``) and expectation metrics to ``<target>.event_log``.
States follow the API: updates go QUEUED → INITIALIZING → RUNNING → COMPLETED | FAILED | CANCELED.
An update runs as the pipeline's ``run_as`` principal, else its creator; who may edit, delete and start it is the
pipeline's access control list (``permissions.py``).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import operator
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from odoolake.workspace.db import Database
from odoolake.workspace.errors import (
    InvalidParameterValue,
    NotImplementedLocally,
    ResourceConflict,
    ResourceDoesNotExist,
)
from odoolake.workspace.identity.roles import Caller
from odoolake.workspace.notifications import events
from odoolake.workspace.notifications.delivery import Notice
from odoolake.workspace.permissions import CAN_MANAGE, CAN_RUN, PIPELINES, ObjectPermissions, Owned

TERMINAL = ("COMPLETED", "FAILED", "CANCELED")
STOP_WAIT_SECONDS = 60  # how long a delete waits for the update it stopped to end
SERVER_FIELDS = ("creator_user_name", "run_as_user_name", "dry_run", "allow_duplicate_names")  # not the caller's to set
INTERRUPTED_MESSAGE = "The workspace stopped while this update was running; start a new update."


def _now() -> int:
    return int(time.time() * 1000)


MAX_EVENTS, EVENTS_PAGE = 1000, 25  # events.max_results at most, and by default, as on Databricks
_FILTER_TERM = re.compile(r"^\s*(level|event_type|timestamp|id)\s*(=|!=|>=|<=|>|<|in)\s*(.+?)\s*$", re.IGNORECASE)


def _public(update: dict) -> dict:
    return {k: v for k, v in update.items() if not k.startswith("_")}


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ascending(order_by: Any) -> bool:
    """``order_by`` of the events call: ``["timestamp asc"]`` or ``["timestamp desc"]`` (the default)."""
    if not order_by:
        return False
    if not isinstance(order_by, list) or len(order_by) != 1 or not isinstance(order_by[0], str) or \
            order_by[0].strip().lower() not in ("timestamp asc", "timestamp desc", "timestamp"):
        raise InvalidParameterValue(f"Invalid order_by {order_by!r}: events are ordered by 'timestamp asc' or "
                                    f"'timestamp desc'.")
    return order_by[0].strip().lower() == "timestamp asc"


def _events_query_key(filter: str | None, ascending: bool) -> str:
    """What a page token of the events list was made for: its filter and order (the SDK sends both with it)."""
    return hashlib.sha256(f"{filter or ''}\0{ascending}".encode()).hexdigest()[:12]


def _events_page_start(page_token: str | None, asked: str) -> int:
    """Where a page of events starts: the offset in ``page_token``, which must have been made for the same filter
    and order (an offset into another filter's events skipped what this one finds)."""
    if page_token is None:
        return 0
    offset, _, made_for = page_token.partition("-")
    if not (offset.isascii() and offset.isdigit()) or not made_for:
        raise InvalidParameterValue(f"Invalid page_token {page_token!r}.")
    if made_for != asked:
        raise InvalidParameterValue("Invalid page_token: it was given for another filter or order_by; ask for the "
                                    "first page again (no page_token) with the new ones.")
    return int(offset)


def events_filter(text: str | None) -> Callable[[dict], bool]:
    """The events filter Databricks documents: terms on ``level``, ``event_type`` and ``timestamp`` joined with
    AND (``level='ERROR'``, ``level in ('WARN', 'ERROR')``, ``timestamp > '2026-12-01T00:00:00Z'``); anything else
    is refused naming it."""
    if not text or not text.strip():
        return lambda event: True
    tests: list[Callable[[dict], bool]] = []
    for term in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _FILTER_TERM.match(term)
        if match is None:
            raise InvalidParameterValue(f"Invalid filter {text!r}: {term.strip()!r} is not a term on level, "
                                        f"event_type, timestamp or id (e.g. level='ERROR', "
                                        f"timestamp > '2026-12-01T00:00:00Z').")
        field, op, raw = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if op == "in":
            values = re.findall(r"'([^']*)'", raw)
            if not raw.startswith("(") or not values:
                raise InvalidParameterValue(f"Invalid filter {text!r}: {field} in needs a list like "
                                            f"('WARN', 'ERROR').")
            tests.append(partial(_among, field, frozenset(values)))
            continue
        literal = re.fullmatch(r"'([^']*)'", raw)
        if literal is None and re.search(r"'\s+or\s+", raw, re.IGNORECASE):
            raise InvalidParameterValue(f"Invalid filter {text!r}: terms are joined with AND only; for either of "
                                        f"two values use {field} in ('A', 'B').")
        if literal is None:
            raise InvalidParameterValue(f"Invalid filter {text!r}: the value of {field} is a quoted string.")
        value = literal.group(1)
        if field == "timestamp":
            value = _rfc3339(int(_instant(value, text) * 1000))
        compare = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt,
                   "<=": operator.le}[op]
        tests.append(partial(_compared, field, compare, value))
    return lambda event: all(test(event) for test in tests)


def pipelines_filter(text: str | None) -> Callable[[dict], bool]:
    """The list filter: ``name LIKE '<pattern>'`` or ``notebook='<path>'`` (one of them; composite filters are not
    supported, as on Databricks)."""
    if not text or not text.strip():
        return lambda pipeline: True
    like = re.fullmatch(r"\s*name\s+like\s+'([^']*)'\s*", text, re.IGNORECASE)
    if like:
        pattern = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in like.group(1)),
                             re.IGNORECASE | re.DOTALL)
        return lambda pipeline: pattern.fullmatch(pipeline["name"]) is not None
    notebook = re.fullmatch(r"\s*notebook\s*=\s*'([^']*)'\s*", text, re.IGNORECASE)
    if notebook:
        path = notebook.group(1)
        return lambda pipeline: any((lib.get("notebook") or {}).get("path") == path
                                    for lib in pipeline["spec"].get("libraries") or [])
    raise InvalidParameterValue(f"Invalid filter {text!r}: pipelines are filtered by name LIKE '<pattern>' or "
                                f"notebook='<path>', one at a time.")


def _among(field: str, values: frozenset[str], event: dict) -> bool:
    return event[field] in values


def _compared(field: str, compare: Callable[[Any, Any], Any], value: str, event: dict) -> bool:
    return bool(compare(event[field], value))


def _instant(value: str, text: str) -> float:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValue(f"Invalid filter {text!r}: {value!r} is not a timestamp "
                                    f"(e.g. 2026-12-01T00:00:00Z).") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def destination(spec: dict) -> str:
    """Where a pipeline's datasets are published: ``<catalog>.<schema>``, or the schema in the default catalog."""
    return f"{spec['catalog']}.{spec['target']}" if spec.get("catalog") else spec["target"]


def _selection(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidParameterValue(f"Invalid {field}: expected a list of dataset names.")
    return list(dict.fromkeys(value))


class PipelinesService:
    def __init__(self, db: Database, execute: Any, user: str,
                 known_principal: Callable[[str], bool] | None = None,
                 is_service_principal: Callable[[str], bool] | None = None,
                 cancel: Callable[[str], None] | None = None,
                 require_catalog: Callable[[str], Any] | None = None,
                 drop_tables: Callable[[str, str], builtins.list[str]] | None = None,
                 notify: Callable[[Notice, builtins.list[str], builtins.list[str]], None] | None = None) -> None:
        """``execute(pipeline_spec, update_id, options, principal) -> (ok, message)`` runs one update (blocking) as
        ``principal``; ``options`` say what it refreshes (``full_refresh``, ``refresh_selection``,
        ``full_refresh_selection``, ``validate_only``). ``cancel(update_id)`` ends a running update's work;
        ``require_catalog(name)`` raises when the catalog does not exist; ``drop_tables(destination, pipeline_id)``
        drops the tables the pipeline owns there (a cascading delete) and names them; ``notify(notice, destination
        ids, addresses)`` sends the mail a pipeline's ``notifications`` ask for when an update ends."""
        self.notify = notify or (lambda notice, ids, addresses: None)
        self.require_catalog = require_catalog or (lambda name: None)
        self.drop_tables = drop_tables or (lambda destination, pipeline_id: [])
        self.db = db
        self.execute = execute
        self.cancel = cancel or (lambda update_id: None)
        self._starting = threading.Lock()
        self._stopping: dict[str, str] = {}  # update id -> who stopped it
        self.user = user
        self._naming = threading.Lock()  # a name's check and its write happen together: two requests cannot both pass
        self.known_principal = known_principal or (lambda name: name == user)
        self.permissions = ObjectPermissions(db, PIPELINES, self.known_principal,
                                             is_service_principal or (lambda name: False))

    def _spec(self, body: dict) -> dict:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidParameterValue("Missing required field: name")
        libraries = body.get("libraries") or []
        if not isinstance(libraries, list) or not libraries:
            raise InvalidParameterValue("Invalid libraries: a pipeline needs at least one notebook library.")
        for i, lib in enumerate(libraries):
            if not isinstance(lib, dict) or not isinstance((lib.get("notebook") or {}).get("path"), str):
                raise InvalidParameterValue(f"Invalid libraries[{i}]: only notebook libraries are supported locally.")
        if body.get("target") and body.get("schema") and body["target"] != body["schema"]:
            raise InvalidParameterValue("Give the schema the datasets go to as schema (or the older target), not "
                                        "both.")
        target = body.get("target") or body.get("schema")
        if not isinstance(target, str) or not target or "." in target:
            raise InvalidParameterValue("Missing required field: schema (or target), the schema the datasets go to, "
                                        "without its catalog (that is the catalog field).")
        if body.get("continuous"):
            raise NotImplementedLocally("Continuous pipelines are not supported locally: the local workspace runs "
                                        "triggered updates; set continuous: false (start updates on a schedule with "
                                        "a job's pipeline_task).")
        catalog = body.get("catalog")
        if catalog is not None:
            if not isinstance(catalog, str) or not catalog or "." in catalog:
                raise InvalidParameterValue(f"Invalid catalog {catalog!r}: expected a catalog's name.")
            self.require_catalog(catalog)
        events.validate_pipeline(body)
        spec = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        spec["target"] = target
        return spec

    @staticmethod
    def _principal(row: Any) -> str:
        """Whom the pipeline's updates run as: its ``run_as``, else its creator."""
        run_as = json.loads(row["spec"]).get("run_as") or {}
        return next(iter(run_as.values()), None) or row["creator"]

    @staticmethod
    def _owned(row: Any) -> Owned:
        return Owned(row["pipeline_id"], row["creator"])

    def _check_name(self, spec: dict, body: dict, editing: str | None = None) -> None:
        """Pipeline names are unique unless the request says ``allow_duplicate_names``."""
        if body.get("allow_duplicate_names"):
            return
        for existing in self.list():
            if existing["name"] == spec["name"] and existing["pipeline_id"] != editing:
                raise ResourceConflict(f"A pipeline named {spec['name']!r} already exists "
                                       f"({existing['pipeline_id']}).")

    def create(self, body: dict, caller: Caller | None = None) -> str:
        spec = self._spec(body)
        self.permissions.check_run_as(spec.get("run_as"), caller)
        pipeline_id = str(uuid.uuid4())
        spec["id"] = pipeline_id
        with self._naming:
            self._check_name(spec, body)
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO pipelines(pipeline_id, spec, creator, created) VALUES (?, ?, ?, ?)",
                             (pipeline_id, json.dumps(spec), caller.user if caller else self.user, _now()))
        return pipeline_id

    def _row(self, pipeline_id: str):
        row = self.db.connect().execute("SELECT * FROM pipelines WHERE pipeline_id = ?", (pipeline_id,)).fetchone()
        if row is None:
            raise ResourceDoesNotExist(f"The specified pipeline {pipeline_id} was not found.")
        return row

    def _updates(self, pipeline_id: str) -> list[dict]:
        rows = self.db.connect().execute("SELECT body FROM pipeline_updates WHERE pipeline_id = ? ORDER BY created DESC",
                                         (pipeline_id,)).fetchall()
        return [json.loads(r["body"]) for r in rows]

    def get(self, pipeline_id: str) -> dict:
        row = self._row(pipeline_id)
        spec = json.loads(row["spec"])
        updates = self._updates(pipeline_id)
        running = any(u["state"] not in TERMINAL for u in updates)
        state = "RUNNING" if running else ("FAILED" if updates and updates[0]["state"] == "FAILED" else "IDLE")
        return {"pipeline_id": pipeline_id, "name": spec["name"], "spec": spec, "state": state,
                "creator_user_name": row["creator"], "run_as_user_name": self._principal(row),
                "latest_updates": [{"update_id": u["update_id"], "state": u["state"],
                                    "creation_time": u["creation_time"]} for u in updates[:5]]}

    def list(self, filter: str | None = None) -> list[dict]:
        """Every pipeline (by creation), or those ``filter`` selects: ``name LIKE '<pattern>'`` (``%`` and ``_``
        wildcards) or ``notebook='<path>'``, the two filters the Pipelines API documents."""
        keep = pipelines_filter(filter)
        ids = [r["pipeline_id"] for r in self.db.connect().execute("SELECT pipeline_id FROM pipelines ORDER BY created")]
        return [{k: v for k, v in p.items() if k != "spec"} for p in map(self.get, ids) if keep(p)]

    def edit(self, pipeline_id: str, body: dict, caller: Caller | None = None) -> None:
        row = self._row(pipeline_id)
        self.permissions.require(self._owned(row), caller, CAN_MANAGE, "edit")
        spec = self._spec(body)
        effective = spec.get("run_as") or {"user_name": row["creator"]}  # removing run_as falls back to the creator
        self.permissions.check_run_as(effective, caller, self._principal(row))
        spec["id"] = pipeline_id
        with self._naming:
            self._check_name(spec, body, editing=pipeline_id)
            with self.db.transaction() as conn:
                conn.execute("UPDATE pipelines SET spec = ? WHERE pipeline_id = ?", (json.dumps(spec), pipeline_id))

    def delete(self, pipeline_id: str, caller: Caller | None = None, cascade: bool = True) -> builtins.list[str]:
        """Delete the pipeline: its active update is stopped first, and (``cascade``, the default, as on Databricks)
        the tables it made are dropped with it. Returns the tables dropped."""
        row = self._row(pipeline_id)
        self.permissions.require(self._owned(row), caller, CAN_MANAGE, "delete")
        if self.stop(pipeline_id, caller) is not None:
            deadline = time.monotonic() + STOP_WAIT_SECONDS
            while any(u["state"] not in TERMINAL for u in self._updates(pipeline_id)) and time.monotonic() < deadline:
                time.sleep(0.1)
        dropped = self.drop_tables(destination(json.loads(row["spec"])), pipeline_id) if cascade else []
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM pipelines WHERE pipeline_id = ?", (pipeline_id,))
            conn.execute("DELETE FROM pipeline_updates WHERE pipeline_id = ?", (pipeline_id,))
        self.permissions.forget(pipeline_id)
        return dropped

    def get_permissions(self, pipeline_id: str) -> dict:
        return self.permissions.answer(self._owned(self._row(pipeline_id)))

    def set_permissions(self, pipeline_id: str, access_control_list: Any, caller: Caller | None = None,
                        replace: bool = True) -> dict:
        """PUT (``replace``) or PATCH the pipeline's access control list; answers its permissions after it."""
        owned = self._owned(self._row(pipeline_id))
        self.permissions.require(owned, caller, CAN_MANAGE, "change the permissions of")
        grants = self.permissions.check(access_control_list or [], caller, owner=self.permissions.owner(owned))
        self.permissions.apply(owned, grants, replace)
        return self.permissions.answer(owned)

    def recover(self) -> int:
        """End the updates that were active when the server stopped (their task processes ended with it): left
        active, each would refuse every later update of its pipeline. Returns how many."""
        rows = self.db.connect().execute("SELECT body FROM pipeline_updates").fetchall()
        active = [u for u in (json.loads(r["body"]) for r in rows) if u["state"] not in TERMINAL]
        for update in active:
            update["state"], update["message"] = "FAILED", INTERRUPTED_MESSAGE
            self._save(update)
        return len(active)

    def _save(self, update: dict) -> None:
        update["_state_time"] = _now()  # when it reached its state: the time of its update_progress event
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO pipeline_updates(update_id, pipeline_id, body, created) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(update_id) DO UPDATE SET body = excluded.body",
                         (update["update_id"], update["pipeline_id"], json.dumps(update), update["creation_time"]))

    def start_update(self, pipeline_id: str, full_refresh: bool = False, wait: bool = False,
                     caller: Caller | None = None, refresh_selection: Any = None, full_refresh_selection: Any = None,
                     validate_only: bool = False, cause: str = "API_CALL") -> str:
        """Start an update (``wait``: run it here and return when it ended). ``refresh_selection`` and
        ``full_refresh_selection`` name the only datasets it refreshes (the latter reset first); ``validate_only``
        analyses every dataset and writes nothing."""
        row = self._row(pipeline_id)
        self.permissions.require(self._owned(row), caller, CAN_RUN, "start an update of")
        spec, principal = json.loads(row["spec"]), self._principal(row)
        if spec.get("catalog"):
            self.require_catalog(spec["catalog"])  # it may have been dropped since
        options: dict[str, Any] = {"full_refresh": bool(full_refresh), "validate_only": bool(validate_only),
                                   "refresh_selection": _selection(refresh_selection, "refresh_selection"),
                                   "full_refresh_selection": _selection(full_refresh_selection,
                                                                        "full_refresh_selection")}
        if full_refresh and (options["refresh_selection"] or options["full_refresh_selection"]):
            raise InvalidParameterValue("full_refresh resets every dataset: it cannot be combined with "
                                        "refresh_selection or full_refresh_selection (name the datasets to reset in "
                                        "full_refresh_selection instead).")
        with self._starting:  # the check for an active update and the new one's record, together
            if any(u["state"] not in TERMINAL for u in self._updates(pipeline_id)):
                raise ResourceConflict(f"Pipeline {pipeline_id} already has an active update.")
            update: dict[str, Any] = {"update_id": str(uuid.uuid4()), "pipeline_id": pipeline_id, "state": "QUEUED",
                                      "creation_time": _now(), "cause": cause,
                                      **{k: v for k, v in options.items() if v}}
            update.setdefault("full_refresh", False)
            self._save(update)

        def work() -> None:
            update["state"] = "RUNNING"
            self._save(update)
            try:
                ok, message = self.execute(spec, update["update_id"], options, principal)
            except Exception as exc:  # whatever happened, the update ends: an active one would block the pipeline
                ok, message = False, f"The update could not run: {type(exc).__name__}: {exc}"
            with self._starting:
                stopped_by = self._stopping.pop(update["update_id"], None)
            if stopped_by is not None:
                update["state"], message = "CANCELED", f"Stopped by {stopped_by}."
            else:
                update["state"] = "COMPLETED" if ok else "FAILED"
            if message:
                update["message"] = message
            self._save(update)
            recipients = events.pipeline_recipients(spec, update["state"])
            if recipients:
                self.notify(events.pipeline_notice(spec, update), [], recipients)

        if wait:
            work()
        else:
            threading.Thread(target=work, name=f"pipeline-{pipeline_id[:8]}", daemon=True).start()
        return update["update_id"]

    def stop(self, pipeline_id: str, caller: Caller | None = None) -> str | None:
        """Stop the pipeline's active update (its task process is ended, nothing it started commits afterwards, and
        the update ends CANCELED); returns its id, or None when no update was active."""
        row = self._row(pipeline_id)
        self.permissions.require(self._owned(row), caller, CAN_RUN, "stop")
        with self._starting:
            active = next((u for u in self._updates(pipeline_id) if u["state"] not in TERMINAL), None)
            if active is None:
                return None
            self._stopping[active["update_id"]] = caller.user if caller else "the workspace"
        self.cancel(active["update_id"])
        return str(active["update_id"])

    def list_updates(self, pipeline_id: str, max_results: int | None = None) -> builtins.list[dict]:
        """The pipeline's updates, newest first."""
        self._row(pipeline_id)
        return [_public(u) for u in self._updates(pipeline_id)[:max_results]]

    def get_update(self, pipeline_id: str, update_id: str) -> dict:
        self._row(pipeline_id)
        for update in self._updates(pipeline_id):
            if update["update_id"] == update_id:
                return {"update": _public(update)}
        raise ResourceDoesNotExist(f"Update {update_id} of pipeline {pipeline_id} does not exist.")

    def events(self, pipeline_id: str, filter: str | None = None, max_results: int | None = None,
               order_by: builtins.list[str] | None = None, page_token: str | None = None) -> dict:
        """The pipeline's event log as the Pipelines API answers it: for each update a ``create_update`` event and an
        ``update_progress`` event of its state (ERROR, with the reason, when it failed), newest first unless
        ``order_by`` says ``timestamp asc``; ``filter`` as in events.filter (``level``, ``event_type``,
        ``timestamp``, ``id``); pages of ``max_results`` (25 by default) with a ``next_page_token``."""
        self._row(pipeline_id)
        keep = events_filter(filter)
        if max_results is not None and not 1 <= max_results <= MAX_EVENTS:
            raise InvalidParameterValue(f"Invalid max_results {max_results}: must be between 1 and {MAX_EVENTS}.")
        ascending = _ascending(order_by)
        asked = _events_query_key(filter, ascending)
        start = _events_page_start(page_token, asked)
        out: builtins.list[dict] = []
        for u in self._updates(pipeline_id):
            origin = {"pipeline_id": pipeline_id, "update_id": u["update_id"]}
            out.append({"id": f"{u['update_id']}-created", "event_type": "create_update", "level": "INFO",
                        "message": f"Update {u['update_id'][:8]} started by {u.get('cause', 'API_CALL')}.",
                        "timestamp": _rfc3339(u["creation_time"]), "origin": origin})
            progress: dict[str, Any] = {
                "id": f"{u['update_id']}-{u['state'].lower()}", "event_type": "update_progress",
                "level": "ERROR" if u["state"] == "FAILED" else "INFO",
                "message": f"Update {u['update_id'][:8]} is {u['state']}" + (f": {u['message']}" if u.get("message")
                                                                             else ""),
                "timestamp": _rfc3339(u.get("_state_time", u["creation_time"])), "origin": origin,
                "details": {"update_progress": {"state": u["state"]}}}
            if u["state"] == "FAILED":
                progress["error"] = {"fatal": True, "exceptions": [{"message": u.get("message", "")}]}
            out.append(progress)
        out = sorted((e for e in out if keep(e)), key=lambda e: (e["timestamp"], e["event_type"] != "create_update"),
                     reverse=not ascending)
        size = max_results or EVENTS_PAGE
        page: dict[str, Any] = {"events": out[start:start + size]}
        if start + size < len(out):
            page["next_page_token"] = f"{start + size}-{asked}"
        return page
