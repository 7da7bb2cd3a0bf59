"""Which notifications a job run or a task run sends, to whom, and what they say, as Databricks' job notifications:
``email_notifications`` (addresses) and ``webhook_notifications`` (destination ids) per event, on the job and on
each task; ``notification_settings`` mutes skipped and cancelled runs (and, on a task, all but its last attempt);
``health`` rules on ``RUN_DURATION_SECONDS`` send ``on_duration_warning_threshold_exceeded`` once a run or task has
run longer.

The webhook body is Databricks': ``{"event_type": "jobs.on_failure", "workspace_id": …, "run": {"run_id": …},
"job": {"job_id": …, "name": …}}``, with ``task`` and ``run.parent_run_id`` for a task's notification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.jobs import lifecycle
from odoolake.workspace.notifications.delivery import Notice
from odoolake.workspace.notifications.destinations import are_addresses

START, SUCCESS, FAILURE, OVERDUE = ("on_start", "on_success", "on_failure", "on_duration_warning_threshold_exceeded")
EVENTS = (START, SUCCESS, FAILURE, OVERDUE)
NEVER_SENT = ("on_streaming_backlog_exceeded",)  # accepted: a local workspace has no streaming backlog to measure
MAX_DESTINATIONS = 3  # per event, as Databricks limits them
NOTIFICATION_FIELDS = ("email_notifications", "webhook_notifications", "notification_settings", "health")
MUTES = ("no_alert_for_skipped_runs", "no_alert_for_canceled_runs", "alert_on_last_attempt")
DURATION_METRIC = "RUN_DURATION_SECONDS"
WORDS = {START: "started", SUCCESS: "succeeded", FAILURE: "failed",
         OVERDUE: "is running longer than its duration threshold"}


def validate(spec: dict, where: str, destination_exists: Callable[[str], bool]) -> None:
    """Refuse notification settings Databricks would refuse, naming the field (``where`` prefixes it)."""
    for field in ("email_notifications", "webhook_notifications"):
        value = spec.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _fail(f"{where}{field}", "expected an object")
        for event, recipients in value.items():
            name = f"{where}{field}.{event}"
            if field == "email_notifications" and event == "no_alert_for_skipped_runs":
                if not isinstance(recipients, bool):
                    raise _fail(name, "expected true or false")
                continue
            if event not in EVENTS + NEVER_SENT:
                raise _fail(name, f"not a notification event (one of {', '.join(EVENTS + NEVER_SENT)})")
            if not isinstance(recipients, list):
                raise _fail(name, "expected a list")
            if field == "webhook_notifications":
                if len(recipients) > MAX_DESTINATIONS:
                    raise _fail(name, f"at most {MAX_DESTINATIONS} destinations per event, got {len(recipients)}")
                for i, hook in enumerate(recipients):
                    dest = hook.get("id") if isinstance(hook, dict) else None
                    if not isinstance(dest, str) or not destination_exists(dest):
                        raise _fail(f"{name}[{i}].id", f"notification destination {dest!r} does not exist "
                                                       f"(w.notification_destinations.list() lists them)")
            elif not are_addresses(recipients):
                raise _fail(name, f"expected a list of email addresses, got {recipients!r}")
    settings = spec.get("notification_settings")
    if settings is not None:
        if not isinstance(settings, dict):
            raise _fail(f"{where}notification_settings", "expected an object")
        for key, value in settings.items():
            if key not in MUTES or not isinstance(value, bool):
                raise _fail(f"{where}notification_settings.{key}", f"expected one of {', '.join(MUTES)} with true "
                                                                   f"or false")
    for i, rule in enumerate((spec.get("health") or {}).get("rules") or []):
        name = f"{where}health.rules[{i}]"
        if not isinstance(rule, dict) or rule.get("op") != "GREATER_THAN" or not isinstance(rule.get("value"), int):
            raise _fail(name, "expected {metric, op: GREATER_THAN, value: a number}")


def recipients(spec: dict, event: str) -> tuple[list[str], list[str]]:
    """(destination ids, email addresses) that ``spec`` (a job's or a task's settings) notifies of ``event``."""
    hooks = (spec.get("webhook_notifications") or {}).get(event) or []
    return [h["id"] for h in hooks], list((spec.get("email_notifications") or {}).get(event) or [])


def end_event(doc: dict, spec: dict) -> str | None:
    """The event a run or task that ended sends: on_success for a successful result, on_failure for any other
    (skipped and cancelled too, unless muted); None when muted."""
    result = doc["state"].get("result_state")
    if result in lifecycle.SUCCEEDED:
        return SUCCESS
    mutes = spec.get("notification_settings") or {}
    skipped = doc["state"].get("life_cycle_state") == "SKIPPED" or result == "MAXIMUM_CONCURRENT_RUNS_REACHED"
    if skipped and (mutes.get("no_alert_for_skipped_runs")
                    or (spec.get("email_notifications") or {}).get("no_alert_for_skipped_runs")):
        return None
    if result == "CANCELED" and mutes.get("no_alert_for_canceled_runs"):
        return None
    return FAILURE


def duration_threshold(spec: dict) -> float | None:
    """Seconds after which a run (or task) with this ``health`` is overdue, or None."""
    limits = [rule["value"] for rule in (spec.get("health") or {}).get("rules") or []
              if rule.get("metric") == DURATION_METRIC and rule.get("op") == "GREATER_THAN"]
    return float(min(limits)) if limits else None


def run_notice(event: str, run: dict, workspace_id: str) -> Notice:
    payload: dict[str, Any] = {"event_type": f"jobs.{event}", "workspace_id": int(workspace_id),
                               "run": {"run_id": run["run_id"]}, **_job(run)}
    return Notice(f"jobs.{event}", payload, f"[odoolake] {_named(run)} run {run['run_id']} {WORDS[event]}",
                  _text(f"{_named(run)} run {run['run_id']} {WORDS[event]}", run))


def task_notice(event: str, run: dict, task: dict, workspace_id: str) -> Notice:
    payload: dict[str, Any] = {"event_type": f"jobs.{event}", "workspace_id": int(workspace_id),
                               "task": {"task_key": task["task_key"]},
                               "run": {"run_id": task["run_id"], "parent_run_id": run["run_id"]}, **_job(run)}
    headline = f"Task {task['task_key']} of {_named(run)} run {run['run_id']} {WORDS[event]}"
    return Notice(f"jobs.{event}", payload, f"[odoolake] {headline}", _text(headline, task))


# a pipeline's notifications (email only, as on Databricks): the alerts an update's end raises
PIPELINE_ALERTS = {"COMPLETED": ("on-update-success",),
                   "FAILED": ("on-update-failure", "on-update-fatal-failure", "on-flow-failure")}
KNOWN_PIPELINE_ALERTS = ("on-update-success", "on-update-failure", "on-update-fatal-failure", "on-flow-failure")


def validate_pipeline(spec: dict) -> None:
    """A pipeline's ``notifications``: a list of {email_recipients, alerts}."""
    notifications = spec.get("notifications")
    if notifications is None:
        return
    if not isinstance(notifications, list):
        raise _fail("notifications", "expected a list of {email_recipients, alerts}")
    for i, item in enumerate(notifications):
        recipients = item.get("email_recipients") if isinstance(item, dict) else None
        alerts = item.get("alerts") if isinstance(item, dict) else None
        if not are_addresses(recipients):
            raise _fail(f"notifications[{i}].email_recipients", f"expected a list of email addresses, got "
                                                                f"{recipients!r}")
        unknown = [a for a in alerts or [] if a not in KNOWN_PIPELINE_ALERTS] if isinstance(alerts, list) else [alerts]
        if not alerts or unknown:
            raise _fail(f"notifications[{i}].alerts", f"expected some of {', '.join(KNOWN_PIPELINE_ALERTS)}, got "
                                                      f"{alerts!r}")


def pipeline_recipients(spec: dict, state: str) -> list[str]:
    """Who hears of an update that ended in ``state``: the recipients of every notification with one of its
    alerts (a local update that fails is final, so it raises the failure, fatal-failure and flow-failure alerts)."""
    raised = PIPELINE_ALERTS.get(state, ())
    return sorted({r for n in spec.get("notifications") or [] if set(n.get("alerts") or []) & set(raised)
                   for r in n.get("email_recipients") or []})


def pipeline_notice(spec: dict, update: dict) -> Notice:
    words = {"COMPLETED": "completed", "FAILED": "failed"}.get(update["state"], update["state"].lower())
    headline = f"Pipeline {spec.get('name', '')} update {update['update_id']} {words}"
    detail = update.get("message") or ""
    return Notice(f"pipelines.{update['state'].lower()}", {"pipeline_id": update["pipeline_id"],
                                                           "update_id": update["update_id"]},
                  f"[odoolake] {headline}", f"{headline}.\n{detail}".strip())


def _job(run: dict) -> dict:
    return {"job": {"job_id": run["job_id"], "name": run.get("run_name", "")}} if run.get("job_id") else {}


def _named(run: dict) -> str:
    return run.get("run_name") or "Untitled"


def _text(headline: str, doc: dict) -> str:
    state = doc.get("state") or {}
    detail = " ".join(x for x in (state.get("result_state") or state.get("life_cycle_state"),
                                  state.get("state_message")) if x)
    return f"{headline}.\n{detail}\n{doc.get('run_page_url', '')}".replace("\n\n", "\n").strip()


def _fail(field: str, problem: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid {field}: {problem}")
