"""What a run's end sends (and what mutes it), and how mail leaves: through an SMTP server (aiosmtpd, a real one on
loopback) or into the outbox."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from odoolake.workspace.db import Database
from odoolake.workspace.errors import InvalidParameterValue
from odoolake.workspace.jobs import lifecycle
from odoolake.workspace.notifications import events
from odoolake.workspace.notifications.delivery import SMTP_ENV, Notice, Notifier
from odoolake.workspace.notifications.destinations import NotificationDestinations
from odoolake.workspace.pipelines import PipelinesService


def _ended(result: str, skipped: bool = False) -> dict:
    run = {"run_id": 5}
    lifecycle.set_result(run, result, skipped=skipped)
    return run


def test_a_run_ends_in_success_or_failure_and_the_mutes_silence_skipped_and_cancelled_runs():
    assert events.end_event(_ended("SUCCESS_WITH_FAILURES"), {}) == events.SUCCESS
    assert events.end_event(_ended("TIMEDOUT"), {}) == events.FAILURE
    assert events.end_event(_ended("CANCELED"), {}) == events.FAILURE
    assert events.end_event(_ended("CANCELED"), {"notification_settings": {"no_alert_for_canceled_runs": True}}) is None
    skipped = _ended("MAXIMUM_CONCURRENT_RUNS_REACHED", skipped=True)
    assert events.end_event(skipped, {}) == events.FAILURE
    assert events.end_event(skipped, {"notification_settings": {"no_alert_for_skipped_runs": True}}) is None
    assert events.end_event(skipped, {"email_notifications": {"no_alert_for_skipped_runs": True}}) is None
    assert events.end_event(_ended("FAILED"), {"notification_settings": {"no_alert_for_skipped_runs": True}}) == (
        events.FAILURE)


def test_settings_databricks_would_refuse_are_refused_naming_the_field():
    def never(_: str) -> bool:
        return False

    with pytest.raises(InvalidParameterValue, match=r"Invalid email_notifications.on_finish: not a notification "
                                                     r"event"):
        events.validate({"email_notifications": {"on_finish": []}}, "", never)
    with pytest.raises(InvalidParameterValue, match=r"Invalid tasks\[2\].notification_settings.mute"):
        events.validate({"notification_settings": {"mute": True}}, "tasks[2].", never)
    with pytest.raises(InvalidParameterValue, match=r"Invalid health.rules\[0\]: expected"):
        events.validate({"health": {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "LESS_THAN", "value": 3}]}},
                        "", never)
    events.validate({"webhook_notifications": {"on_streaming_backlog_exceeded": []},
                     "email_notifications": {"no_alert_for_skipped_runs": True, "on_failure": ["a@b.ph"]}}, "", never)
    assert events.duration_threshold({"health": {"rules": [
        {"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 90},
        {"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 30}]}}) == 30.0


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


NOTICE = Notice("jobs.on_failure", {}, "[odoolake] close run 9 failed", "close run 9 failed.\nFAILED boom")


def test_mail_goes_through_the_configured_smtp_server(tmp_path):
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        notifier = Notifier(NotificationDestinations(Database(tmp_path / "w.db"), lambda: b"k" * 32), tmp_path,
                            env={SMTP_ENV: f"smtp://127.0.0.1:{port}", "ODOOLAKE_MAIL_FROM": "lake@example.ph"})
        notifier.send(NOTICE, [], ["finance@example.ph", "cfo@example.ph", "finance@example.ph"])
        notifier.close()
    finally:
        controller.stop()
    [(sender, to, content)] = inbox.messages
    assert sender == "lake@example.ph" and to == ["cfo@example.ph", "finance@example.ph"]
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "[odoolake] close run 9 failed" and "FAILED boom" in mail.get_content()
    assert not (tmp_path / "outbox").exists()


def test_without_an_smtp_server_mail_is_written_to_the_outbox(tmp_path):
    notifier = Notifier(NotificationDestinations(Database(tmp_path / "w.db"), lambda: b"k" * 32), tmp_path, env={})
    notifier.send(NOTICE, [], ["finance@example.ph"])
    notifier.close()
    [path] = (tmp_path / "outbox").iterdir()
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mail["To"] == "finance@example.ph" and path.name.endswith("-jobs.on_failure.eml")


def test_a_pipeline_mails_the_recipients_of_the_alerts_its_update_raised(tmp_path):
    db = Database(tmp_path / "w.db")
    notifier = Notifier(NotificationDestinations(db, lambda: b"k" * 32), tmp_path, env={})
    outcomes = iter([(False, "Dataset gold_ewt: column tin not found"), (True, None)])
    service = PipelinesService(db, lambda *args: next(outcomes), "me@localhost", notify=notifier.send)
    spec = {"name": "scout", "libraries": [{"notebook": {"path": "/Shared/p"}}], "target": "s", "notifications": [
        {"email_recipients": ["oncall@example.ph"], "alerts": ["on-update-fatal-failure"]},
        {"email_recipients": ["finance@example.ph"], "alerts": ["on-update-success", "on-update-failure"]}]}
    pipeline_id = service.create(spec)
    failed = service.start_update(pipeline_id, wait=True)
    service.start_update(pipeline_id, wait=True)
    notifier.close()
    mails = {m["Subject"].rsplit(" ", 1)[1]: m for m in (message_from_bytes(p.read_bytes(), policy=policy.default)
                                                           for p in (tmp_path / "outbox").iterdir())}
    assert sorted(mails) == ["completed", "failed"]
    assert mails["failed"]["To"] == "finance@example.ph, oncall@example.ph"
    assert mails["failed"]["Subject"] == f"[odoolake] Pipeline scout update {failed} failed"
    assert "column tin not found" in mails["failed"].get_content()
    assert mails["completed"]["To"] == "finance@example.ph"
    with pytest.raises(InvalidParameterValue, match=r"Invalid notifications\[0\].alerts: expected some of "
                                                     r"on-update-success"):
        service.create({**spec, "name": "other", "notifications": [{"email_recipients": ["a@b.ph"],
                                                                    "alerts": ["on-update-start"]}]})


def test_destinations_refuse_what_would_break_a_header_or_a_request(tmp_path):
    destinations = NotificationDestinations(Database(tmp_path / "w.db"), lambda: b"k" * 32)
    with pytest.raises(InvalidParameterValue, match=r"Invalid config\.email\.addresses"):
        destinations.create("two in one", {"email": {"addresses": ["evil,victim@example.ph"]}})
    with pytest.raises(InvalidParameterValue, match=r"Invalid config.generic_webhook.url: expected an http\(s\) URL"):
        destinations.create("split", {"generic_webhook": {"url": "http://127.0.0.1/x\r\nHost: evil"}})
    with pytest.raises(InvalidParameterValue, match=r"Invalid config\.generic_webhook\.username: expected a string"):
        destinations.create("typed", {"generic_webhook": {"url": "http://127.0.0.1/x", "username": 7,
                                                          "password": ["p"]}})
    assert destinations.list()["results"] == []  # nothing refused was kept


def test_a_name_with_a_line_break_still_makes_a_mail(tmp_path):
    notifier = Notifier(NotificationDestinations(Database(tmp_path / "w.db"), lambda: b"k" * 32), tmp_path, env={})
    notifier.send(Notice("jobs.on_failure", {}, "[odoolake] month\nBcc: all@example.ph run 9 failed", "x"), [],
                  ["finance@example.ph"])
    notifier.close()
    [path] = (tmp_path / "outbox").iterdir()
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mail["Subject"] == "[odoolake] month Bcc: all@example.ph run 9 failed" and mail["Bcc"] is None
