"""The Quartz scheduler with a controllable clock: catch-up policy, pause/unpause, and validation."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from databricks.sdk.errors import BadRequest
from databricks.sdk.service.jobs import Continuous, CronSchedule, JobSettings, NotebookTask, PauseStatus, Task
from databricks.sdk.service.workspace import ImportFormat, Language

from odoolake.workspace.jobs.scheduler import Scheduler

MANILA = ZoneInfo("Asia/Manila")


def at(*args: int) -> float:
    return datetime(*args, tzinfo=MANILA).timestamp()


class RecordingScheduler(Scheduler):
    """Remembers the runs its ticks started: real runs of every scheduled job in the workspace, on the shared
    runner, which must not go on into later tests."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.started: list[int] = []

    def tick(self, now: float | None = None) -> list[int]:
        runs = super().tick(now)
        self.started.extend(runs)
        return runs


@pytest.fixture()
def scheduler(server, w):
    """A scheduler on the test's clock; the server's own (on the real clock, ticking every second) is stopped
    meanwhile: both share the schedule state, and its tick of a paused job recorded "now" (2026) over the test's
    2031, so a loaded machine that let it tick between two steps made the unpaused job replay its paused month."""
    ws = server.workspace
    ws.scheduler.stop()
    test_clock = RecordingScheduler(ws.db, ws.jobs, clock=lambda: 0.0, locate=ws.paths.lake_to_local)
    try:
        yield test_clock
    finally:
        for run_id in test_clock.started:  # ended before the next test, whatever they were doing
            w.jobs.cancel_run(run_id).result()
        ws.scheduler.start()


def _job(w, name: str, pause: PauseStatus = PauseStatus.UNPAUSED) -> int:
    w.workspace.upload(f"/Shared/sched/{name}", b"# Databricks notebook source\nprint('tick')\n",
                       format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    return w.jobs.create(name=name, tasks=[Task(task_key="t", notebook_task=NotebookTask(
        notebook_path=f"/Shared/sched/{name}"))], schedule=CronSchedule(
        quartz_cron_expression="0 0 2 1 * ?", timezone_id="Asia/Manila", pause_status=pause)).job_id


def test_missed_fires_collapse_into_one_catch_up_run(w, scheduler):
    job_id = _job(w, "monthly")
    started = scheduler.tick(at(2030, 1, 1, 3, 0))  # ~3 years of monthly slots passed
    assert len(started) == 1
    run = w.jobs.get_run(started[0])
    assert run.trigger.value == "PERIODIC" and run.job_id == job_id
    assert scheduler.tick(at(2030, 1, 1, 3, 0)) == []  # nothing new
    assert scheduler.tick(at(2030, 2, 1, 1, 59)) == []  # before the next slot
    assert len(scheduler.tick(at(2030, 2, 1, 2, 0, 1))) == 1


def test_paused_schedules_never_fire_and_unpausing_does_not_replay(w, scheduler):
    job_id = _job(w, "paused", PauseStatus.PAUSED)
    assert job_id not in [w.jobs.get_run(r).job_id for r in scheduler.tick(at(2031, 1, 1, 3, 0))]
    w.jobs.update(job_id, new_settings=JobSettings(schedule=CronSchedule(
        quartz_cron_expression="0 0 2 1 * ?", timezone_id="Asia/Manila", pause_status=PauseStatus.UNPAUSED)))
    assert job_id not in [w.jobs.get_run(r).job_id for r in scheduler.tick(at(2031, 1, 15, 0, 0))]
    fired = [w.jobs.get_run(r).job_id for r in scheduler.tick(at(2031, 2, 1, 2, 0, 5))]
    assert job_id in fired


def test_invalid_schedules_are_refused_at_create(w):
    with pytest.raises(BadRequest, match="exactly one of day-of-month and day-of-week"):
        w.jobs.create(name="bad", tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/x"))],
                      schedule=CronSchedule(quartz_cron_expression="0 0 2 1 * *", timezone_id="UTC"))
    with pytest.raises(BadRequest, match="timezone_id"):
        w.jobs.create(name="bad-tz", tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/x"))],
                      schedule=CronSchedule(quartz_cron_expression="0 0 2 1 * ?", timezone_id="Mars/Olympus"))


@pytest.mark.parametrize("expression", ["0 0 0 30 2 ?", "0 0 2 1 * ? 2020"])
def test_never_firing_schedules_are_refused_at_create_and_update(w, expression):
    never = CronSchedule(quartz_cron_expression=expression, timezone_id="Asia/Manila")
    with pytest.raises(BadRequest, match=r"schedule\.quartz_cron_expression.*never fires"):
        w.jobs.create(name="never", tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/x"))],
                      schedule=never)
    job_id = _job(w, f"kept {expression}")
    with pytest.raises(BadRequest, match="never fires"):
        w.jobs.update(job_id, new_settings=JobSettings(schedule=never))
    with pytest.raises(BadRequest, match="never fires"):
        w.jobs.reset(job_id, new_settings=JobSettings(name="reset", schedule=never, tasks=[
            Task(task_key="t", notebook_task=NotebookTask(notebook_path="/x"))]))
    kept = w.jobs.get(job_id).settings
    assert kept.name == f"kept {expression}" and kept.schedule.quartz_cron_expression == "0 0 2 1 * ?"


def test_one_failing_schedule_never_stops_the_others(w, server, scheduler):
    year = datetime.now(MANILA).year
    store = server.workspace.jobs.store
    healthy = _job(w, "healthy")
    ends = w.jobs.create(name="ends", tasks=[Task(task_key="t", notebook_task=NotebookTask(
        notebook_path="/Shared/sched/healthy"))], schedule=CronSchedule(
        quartz_cron_expression=f"0 0 2 1 * ? {year + 1}", timezone_id="Asia/Manila")).job_id  # valid now, ends later
    no_tasks = _job(w, "no tasks")
    legacy = _job(w, "legacy")
    settings = store.job(no_tasks)["settings"]
    store.save_settings(no_tasks, {**settings, "tasks": []})  # run-now will refuse it
    settings = store.job(legacy)["settings"]
    store.save_settings(legacy, {**settings, "schedule": {**settings["schedule"],
                                                          "quartz_cron_expression": "0 0 0 30 2 ?"}})
    fired = [w.jobs.get_run(r).job_id for r in scheduler.tick(at(year + 3, 1, 1, 3, 0))]
    assert healthy in fired and ends in fired  # the last fire of `ends` runs once, then it is done
    assert no_tasks not in fired and legacy not in fired
    assert "has no tasks" in scheduler.problems[no_tasks]
    assert [w.jobs.get_run(r).job_id for r in scheduler.tick(at(year + 3, 2, 1, 2, 0, 1))].count(healthy) == 1
    assert ends not in [w.jobs.get_run(r).job_id for r in scheduler.tick(at(year + 3, 3, 1, 2, 0, 1))]


def test_a_schedule_added_or_changed_counts_from_then(w, scheduler):
    """A new Quartz trigger fires at its next time: a schedule added at 10:00 for 02:00 does not run at once for the
    02:00 just gone, and neither does one moved to 08:00 at 10:00 (the job existed since long before both)."""
    w.workspace.upload("/Shared/sched/later", b"# Databricks notebook source\nprint('tick')\n",
                       format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    job_id = w.jobs.create(name="later", tasks=[Task(task_key="t", notebook_task=NotebookTask(
        notebook_path="/Shared/sched/later"))]).job_id

    def fired(*when: int) -> bool:
        return job_id in [w.jobs.get_run(r).job_id for r in scheduler.tick(at(*when))]

    assert not fired(2032, 3, 20, 9, 0)  # no schedule yet
    w.jobs.update(job_id, new_settings=JobSettings(schedule=CronSchedule(
        quartz_cron_expression="0 0 2 * * ?", timezone_id="Asia/Manila")))
    assert not fired(2032, 3, 20, 10, 0)
    assert not fired(2032, 3, 21, 1, 59)
    assert fired(2032, 3, 21, 2, 0, 5)
    w.jobs.update(job_id, new_settings=JobSettings(schedule=CronSchedule(
        quartz_cron_expression="0 0 8 * * ?", timezone_id="Asia/Manila")))
    assert not fired(2032, 3, 21, 10, 0)
    assert fired(2032, 3, 22, 8, 0, 5)
    w.jobs.update(job_id, new_settings=JobSettings(schedule=CronSchedule(  # the same times, another zone
        quartz_cron_expression="0 0 8 * * ?", timezone_id="UTC")))
    assert not fired(2032, 3, 22, 17, 0)  # 09:00 UTC: 08:00 UTC is gone
    assert fired(2032, 3, 23, 16, 0, 5)  # 08:00 UTC the next day


def _notebook_job(w, name: str, **settings) -> int:
    w.workspace.upload(f"/Shared/sched/{name}", b"# Databricks notebook source\nprint('tick')\n",
                       format=ImportFormat.SOURCE, language=Language.PYTHON, overwrite=True)
    body = {"name": name, "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": f"/Shared/sched/{name}"}}],
            **settings}
    return w.api_client.do("POST", "/api/2.1/jobs/create", body=body)["job_id"]


def test_periodic_triggers_fire_every_interval_from_when_they_were_set(w, scheduler):
    """They were taken and never run: a job with trigger.periodic looked scheduled and did nothing."""
    job_id = _notebook_job(w, "every-6h", trigger={"periodic": {"interval": 6, "unit": "HOURS"}})
    try:
        def fired(*when: int) -> list[int]:
            return [r for r in scheduler.tick(at(*when)) if w.jobs.get_run(r).job_id == job_id]

        assert not fired(2033, 1, 1, 0, 0)  # set: counts from now
        assert not fired(2033, 1, 1, 5, 59)
        (run,) = fired(2033, 1, 1, 6, 0, 1)
        assert w.jobs.get_run(run).trigger.value == "PERIODIC"
        assert len(fired(2033, 1, 2, 7, 0)) == 1  # four intervals missed: one run
        assert not fired(2033, 1, 2, 11, 0)  # the next is due at 12:00, counted from the set time
        assert len(fired(2033, 1, 2, 12, 0, 1)) == 1
    finally:
        w.jobs.delete(job_id)


def test_file_arrival_triggers_fire_when_a_file_lands_and_the_folder_is_quiet(w, server, scheduler):
    import io
    import os
    import time

    url = "/Volumes/main/default/landing_sched/"
    w.files.create_directory(url)
    job_id = _notebook_job(w, "on-arrival", trigger={"file_arrival": {"url": url,
                                                                       "wait_after_last_change_seconds": 60}})
    try:
        now = time.time()

        def fired(at_seconds: float) -> list[int]:
            return [r for r in scheduler.tick(at_seconds) if w.jobs.get_run(r).job_id == job_id]

        assert not fired(now)  # set: files already there do not count
        assert not fired(now + 120)  # nothing landed
        w.files.upload(f"{url}gl_2026_11.csv", io.BytesIO(b"a,b\n"))
        landed = server.workspace.paths.volume_to_local(f"{url}gl_2026_11.csv")
        os.utime(landed, (now + 130, now + 130))
        assert not fired(now + 185)  # not quiet for 60 s yet
        assert not fired(now + 195)  # quiet, but the folder was looked at 10 s ago: it is looked at once a minute
        (run,) = fired(now + 246)
        assert w.jobs.get_run(run).trigger.value == "FILE_ARRIVAL"
        assert not fired(now + 320)  # nothing new
        assert job_id in scheduler._arrival_checked
    finally:
        w.jobs.delete(job_id)
    scheduler.tick(now + 400)
    assert job_id not in scheduler._arrival_checked  # a deleted job is forgotten (it was kept for ever)


def test_continuous_jobs_always_have_a_run(w, scheduler):
    job_id = _notebook_job(w, "always", continuous={"pause_status": "UNPAUSED"})
    try:
        (first,) = [r for r in scheduler.tick(at(2034, 1, 1)) if w.jobs.get_run(r).job_id == job_id]
        assert w.jobs.get_run(first).trigger.value == "CONTINUOUS"
        assert job_id not in [w.jobs.get_run(r).job_id for r in scheduler.tick(at(2034, 1, 1, 0, 0, 1))] or \
            w.jobs.get_run(first).state.life_cycle_state.value == "TERMINATED"
        w.jobs.wait_get_run_job_terminated_or_skipped(first)
        (second,) = [r for r in scheduler.tick(at(2034, 1, 1, 0, 1)) if w.jobs.get_run(r).job_id == job_id]
        assert w.jobs.get_run(second).trigger.value == "CONTINUOUS_RESTART"
        w.jobs.update(job_id, new_settings=JobSettings(continuous=Continuous(pause_status=PauseStatus.PAUSED)))
        w.jobs.wait_get_run_job_terminated_or_skipped(second)
        assert job_id not in [w.jobs.get_run(r).job_id for r in scheduler.tick(at(2034, 1, 1, 0, 2))]
    finally:
        w.jobs.delete(job_id)


@pytest.mark.parametrize(("settings", "says"), [
    ({"trigger": {"table_update": {"table_names": ["main.gold.t"]}}}, "table update and model triggers are not run"),
    ({"trigger": {"periodic": {"interval": 0, "unit": "HOURS"}}}, "interval: must be at least 1"),
    ({"trigger": {"periodic": {"interval": 1, "unit": "MINUTES"}}}, "expected one of HOURS, DAYS, WEEKS"),
    ({"trigger": {"file_arrival": {"url": "abfss://x@y.dfs.core.windows.net/in"}}}, "watches /Volumes/"),
    ({"trigger": {"file_arrival": {"url": "/Volumes/main/default/in/", "min_time_between_triggers_seconds": 5}}},
     "the lowest allowed value is 60 seconds"),
    ({"continuous": {}, "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC"}},
     "a job has one of schedule, continuous and trigger"),
])
def test_triggers_the_scheduler_cannot_run_are_refused_by_name(w, settings, says):
    with pytest.raises(BadRequest, match=says):
        _notebook_job(w, "refused", **settings)
