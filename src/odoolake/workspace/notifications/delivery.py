"""Sending job notifications. One background thread posts webhooks and sends mail, so that a run never waits on a
slow receiver; a webhook that fails to answer is tried three times, and a failure is logged, never raised.

Mail goes through the SMTP server that ``ODOOLAKE_SMTP_URL`` names (``smtp://[user:password@]host[:port]``, with
STARTTLS when the server offers it, or ``smtps://``), from ``ODOOLAKE_MAIL_FROM``; without one, each message is
written to ``<home>/outbox/`` as an ``.eml`` file, so that a local workspace never sends mail it was not told to.
"""

from __future__ import annotations

import logging
import os
import queue
import smtplib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from odoolake.workspace.notifications.destinations import NotificationDestinations

LOG = logging.getLogger(__name__)
SMTP_ENV = "ODOOLAKE_SMTP_URL"
MAIL_FROM_ENV = "ODOOLAKE_MAIL_FROM"
DEFAULT_MAIL_FROM = "odoolake@localhost"
OUTBOX = "outbox"
ATTEMPTS = 3  # per webhook, 1 s then 2 s apart
TIMEOUT_SECONDS = 10.0
# headers kept on one line up to RFC 5322's limit: Python folds a long subject with no space to break at (a run's
# id) right after "Subject:", which readers then show with a leading space
MAIL_POLICY = policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Notice:
    """One event of a run or a task: the webhook body Databricks posts, and the words of a chat message or mail."""

    event_type: str  # jobs.on_start, jobs.on_success, jobs.on_failure, jobs.on_duration_warning_threshold_exceeded
    payload: dict[str, Any]
    subject: str
    text: str


class Notifier:
    def __init__(self, destinations: NotificationDestinations, home: Path,
                 env: Mapping[str, str] = os.environ) -> None:
        self.destinations = destinations
        self.outbox = home / OUTBOX
        self.smtp_url = env.get(SMTP_ENV) or None
        self.mail_from = env.get(MAIL_FROM_ENV) or DEFAULT_MAIL_FROM
        self._queue: queue.Queue[tuple[Notice, list[str], list[str]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(self, notice: Notice, destination_ids: list[str], addresses: list[str]) -> None:
        """Queue ``notice`` for the destinations (by id) and the email addresses; returns at once."""
        if not destination_ids and not addresses:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="odoolake-notifications", daemon=True)
                self._thread.start()
        self._queue.put((notice, destination_ids, addresses))

    def close(self, timeout: float = 15.0) -> None:
        """Deliver what is queued (for at most ``timeout`` seconds), then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            notice, ids, addresses = item
            try:
                self._deliver(notice, ids, addresses)
            except Exception:  # a notification never stops the next one
                LOG.exception("notification %s could not be delivered", notice.event_type)

    def _deliver(self, notice: Notice, ids: list[str], addresses: list[str]) -> None:
        mail_to = list(addresses)
        for dest_id in ids:
            found = self.destinations.resolve(dest_id)
            if found is None:
                LOG.warning("notification %s: destination %s no longer exists", notice.event_type, dest_id)
                continue
            kind, config = found
            if kind == "email":
                mail_to.extend(config["addresses"])
            elif kind == "generic_webhook":
                auth = (config["username"], config["password"]) if config.get("username") else None
                self._post(config["url"], notice.payload, auth, notice)
            else:  # slack, microsoft_teams: an incoming webhook takes a text message
                self._post(config["url"], {"text": notice.text}, None, notice)
        if mail_to:
            self._mail(notice, sorted(set(mail_to)))

    def _post(self, url: str, body: dict[str, Any], auth: tuple[str, str] | None, notice: Notice) -> None:
        problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(attempt)
            try:
                answer = httpx.post(url, json=body, auth=auth, timeout=TIMEOUT_SECONDS)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if answer.status_code < 500:
                if answer.status_code >= 400:
                    LOG.warning("notification %s to %s refused: HTTP %s", notice.event_type, _site(url),
                                answer.status_code)
                return
            problem = f"HTTP {answer.status_code}"
        LOG.warning("notification %s to %s failed %d times (%s)", notice.event_type, _site(url), ATTEMPTS, problem)

    def _mail(self, notice: Notice, to: list[str]) -> None:
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"], message["To"], message["Subject"] = self.mail_from, ", ".join(to), notice.subject
        message.set_content(notice.text)
        if self.smtp_url is None:
            self.outbox.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{notice.event_type}.eml"
            (self.outbox / name).write_bytes(bytes(message))
            return
        parts = urlsplit(self.smtp_url)
        secure = parts.scheme == "smtps"
        server_class = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with server_class(parts.hostname or "localhost", parts.port or (465 if secure else 25),
                          timeout=TIMEOUT_SECONDS) as smtp:
            if not secure:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)


def _site(url: str) -> str:
    """A URL as a log line may show it: its host, not the token a chat webhook's path holds."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
