"""Every SQL statement of the jobs group: jobs, runs and task outputs as JSON documents."""

from __future__ import annotations

import json
from typing import Any

from odoolake.workspace.db import Database
from odoolake.workspace.jobs import lifecycle


class JobsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def next_id(self) -> int:
        return self.db.next_id("jobs_runs", start=1001)

    # jobs
    def insert_job(self, job_id: int, settings: dict, creator: str, created: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO jobs(job_id, settings, creator_user_name, created_time) VALUES (?, ?, ?, ?)",
                         (job_id, json.dumps(settings), creator, created))

    def job(self, job_id: int) -> dict | None:
        row = self.db.connect().execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return {"job_id": row["job_id"], "settings": json.loads(row["settings"]),
                "creator_user_name": row["creator_user_name"], "created_time": row["created_time"]}

    def jobs(self, name: str | None = None) -> list[dict]:
        rows = self.db.connect().execute("SELECT job_id FROM jobs ORDER BY job_id").fetchall()
        out = [self.job(r["job_id"]) for r in rows]
        wanted = None if name is None else name.casefold()  # the exact name, ignoring case, as Databricks filters
        return [j for j in out if j and (wanted is None or str(j["settings"].get("name", "")).casefold() == wanted)]

    def save_settings(self, job_id: int, settings: dict) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE jobs SET settings = ? WHERE job_id = ?", (json.dumps(settings), job_id))

    def delete_job(self, job_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    # runs
    def save_run(self, run: dict) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO runs(run_id, job_id, body, created_time, active) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT(run_id) DO UPDATE SET body = excluded.body, active = excluded.active",
                         (run["run_id"], run.get("job_id"), json.dumps(run), run.get("start_time", 0),
                          int(lifecycle.is_active(run))))
            conn.executemany("INSERT OR REPLACE INTO task_runs(task_run_id, run_id) VALUES (?, ?)",
                             [(t["run_id"], run["run_id"]) for t in run.get("tasks", []) if t.get("run_id") is not None])

    def run_of_token(self, token: str) -> int | None:
        row = self.db.connect().execute("SELECT run_id FROM run_tokens WHERE token = ?", (token,)).fetchone()
        return row["run_id"] if row else None

    def keep_token(self, token: str, run_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO run_tokens(token, run_id) VALUES (?, ?)", (token, run_id))

    def run(self, run_id: int) -> dict | None:
        row = self.db.connect().execute("SELECT body FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return json.loads(row["body"]) if row else None

    def runs(self, job_id: int | None = None, active: bool | None = None, limit: int | None = None) -> list[dict]:
        """Runs, newest first: of one job or all, only active or ended ones, at most ``limit`` of them."""
        where, args = [], []
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if active is not None:
            where.append("active = ?")
            args.append(int(active))
        sql = "SELECT body FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [json.loads(r["body"]) for r in self.db.connect().execute(sql, args)]

    def delete_run(self, run_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM task_outputs WHERE parent_run_id = ?", (run_id,))
            conn.execute("DELETE FROM task_runs WHERE run_id = ?", (run_id,))

    def run_of_task(self, task_run_id: int) -> dict | None:
        """The run a task run belongs to, or None."""
        row = self.db.connect().execute("SELECT runs.body FROM task_runs JOIN runs USING (run_id) "
                                        "WHERE task_runs.task_run_id = ?", (task_run_id,)).fetchone()
        return json.loads(row["body"]) if row else None

    def ended_before(self, cutoff_ms: int) -> list[int]:
        """The runs that ended before ``cutoff_ms`` (epoch milliseconds), oldest first."""
        rows = self.db.connect().execute(
            "SELECT run_id FROM runs WHERE active = 0 AND json_extract(body, '$.end_time') < ? ORDER BY run_id",
            (cutoff_ms,))
        return [r["run_id"] for r in rows]

    # task outputs (task run id -> output document)
    def save_output(self, task_run_id: int, parent_run_id: int, output: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO task_outputs(run_id, parent_run_id, body) VALUES (?, ?, ?) "
                         "ON CONFLICT(run_id) DO UPDATE SET body = excluded.body",
                         (task_run_id, parent_run_id, json.dumps(output)))

    def output(self, task_run_id: int) -> tuple[int, dict] | None:
        row = self.db.connect().execute("SELECT parent_run_id, body FROM task_outputs WHERE run_id = ?",
                                        (task_run_id,)).fetchone()
        return (row["parent_run_id"], json.loads(row["body"])) if row else None
