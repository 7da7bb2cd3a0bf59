"""SQL sessions that clients open and close: the SQL connector's Thrift sessions and the Statement Execution API's
``/api/2.0/sql/sessions``.

Each one is an engine session of its own, opened as the principal who asked for it, so ``SET``, ``USE`` and temp
views made in it stay in it (as on a Databricks SQL warehouse) and the engine's rules apply to its principal. A
session nobody used for the engine's idle limit (``session_idle_seconds()``, 4 h) is closed, as Databricks closes
idle sessions; a closed or unknown session is an error naming it, never a silent new one.

The engine keeps an idle clock of its own for the same session, and counts only requests that reach it: a client
that only asks for catalogs, tables and columns (answered here) would keep the SQL session open while the engine
closed the session under it. So a SQL session's clock is the time the engine last heard from it: a call to a
session the engine has not heard from for ``keep_alive_seconds`` sends the engine a settings read first. The SQL
session then always closes before the engine's, and a session the engine closed anyway (seen by a statement
failing ``INVALID_HANDLE.SESSION_CLOSED``) is dropped, so the client's next call is told to reconnect.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from odoolake.workspace.engine.errors import SESSION_CLOSED, classify, error_class_of
from odoolake.workspace.engine.session import idle_limit_words, session_idle_seconds
from odoolake.workspace.engine.sqltext import SESSION_PARAMETERS
from odoolake.workspace.errors import ApiError, InvalidParameterValue

LOG = logging.getLogger(__name__)

MAX_SESSIONS = 256
# At most this long between the engine hearing from a SQL session in use and the session's clock (see above).
KEEP_ALIVE_SECONDS = 60
ENGINE_PING_SETTING = "spark.sql.session.timeZone"  # read to tell the engine a session is in use; no work
# Settings clients send that concern the wire format, not the engine: answered by the server, never forwarded.
WIRE_SETTINGS = ("spark.thriftserver.",)
# Session parameters that only label queries in a warehouse's query history (dbt-databricks sends QUERY_TAGS with
# the model's name): the local warehouse keeps no query history, so they are accepted and change nothing.
LABEL_PARAMETERS = ("query_tags",)


class SessionNotFound(ApiError):
    status, error_code = 404, "RESOURCE_DOES_NOT_EXIST"


@dataclass
class SqlSession:
    session_id: str
    principal: str
    spark: Any
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)  # when the engine last heard from it
    pending_schema: str | None = None  # the initial schema, while it does not exist yet
    engine_closed: bool = False  # a statement found the engine had closed it
    running: int = 0  # statements running in it now
    _counting: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hold(self) -> None:
        """Count a statement submitted to the session, from then until ``release``: expiry leaves the session open
        while a statement waits or runs in it (the engine hears from it throughout, through its keep-alive)."""
        with self._counting:
            self.running += 1

    def release(self) -> None:
        """A statement ``hold`` counted ended (or never ran): the idle limit counts from now, not from when it was
        sent, so a statement longer than the limit does not leave a session already past it."""
        with self._counting:
            self.running -= 1
            self.last_used = time.monotonic()

    def touch(self, keep_alive_seconds: float) -> None:
        """Count a call as use, telling the engine when it has not heard from the session for a while."""
        now = time.monotonic()
        if now - self.last_used < keep_alive_seconds:
            return
        try:
            self.spark.conf.get(ENGINE_PING_SETTING)
        except Exception as exc:
            if closed_by_engine(exc):
                self.engine_closed = True
                return
            LOG.warning("SQL session %s: the engine did not answer a keep-alive: %s", self.session_id, exc)
            return
        self.last_used = now

    def note_failure(self, exc: BaseException) -> None:
        """Remember that a statement found the engine session closed: the session is dropped at its next call."""
        if closed_by_engine(exc):
            self.engine_closed = True

    def use_pending_schema(self) -> None:
        """Enter the initial schema once it exists: a client may open its session in the schema it is about to
        create (dbt does, with its target schema), as a Databricks warehouse allows. Until then statements run in
        the catalog's ``default`` schema, and unqualified names that are not there fail naming them."""
        if self.pending_schema is None:
            return
        try:
            self.spark.sql(f"USE SCHEMA `{self.pending_schema}`")
        except Exception as exc:
            if not schema_missing(exc):
                raise
            return
        self.pending_schema = None


def schema_missing(exc: Exception) -> bool:
    """Whether the engine refused a statement because a schema does not exist (Spark's SCHEMA_NOT_FOUND)."""
    found = classify(str(exc))
    return "[SCHEMA_NOT_FOUND]" in str(exc) or (found is not None and found.error_class == "SCHEMA_NOT_FOUND")


def closed_by_engine(exc: BaseException) -> bool:
    """Whether the engine refused a call because it had closed the session (``INVALID_HANDLE.SESSION_CLOSED``)."""
    return error_class_of(exc) == SESSION_CLOSED


def keep_alive_seconds(idle_seconds: int) -> float:
    """How long a SQL session in use may go without the engine hearing from it: ``KEEP_ALIVE_SECONDS``, or a
    quarter of a shorter idle limit."""
    return min(KEEP_ALIVE_SECONDS, idle_seconds / 4)


def engine_settings(conf: dict[str, str] | None) -> dict[str, str]:
    """The engine settings for a session's configuration; an unknown parameter is an error naming it."""
    out: dict[str, str] = {}
    for key, value in (conf or {}).items():
        if key.startswith(WIRE_SETTINGS) or key.lower() in LABEL_PARAMETERS:
            continue
        if key.startswith("spark."):
            out[key] = str(value)
        elif key.lower() in SESSION_PARAMETERS:
            out[SESSION_PARAMETERS[key.lower()]] = str(value)
        else:
            raise InvalidParameterValue(
                f"Configuration {key} is not available: use a Spark setting (spark.…) or one of "
                f"{', '.join(sorted(p.upper() for p in SESSION_PARAMETERS))}.")
    return out


class SqlSessions:
    def __init__(self, engine: Any, idle_seconds: int | None = None, max_sessions: int = MAX_SESSIONS) -> None:
        self.engine = engine
        self.idle_seconds = session_idle_seconds() if idle_seconds is None else idle_seconds
        self.max_sessions = max_sessions
        self._sessions: dict[str, SqlSession] = {}
        self._lock = threading.Lock()

    def open(self, principal: str, catalog: str | None = None, schema: str | None = None,
             conf: dict[str, str] | None = None) -> SqlSession:
        settings = engine_settings(conf)
        self.expire()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise ApiError(f"The SQL warehouse has {self.max_sessions} open sessions; close sessions you no "
                               "longer use (connection.close()).", error_code="RESOURCE_EXHAUSTED", status=429)
        spark = self.engine.session(principal)
        pending = None
        try:
            for key, value in settings.items():
                try:
                    spark.conf.set(key, value)  # the engine refuses a value it cannot plan with, and keeps none
                except Exception as exc:
                    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise InvalidParameterValue(f"Configuration {key} = {value!r} is invalid: {detail}") from None
            if catalog:
                spark.sql(f"USE CATALOG `{catalog}`")
            if schema:
                try:
                    spark.sql(f"USE SCHEMA `{schema}`")
                except Exception as exc:
                    if not schema_missing(exc):
                        raise
                    pending = schema
        except Exception:
            self.engine.stop_session(spark)
            raise
        session = SqlSession(str(uuid.uuid4()), principal, spark, pending_schema=pending)
        with self._lock:
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str, principal: str) -> SqlSession:
        self.expire()  # a session idle past the limit is closed when next asked for, not only when one opens
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.principal != principal:
            raise self._not_found(session_id)
        if not session.spark.is_stopped:  # PySpark closes a session the engine restarted under
            session.touch(keep_alive_seconds(self.idle_seconds))
        if session.spark.is_stopped or session.engine_closed:
            with self._lock:
                self._sessions.pop(session_id, None)
            self.engine.stop_session(session.spark)
            why = (f"the engine closed it (sessions close after {idle_limit_words(self.idle_seconds)} without use)"
                   if session.engine_closed else "the engine restarted under it")
            raise SessionNotFound(f"Session {session_id} ended: {why}, and its settings, temporary views and "
                                  "current schema went with it; open a new connection.")
        return session

    def close(self, session_id: str, principal: str) -> None:
        """Close a session of ``principal`` (also one the engine closed already: nothing is asked of the engine
        but the release)."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.principal != principal:
                session = None
            else:
                del self._sessions[session_id]
        if session is None:
            raise self._not_found(session_id)
        self.engine.stop_session(session.spark)

    def _not_found(self, session_id: str) -> SessionNotFound:
        return SessionNotFound(f"Session {session_id} does not exist or was closed (sessions close after "
                               f"{idle_limit_words(self.idle_seconds)} without use); open a new connection.")

    def expire(self) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        with self._lock:
            idle = [s for s in self._sessions.values() if s.last_used < cutoff and not s.running]
            for session in idle:
                del self._sessions[session.session_id]
        for session in idle:
            LOG.info("closing SQL session %s of %s: idle", session.session_id, session.principal)
            self.engine.stop_session(session.spark)

    def count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            self.engine.stop_session(session.spark)
