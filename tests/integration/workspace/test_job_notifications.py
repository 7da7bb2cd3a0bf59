"""Job notifications through the official SDK: notification destinations (``w.notification_destinations``), and the
webhooks, chat messages and mail a job's runs and tasks send, as Databricks sends them."""

from __future__ import annotations

import base64
import email
import threading
from datetime import timedelta
from email import policy

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, PermissionDenied
from databricks.sdk.service.jobs import (
    JobEmailNotifications,
    JobNotificationSettings,
    JobsHealthMetric,
    JobsHealthOperator,
    JobsHealthRule,
    JobsHealthRules,
    NotebookTask,
    QueueSettings,
    RunResultState,
    Task,
    TaskNotificationSettings,
    Webhook,
    WebhookNotifications,
)
from databricks.sdk.service.jobs import TaskDependency as Dep
from databricks.sdk.service.settings import Config, EmailConfig, GenericWebhookConfig, SlackConfig

from odoolake.testing.waiting import wait_until
from odoolake.workspace.notifications.delivery import TIMEOUT_SECONDS

from .test_jobs import upload
from .test_n8n import Receiver
from .test_roles import _token

FINANCE = "finance-close@example.ph"


@pytest.fixture(scope="module")
def hooks(w):
    """A generic webhook with basic auth, a Slack incoming webhook, each a receiver on loopback."""
    hook, slack = Receiver(), Receiver()
    generic = w.notification_destinations.create(display_name="n8n month-end", config=Config(
        generic_webhook=GenericWebhookConfig(url=hook.url, username="odoolake", password="s3cret")))
    chat = w.notification_destinations.create(display_name="finance channel",
                                              config=Config(slack=SlackConfig(url=slack.url)))
    w.workspace.mkdirs("/Shared/Notify")
    upload(w, "/Shared/Notify/ok", 'dbutils.notebook.exit("ok")\n')
    upload(w, "/Shared/Notify/boom", 'raise ValueError("boom in the gold layer")\n')
    upload(w, "/Shared/Notify/slow", 'import time\ntime.sleep(6)\n')
    return hook, slack, generic.id, chat.id


def _events(receiver: Receiver) -> list[tuple[str, str | None]]:
    return [(b["event_type"], (b.get("task") or {}).get("task_key")) for b in receiver.received]


def test_destinations_keep_their_secrets_and_refuse_what_they_cannot_send(server, w, hooks):
    _, _, generic_id, _ = hooks
    got = w.notification_destinations.get(generic_id)
    assert got.destination_type.value == "WEBHOOK" and got.display_name == "n8n month-end"
    webhook = got.config.generic_webhook
    assert (webhook.url, webhook.password, webhook.url_set, webhook.username_set, webhook.password_set) == (
        None, None, True, True, True)
    assert generic_id in {d.id for d in w.notification_destinations.list()}
    renamed = w.notification_destinations.update(generic_id, display_name="n8n close")  # the secrets stay
    assert renamed.display_name == "n8n close" and renamed.config.generic_webhook.url_set
    with pytest.raises(BadRequest, match=r"config\.pagerduty is not supported locally"):
        w.notification_destinations.create(display_name="pd", config=Config.from_dict(
            {"pagerduty": {"integration_key": "k"}}))
    with pytest.raises(BadRequest, match="it must wrap exactly one of generic_webhook, slack, microsoft_teams, email"):
        w.notification_destinations.create(display_name="two", config=Config(
            slack=SlackConfig(url="http://127.0.0.1:1/x"), email=EmailConfig(addresses=[FINANCE])))
    with pytest.raises(BadRequest, match=r"Invalid config.slack.url: expected an http\(s\) URL, got 'ftp://x'"):
        w.notification_destinations.create(display_name="bad", config=Config(slack=SlackConfig(url="ftp://x")))
    with pytest.raises(BadRequest, match="a destination's type cannot change"):
        w.notification_destinations.update(generic_id, config=Config(email=EmailConfig(addresses=[FINANCE])))
    developer = WorkspaceClient(host=server.url, token=_token(server, "notify-dev@example.ph", "developer"))
    with pytest.raises(PermissionDenied, match="may not create notification destinations: that needs a workspace "
                                               "admin"):
        developer.notification_destinations.create(display_name="mine", config=Config(
            email=EmailConfig(addresses=[FINANCE])))
    with pytest.raises(BadRequest, match=r"Invalid webhook_notifications.on_failure\[0\].id: notification "
                                         r"destination 'nope' does not exist"):
        w.jobs.create(name="x", webhook_notifications=WebhookNotifications(on_failure=[Webhook(id="nope")]),
                      tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/Notify/ok"))])
    with pytest.raises(BadRequest, match="at most 3 destinations per event, got 4"):
        w.jobs.create(name="x", webhook_notifications=WebhookNotifications(on_start=[Webhook(id=generic_id)] * 4),
                      tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/Notify/ok"))])
    with pytest.raises(BadRequest, match=r"Invalid tasks\[0\].email_notifications.on_failure: expected a list of "
                                         r"email addresses"):
        w.jobs.create(name="x", tasks=[Task(task_key="t", notebook_task=NotebookTask(
            notebook_path="/Shared/Notify/ok"), email_notifications=JobEmailNotifications(on_failure=["finance"]))])


def test_a_failed_run_notifies_its_webhooks_chat_and_mail_as_databricks_does(server, w, hooks):
    hook, slack, generic_id, chat_id = hooks
    first = len(hook.received)
    job_id = w.jobs.create(
        name="BIR close (notified)",
        webhook_notifications=WebhookNotifications(on_start=[Webhook(id=generic_id)],
                                                   on_success=[Webhook(id=generic_id)],
                                                   on_failure=[Webhook(id=generic_id), Webhook(id=chat_id)]),
        email_notifications=JobEmailNotifications(on_failure=[FINANCE]),
        tasks=[Task(task_key="silver", notebook_task=NotebookTask(notebook_path="/Shared/Notify/ok"),
                    webhook_notifications=WebhookNotifications(on_success=[Webhook(id=generic_id)])),
               Task(task_key="gold", depends_on=[Dep(task_key="silver")], max_retries=1, min_retry_interval_millis=10,
                    notebook_task=NotebookTask(notebook_path="/Shared/Notify/boom"),
                    notification_settings=TaskNotificationSettings(alert_on_last_attempt=True),
                    webhook_notifications=WebhookNotifications(on_start=[Webhook(id=generic_id)],
                                                               on_failure=[Webhook(id=generic_id)]))]).job_id
    run = w.jobs.run_now(job_id=job_id).result()
    assert run.state.result_state == RunResultState.FAILED
    wait_until(lambda: ("jobs.on_failure", None) in _events(hook)[first:], timeout=60,
               what="the run's on_failure webhook")
    assert _events(hook)[first:] == [("jobs.on_start", None), ("jobs.on_success", "silver"),
                                     ("jobs.on_start", "gold"),  # the retry's start is muted: its last attempt only
                                     ("jobs.on_failure", "gold"), ("jobs.on_failure", None)]
    workspace_id = int(server.workspace.workspace_id)
    assert hook.received[-1] == {"event_type": "jobs.on_failure", "workspace_id": workspace_id,
                                 "run": {"run_id": run.run_id}, "job": {"job_id": job_id,
                                                                        "name": "BIR close (notified)"}}
    gold = [t for t in run.tasks if t.task_key == "gold"]
    assert hook.received[-2]["run"] == {"run_id": gold[-1].run_id, "parent_run_id": run.run_id}
    assert hook.received[-2]["task"] == {"task_key": "gold"}
    basic = base64.b64encode(b"odoolake:s3cret").decode()
    assert all(h.get("Authorization") == f"Basic {basic}" for h in hook.headers[first:])
    wait_until(lambda: slack.received, timeout=30, what="the Slack message")
    assert f"BIR close (notified) run {run.run_id} failed" in slack.received[-1]["text"]
    assert "boom in the gold layer" in slack.received[-1]["text"]
    outbox = server.workspace.paths.home / "outbox"
    wait_until(lambda: outbox.exists() and any(outbox.iterdir()), timeout=30, what="the mail in the outbox")
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox.iterdir()]
    mail = next(m for m in mails if m["To"] == FINANCE)
    assert mail["Subject"] == f"[odoolake] BIR close (notified) run {run.run_id} failed"
    assert run.run_page_url in mail.get_content()


def test_muted_cancelled_runs_send_nothing_and_overdue_runs_warn(w, hooks):
    hook, _, generic_id, _ = hooks
    first = len(hook.received)
    muted = w.jobs.create(
        name="muted", notification_settings=JobNotificationSettings(no_alert_for_canceled_runs=True),
        webhook_notifications=WebhookNotifications(on_failure=[Webhook(id=generic_id)]),
        tasks=[Task(task_key="slow", notebook_task=NotebookTask(notebook_path="/Shared/Notify/slow"))]).job_id
    waiter = w.jobs.run_now(job_id=muted)
    wait_until(lambda: w.jobs.get_run(waiter.run_id).state.life_cycle_state.value == "RUNNING", timeout=60,
               what="the muted run to start")
    w.jobs.cancel_run(waiter.run_id).result()
    overdue = w.jobs.create(
        name="overdue", health=JobsHealthRules(rules=[JobsHealthRule(
            metric=JobsHealthMetric.RUN_DURATION_SECONDS, op=JobsHealthOperator.GREATER_THAN, value=2)]),
        webhook_notifications=WebhookNotifications(
            on_duration_warning_threshold_exceeded=[Webhook(id=generic_id)], on_success=[Webhook(id=generic_id)]),
        tasks=[Task(task_key="slow", notebook_task=NotebookTask(notebook_path="/Shared/Notify/slow"))]).job_id
    run = w.jobs.run_now(job_id=overdue).result()
    assert run.state.result_state == RunResultState.SUCCESS
    wait_until(lambda: ("jobs.on_success", None) in _events(hook)[first:], timeout=60, what="on_success")
    # notifications are delivered in order: a muted on_failure would have arrived before these
    assert _events(hook)[first:] == [("jobs.on_duration_warning_threshold_exceeded", None), ("jobs.on_success", None)]
    assert hook.received[-2]["run"] == {"run_id": run.run_id}


class Hanging(Receiver):
    """A receiver that takes each request and answers only when released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.taken = threading.Event()
        super().__init__()
        release, taken = self.release, self.taken

        class Handler(self.httpd.RequestHandlerClass):
            def do_POST(self):
                taken.set()
                release.wait(30)
                super().do_POST()

        self.httpd.RequestHandlerClass = Handler


def test_a_receiver_that_hangs_delays_only_its_own_notices_and_a_destination_in_use_stays(w, hooks):
    hook, _, generic_id, _ = hooks
    hanging = Hanging()
    stuck = w.notification_destinations.create(display_name="hangs", config=Config(
        generic_webhook=GenericWebhookConfig(url=hanging.url)))
    first = len(hook.received)
    job_id = w.jobs.create(name="two receivers", webhook_notifications=WebhookNotifications(
        on_start=[Webhook(id=stuck.id), Webhook(id=generic_id)]),
        tasks=[Task(task_key="t", notebook_task=NotebookTask(notebook_path="/Shared/Notify/ok"))]).job_id
    try:
        w.jobs.run_now(job_id=job_id)  # on_start is sent as the run starts
        # before the hanging call could time out: a shared lane would hold the other notice until then
        wait_until(lambda: hanging.taken.is_set() and len(hook.received) > first, timeout=TIMEOUT_SECONDS * 0.8,
                   what="the other receiver's notice while the first hangs")
        assert not hanging.received  # still hanging when the other was delivered
    finally:
        hanging.release.set()
    with pytest.raises(BadRequest, match=rf"Notification destination {stuck.id} is named by job {job_id}: remove it "):
        w.notification_destinations.delete(stuck.id)
    assert w.notification_destinations.get(stuck.id).display_name == "hangs"
    w.jobs.delete(job_id)
    w.notification_destinations.delete(stuck.id)
    with pytest.raises(BadRequest, match="Invalid page_token"):
        next(iter(w.notification_destinations.list(page_token="99999999999999999999")))


def test_a_cancelled_queued_run_says_so_once_and_a_cancel_does_not_wait_for_a_retry(w, hooks):
    hook, _, generic_id, _ = hooks
    on_failure = WebhookNotifications(on_failure=[Webhook(id=generic_id)])
    slow = w.jobs.create(name="queue", max_concurrent_runs=1, queue=QueueSettings(enabled=True),
                         webhook_notifications=on_failure,
                         tasks=[Task(task_key="slow", notebook_task=NotebookTask(notebook_path="/Shared/Notify/slow"))])
    running = w.jobs.run_now(job_id=slow.job_id)
    queued = w.jobs.run_now(job_id=slow.job_id)
    wait_until(lambda: w.jobs.get_run(queued.run_id).state.life_cycle_state.value == "QUEUED", timeout=30,
               what="the second run to queue")
    w.jobs.cancel_run(queued.run_id).result(timeout=timedelta(seconds=30))
    retried = w.jobs.create(name="retry later", webhook_notifications=on_failure, tasks=[Task(
        task_key="boom", max_retries=1, min_retry_interval_millis=120_000,
        notebook_task=NotebookTask(notebook_path="/Shared/Notify/boom"))])
    waiting = w.jobs.run_now(job_id=retried.job_id)
    wait_until(lambda: any(t.state.life_cycle_state.value == "WAITING_FOR_RETRY"
                           for t in w.jobs.get_run(waiting.run_id).tasks), timeout=60, what="the retry to wait")
    ended = w.jobs.cancel_run(waiting.run_id).result(timeout=timedelta(seconds=60))  # not the retry's 120 s
    assert ended.tasks[-1].state.state_message == "The run was cancelled before this retry started."
    w.jobs.cancel_run(running.run_id).result()
    runs = {queued.run_id, running.run_id, waiting.run_id}
    wait_until(lambda: {b["run"]["run_id"] for b in hook.received if b["event_type"] == "jobs.on_failure"} >= runs,
               timeout=30, what="the three runs' on_failure")
    ended_runs = [b["run"]["run_id"] for b in hook.received if b["event_type"] == "jobs.on_failure"]
    assert ended_runs.count(queued.run_id) == 1
