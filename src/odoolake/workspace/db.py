"""SQLite state for the local workspace: WAL mode, one connection per thread, numbered migrations."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIGRATIONS: tuple[str, ...] = (
    # 1: tokens
    """
    CREATE TABLE tokens (
        token_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, comment TEXT, user_name TEXT NOT NULL,
        creation_time INTEGER NOT NULL, expiry_time INTEGER NOT NULL DEFAULT -1, revoked INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: jobs and runs
    """
    CREATE TABLE jobs (
        job_id INTEGER PRIMARY KEY, settings TEXT NOT NULL, creator_user_name TEXT, created_time INTEGER NOT NULL
    );
    CREATE TABLE runs (
        run_id INTEGER PRIMARY KEY, job_id INTEGER, body TEXT NOT NULL, created_time INTEGER NOT NULL
    );
    CREATE INDEX runs_by_job ON runs(job_id, run_id);
    CREATE TABLE task_outputs (
        run_id INTEGER PRIMARY KEY, parent_run_id INTEGER NOT NULL, body TEXT NOT NULL
    );
    CREATE TABLE ids (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    # 3: workspace objects (content lives on disk under <home>/workspace)
    """
    CREATE TABLE objects (
        path TEXT PRIMARY KEY, parent TEXT NOT NULL, object_type TEXT NOT NULL, language TEXT,
        object_id INTEGER NOT NULL, created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL, size INTEGER
    );
    CREATE INDEX objects_by_parent ON objects(parent);
    """,
    # 4: scheduler: the last fire time handled per job
    """
    CREATE TABLE schedule_state (job_id INTEGER PRIMARY KEY, last_fire_ms INTEGER NOT NULL);
    """,
    # 5: DLT-style pipelines and their updates
    """
    CREATE TABLE pipelines (pipeline_id TEXT PRIMARY KEY, spec TEXT NOT NULL, creator TEXT, created INTEGER NOT NULL);
    CREATE TABLE pipeline_updates (
        update_id TEXT PRIMARY KEY, pipeline_id TEXT NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL
    );
    """,
    # 6: model serving endpoints
    """
    CREATE TABLE serving_endpoints (
        name TEXT PRIMARY KEY, id TEXT NOT NULL, body TEXT NOT NULL, creator TEXT,
        created INTEGER NOT NULL, updated INTEGER NOT NULL
    );
    """,
    # 7: workspace users and their roles (the owner is admin without a row)
    """
    CREATE TABLE users (user_name TEXT PRIMARY KEY, role TEXT NOT NULL, created INTEGER NOT NULL);
    """,
    # 8: OAuth client secrets of service principals (machine-to-machine), hashed
    """
    CREATE TABLE oauth_secrets (
        secret_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, secret_hash TEXT NOT NULL, created INTEGER NOT NULL
    );
    """,
    # 9: the Secrets API: scopes, values sealed with AES-GCM (secrets/store.py), and each scope's ACL
    """
    CREATE TABLE secret_scopes (
        name TEXT PRIMARY KEY, backend_type TEXT NOT NULL, creator TEXT NOT NULL, created INTEGER NOT NULL
    );
    CREATE TABLE secrets (
        scope TEXT NOT NULL REFERENCES secret_scopes(name) ON DELETE CASCADE, key TEXT NOT NULL,
        sealed BLOB NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (scope, key)
    );
    CREATE TABLE secret_acls (
        scope TEXT NOT NULL REFERENCES secret_scopes(name) ON DELETE CASCADE, principal TEXT NOT NULL,
        permission TEXT NOT NULL, PRIMARY KEY (scope, principal)
    );
    """,
    # 10: the schedule (expression and time zone) a job's last fire time counts for: '' for none, NULL from before
    """
    ALTER TABLE schedule_state ADD COLUMN schedule TEXT;
    """,
    # 11: whether a run is active (jobs.lifecycle.ACTIVE as of this migration), so that the runs a job's admission,
    # its queue and runs/list need are found without reading every run it ever had
    """
    ALTER TABLE runs ADD COLUMN active INTEGER NOT NULL DEFAULT 0;
    UPDATE runs SET active = 1 WHERE json_extract(body, '$.state.life_cycle_state')
        IN ('QUEUED', 'PENDING', 'RUNNING', 'TERMINATING', 'WAITING_FOR_RETRY', 'BLOCKED');
    CREATE INDEX runs_active ON runs(active, job_id, run_id);
    """,
    # 12: tokens the job runner made for a task attempt (jobs/connections.py), told apart from users' tokens
    """
    ALTER TABLE tokens ADD COLUMN task INTEGER NOT NULL DEFAULT 0;
    """,
    # 13: which run each task run belongs to, so runs/get-output finds a task run's run without reading every run
    """
    CREATE TABLE task_runs (task_run_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL);
    CREATE INDEX task_runs_run ON task_runs(run_id);
    INSERT OR REPLACE INTO task_runs(task_run_id, run_id)
        SELECT json_extract(t.value, '$.run_id'), runs.run_id FROM runs, json_each(runs.body, '$.tasks') AS t
        WHERE json_extract(t.value, '$.run_id') IS NOT NULL;
    """,
    # 14: the run each idempotency token of run-now and runs/submit started (a retried request gets that run)
    """
    CREATE TABLE run_tokens (token TEXT PRIMARY KEY, run_id INTEGER NOT NULL);
    """,
    # 15: access control lists of jobs and pipelines (permissions.py); an object without an IS_OWNER row is owned by
    # its creator
    """
    CREATE TABLE object_permissions (
        object_type TEXT NOT NULL, object_id TEXT NOT NULL, kind TEXT NOT NULL, principal TEXT NOT NULL,
        level TEXT NOT NULL, PRIMARY KEY (object_type, object_id, kind, principal));
    """,
    # 16: notification destinations of job notifications (notifications/destinations.py); config sealed
    """
    CREATE TABLE notification_destinations (
        id TEXT PRIMARY KEY, display_name TEXT NOT NULL, kind TEXT NOT NULL, config BLOB NOT NULL,
        created_time INTEGER NOT NULL);
    """,
)


class ReadCache:
    """Values read from SQLite, kept until any commit lands on the database.

    SQLite's ``PRAGMA data_version`` changes when another connection commits, so a write by another thread or
    process (the CLI revoking a token, say) empties the cache on the next read. Writes through this object's own
    owner must call ``clear()``, since a connection does not see its own commits in ``data_version``.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._values: dict = {}
        self._seen = threading.local()

    def get(self, key, load):
        version = self.db.connect().execute("PRAGMA data_version").fetchone()[0]
        if getattr(self._seen, "version", None) != version:
            self._values.clear()
            self._seen.version = version
        if key not in self._values:
            self._values[key] = load()
        return self._values[key]

    def clear(self) -> None:
        self._values.clear()


class Database:
    def __init__(self, path: Path, migrations: tuple[str, ...] = MIGRATIONS) -> None:
        self.path = path
        self.migrations = migrations
        self._local = threading.local()
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    def connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def next_id(self, name: str, start: int = 1) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM ids WHERE name = ?", (name,)).fetchone()
            value = (row["value"] + 1) if row else start
            conn.execute("INSERT INTO ids(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = ?",
                         (name, value, value))
            return value

    def _migrate(self) -> None:
        conn = self.connect()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(self.migrations, start=1):
            if number > version:
                conn.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
