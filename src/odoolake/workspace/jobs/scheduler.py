"""The scheduler of the local workspace: starts the runs of jobs with an unpaused schedule (Quartz), continuous
jobs and periodic or file arrival triggers (``_tick_continuous``, ``_tick_trigger``).

Each tick looks at every scheduled job and the fire times between the last one it handled and now.
- One run per tick per job, however many fire times passed: runs missed while the server was down collapse
  into a single catch-up run at start-up (a month-end job that missed its 02:00 slot runs once, not N times),
  and nothing before the job's creation is ever backfilled.
- A schedule added to a job, or changed (its expression or time zone), counts from that moment, as a new Quartz
  trigger does: adding "daily 02:00" at 10:00 first fires the next day at 02:00, not at once for the 02:00 just gone.
- ``max_concurrent_runs`` and ``queue`` apply as for run-now (skipped with MAXIMUM_CONCURRENT_RUNS_REACHED, or
  queued).
- Paused schedules (``pause_status: PAUSED``) never fire; unpausing does not replay the paused period.
The clock is injected, so tests drive ``tick(now)`` directly.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from odoolake.workspace.db import Database
from odoolake.workspace.jobs import lifecycle
from odoolake.workspace.jobs.quartz import fire_times
from odoolake.workspace.jobs.service import JobsService
from odoolake.workspace.jobs.settings import PERIOD_UNITS

LOG = logging.getLogger(__name__)

NO_SCHEDULE = ""  # what schedule_state records for a job without a schedule
CONTINUOUS_RETRY_SECONDS = 60  # a continuous job whose run failed starts its next run after this pause
# A file arrival trigger's folder is walked at most this often (Databricks checks about once a minute), not on every
# one-second tick: a landing folder of thousands of files would otherwise be listed every second.
FILE_ARRIVAL_POLL_SECONDS = 60


def schedule_key(schedule: dict) -> str:
    """What makes two schedules the same trigger: the expression and the time zone (not the pause status)."""
    return f"{schedule['quartz_cron_expression']}|{schedule.get('timezone_id', 'UTC')}"


class Scheduler:
    def __init__(self, db: Database, jobs: JobsService, clock: Callable[[], float] = time.time,
                 interval_seconds: float = 1.0, locate: Callable[[str], Path | None] | None = None) -> None:
        self.db = db
        self.locate = locate  # a file arrival trigger's URL as a local folder
        self._arrival_checked: dict[int, int] = {}  # job id -> when its folder was last walked (ms)
        self.jobs = jobs
        self.clock = clock
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.problems: dict[int, str] = {}  # job id -> why its schedule was last skipped

    def _states(self) -> dict[int, tuple[int, str | None]]:
        """Each job's last handled fire time and the schedule it was for (``NO_SCHEDULE``, or None when recorded by
        a version that did not keep it)."""
        rows = self.db.connect().execute("SELECT job_id, last_fire_ms, schedule FROM schedule_state")
        return {row["job_id"]: (row["last_fire_ms"], row["schedule"]) for row in rows}

    def _remember(self, job_id: int, fire_ms: int, schedule: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO schedule_state(job_id, last_fire_ms, schedule) VALUES (?, ?, ?) "
                         "ON CONFLICT(job_id) DO UPDATE SET last_fire_ms = excluded.last_fire_ms, "
                         "schedule = excluded.schedule", (job_id, fire_ms, schedule))

    def tick(self, now: float | None = None) -> list[int]:
        """Start the runs that are due at ``now`` (epoch seconds); returns their run ids.

        Each job is handled on its own: a schedule that cannot be evaluated (or a run that cannot start) is logged
        once, recorded in ``problems``, and never stops the schedules of other jobs.
        """
        now_ms = int((self.clock() if now is None else now) * 1000)
        started = []
        states = self._states()
        jobs = self.jobs.store.jobs()
        alive = {job["job_id"] for job in jobs}
        for kept in (self._arrival_checked, self.problems):  # forget deleted jobs (they grew with every one)
            for gone in kept.keys() - alive:
                del kept[gone]
        for job in jobs:
            try:
                run_id = self._tick_job(job, now_ms, states.get(job["job_id"]))
            except Exception as exc:
                self._report(job["job_id"], f"{type(exc).__name__}: {exc}")
                continue
            self.problems.pop(job["job_id"], None)
            if run_id is not None:
                started.append(run_id)
        return started

    def _report(self, job_id: int, problem: str) -> None:
        if self.problems.get(job_id) != problem:  # once per distinct problem, not every second
            LOG.warning("job %s: its schedule was skipped: %s", job_id, problem)
        self.problems[job_id] = problem

    def _tick_job(self, job: dict, now_ms: int, state: tuple[int, str | None] | None) -> int | None:
        settings = job["settings"]
        if settings.get("continuous"):
            return self._tick_continuous(job, now_ms)
        trigger = settings.get("trigger") or {}
        if "periodic" in trigger or "file_arrival" in trigger:
            return self._tick_trigger(job, trigger, now_ms, state)
        schedule = settings.get("schedule")
        last, seen = state if state is not None else (None, None)
        if not schedule:
            if state is None or seen != NO_SCHEDULE:  # so that a schedule added later counts from then
                self._remember(job["job_id"], now_ms, NO_SCHEDULE)
            return None
        key = schedule_key(schedule)
        if schedule.get("pause_status", "UNPAUSED") == "PAUSED":
            self._remember(job["job_id"], now_ms, key)  # unpausing must not replay the paused period
            return None
        if last is None:
            since = job["created_time"]
        elif seen is not None and seen != key:
            since = now_ms  # added or changed: the fire times before now belong to another schedule
        else:
            since = last
        due = None
        for fire in fire_times(schedule["quartz_cron_expression"], schedule.get("timezone_id", "UTC"),
                               datetime.fromtimestamp(since / 1000, UTC)):
            fire_ms = int(fire.timestamp() * 1000)
            if fire_ms > now_ms:
                break
            due = fire_ms
        if due is None:
            if last is None or seen != key:
                self._remember(job["job_id"], since, key)
            return None
        self._remember(job["job_id"], due, key)
        run = self.jobs.run_now(job["job_id"], trigger="PERIODIC")
        LOG.info("job %s: scheduled run %s for %s", job["job_id"], run["run_id"],
                 datetime.fromtimestamp(due / 1000, UTC).isoformat())
        return run["run_id"]

    def _tick_continuous(self, job: dict, now_ms: int) -> int | None:
        """A continuous job has a run at all times: one is started when none is active, after a failed run only once
        ``CONTINUOUS_RETRY_SECONDS`` have passed (so a failing job does not restart in a tight loop)."""
        if job["settings"]["continuous"].get("pause_status", "UNPAUSED") == "PAUSED":
            return None
        latest = self.jobs.store.runs(job["job_id"], limit=1)
        if latest and lifecycle.is_active(latest[0]):
            return None
        if latest and latest[0].get("state", {}).get("result_state") not in ("SUCCESS", None) and \
                now_ms - int(latest[0].get("end_time") or 0) < CONTINUOUS_RETRY_SECONDS * 1000:
            return None
        run = self.jobs.run_now(job["job_id"], trigger="CONTINUOUS_RESTART" if latest else "CONTINUOUS")
        return run["run_id"]

    def _tick_trigger(self, job: dict, trigger: dict, now_ms: int, state: tuple[int, str | None] | None) -> int | None:
        """A periodic trigger fires every interval from when it was set (missed intervals collapse into one run, as
        a schedule's); a file arrival trigger when a file under its URL changed since it last fired (or since it was
        set), once no file changed for ``wait_after_last_change_seconds`` and ``min_time_between_triggers_seconds``
        passed since it last fired; its folder is looked at every ``FILE_ARRIVAL_POLL_SECONDS``."""
        key = json.dumps({k: v for k, v in trigger.items() if k != "pause_status"}, sort_keys=True)
        last, seen = state if state is not None else (None, None)
        if trigger.get("pause_status", "UNPAUSED") == "PAUSED" or last is None or seen != key:
            self._remember(job["job_id"], now_ms, key)  # set, changed or paused: counts from now
            return None
        if "periodic" in trigger:
            period_ms = trigger["periodic"]["interval"] * PERIOD_UNITS[trigger["periodic"]["unit"]] * 1000
            if now_ms - last < period_ms:
                return None
            self._remember(job["job_id"], last + (now_ms - last) // period_ms * period_ms, key)
            return self.jobs.run_now(job["job_id"], trigger="PERIODIC")["run_id"]
        arrival = trigger["file_arrival"]
        if self.locate is None:
            raise RuntimeError("file arrival triggers need the workspace's paths")
        checked = self._arrival_checked.get(job["job_id"])
        if checked is not None and now_ms - checked < FILE_ARRIVAL_POLL_SECONDS * 1000:
            return None
        self._arrival_checked[job["job_id"]] = now_ms
        folder = self.locate(arrival["url"])
        changed = max((p.stat().st_mtime_ns // 1_000_000 for p in folder.rglob("*") if p.is_file()), default=None) \
            if folder is not None and folder.is_dir() else None
        if changed is None or changed <= last:
            return None
        quiet_ms = (arrival.get("wait_after_last_change_seconds") or 0) * 1000
        spaced_ms = (arrival.get("min_time_between_triggers_seconds") or 0) * 1000
        if now_ms - changed < quiet_ms or now_ms - last < spaced_ms:
            return None
        self._remember(job["job_id"], now_ms, key)
        return self.jobs.run_now(job["job_id"], trigger="FILE_ARRIVAL")["run_id"]

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="odoolake-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a bad job must not stop the scheduler for the others
                LOG.exception("scheduler tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
